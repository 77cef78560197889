//! The documentation's generated parts are the runner's own output, and its links lead
//! somewhere:
//! - `docs/checks.md` holds the table `ssekit check --list-checks` prints, and one line per zoo
//!   case; `docs/zoo.md` holds every zoo row with its reason. A check added, renamed or moved to
//!   another level, or a zoo row changed, makes these tests fail until the pages follow.
//!   `SSEKIT_WRITE_DOCS=1 cargo test -p ssekit-check --test readme` rewrites all three.
//! - Every relative link in `README.md`, `docs/*.md` and `vectors/README.md` points at a file
//!   that exists, and every `#anchor` into a Markdown page at one of its headings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const REGENERATE: &str = "SSEKIT_WRITE_DOCS=1 cargo test -p ssekit-check --test readme rewrites it";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn regenerating() -> bool {
    std::env::var_os("SSEKIT_WRITE_DOCS").is_some()
}

/// The text between two marker lines (`<!-- name -->` and `<!-- /name -->`).
fn between<'a>(text: &'a str, name: &str) -> &'a str {
    let (start, end) = (format!("<!-- {name} -->\n"), format!("<!-- /{name} -->"));
    let a = text
        .find(&start)
        .unwrap_or_else(|| panic!("the page has no {start:?} marker"))
        + start.len();
    let b = text[a..]
        .find(&end)
        .unwrap_or_else(|| panic!("the page has no {end:?} marker"))
        + a;
    &text[a..b]
}

/// Held while a test rewrites a page or reads every page. Tests run in parallel: two of them
/// rewrite `docs/checks.md`, and without the lock one could undo the other, or the link check
/// could read a page half written.
static PAGES: Mutex<()> = Mutex::new(());

fn lock_pages() -> std::sync::MutexGuard<'static, ()> {
    PAGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rewrites the part of `path` between the `name` markers.
fn rewrite_between(path: &Path, name: &str, new: &str) {
    let _pages = lock_pages();
    let text = read(path);
    let old = between(&text, name);
    let (start, end) = (format!("<!-- {name} -->\n"), format!("<!-- /{name} -->"));
    let text = text.replacen(
        &format!("{start}{old}{end}"),
        &format!("{start}{new}{end}"),
        1,
    );
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn the_checks_page_lists_every_check_with_its_level_and_source() {
    let path = root().join("docs/checks.md");
    let page = read(&path);
    let table = ssekit_check::check_command::checks_table();
    if regenerating() {
        rewrite_between(&path, "checks-table", &table);
        return;
    }
    assert_eq!(
        between(&page, "checks-table"),
        table,
        "docs/checks.md's table is not `ssekit check --list-checks`: {REGENERATE}"
    );
}

/// The zoo's expected-verdict table (`tests/zoo/expected.tsv`) as the rows docs show.
fn zoo_rows() -> Vec<Vec<String>> {
    let text = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zoo/expected.tsv"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("case\t"))
        .map(|l| l.split('\t').map(|f| f.replace('|', "\\|")).collect())
        .collect()
}

/// `docs/zoo.md`: every row of the table with its reason.
fn zoo_doc() -> String {
    let mut out = String::from(
        "# What `ssekit check` says about real deployments\n\n\
         Every case of the zoo (`conformance/tests/zoo/`): a real server written with a popular \
         library, or `ssekit serve` behind a real proxy in a recommended or a broken \
         configuration. Each row is a verdict `cargo test` asserts, the cause the check's text \
         must name, and why that verdict is the right one. This page is generated from \
         `conformance/tests/zoo/expected.tsv` (`SSEKIT_WRITE_DOCS=1 cargo test -p \
         ssekit-check --test readme` rewrites it).\n\n\
         | Case | Check | Verdict | Names | Why |\n|---|---|---|---|---|\n",
    );
    for r in zoo_rows() {
        let verdict = match r[1].as_str() {
            "exit" => format!("exit {}", r[2]),
            _ => r[2].clone(),
        };
        let cause = if r[3] == "-" {
            String::new()
        } else {
            format!("`{}`", r[3])
        };
        out.push_str(&format!(
            "| {} | {} | {verdict} | {cause} | {} |\n",
            r[0], r[1], r[4]
        ));
    }
    out
}

/// One line per zoo case, for `docs/checks.md`.
fn zoo_summary() -> String {
    let mut out = String::from("| Case | Verdicts | Exit |\n|---|---|---|\n");
    let rows = zoo_rows();
    let mut cases: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    cases.dedup();
    for case in cases {
        let of_case = || rows.iter().filter(move |r| r[0] == case);
        let verdicts: Vec<String> = of_case()
            .filter(|r| r[1] != "exit")
            .map(|r| format!("{} {}", r[1], r[2]))
            .collect();
        let exit = of_case()
            .find(|r| r[1] == "exit")
            .map_or("", |r| r[2].as_str());
        out.push_str(&format!("| {case} | {} | {exit} |\n", verdicts.join(" · ")));
    }
    out
}

#[test]
fn the_zoo_table_is_shown_in_the_docs() {
    let doc_path = root().join("docs/zoo.md");
    let checks_path = root().join("docs/checks.md");
    let checks = read(&checks_path);
    if regenerating() {
        {
            let _pages = lock_pages();
            std::fs::write(&doc_path, zoo_doc()).expect("write docs/zoo.md");
        }
        rewrite_between(&checks_path, "zoo-summary", &zoo_summary());
        return;
    }
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    assert_eq!(
        doc,
        zoo_doc(),
        "docs/zoo.md is not the zoo's table: {REGENERATE}"
    );
    assert_eq!(
        between(&checks, "zoo-summary"),
        zoo_summary(),
        "docs/checks.md's zoo summary is not the zoo's table: {REGENERATE}"
    );
}

/// The Markdown pages whose links are checked, relative to the repository root.
fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_string(), "vectors/README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The lines of a page outside code: fenced blocks and indented code blocks hold shell
/// commands and JSON, whose brackets are not links.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced && !line.starts_with("    ")
        })
        .collect()
}

/// `line` without its inline code spans (`` `a](b` `` is not a link).
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The targets of the inline links and images on a page: `[text](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, only letters, digits, `-`, `_` and spaces kept,
/// spaces made `-`; a repeated heading gets `-1`, `-2`, ...
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

/// `path` with `.` and `..` resolved, as a repository-relative string.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Every broken relative link on `page` (repository-relative), as `page: target (why)`.
fn broken_links(page: &str) -> Vec<String> {
    let text = read(&root().join(page));
    let dir = Path::new(page).parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for target in link_targets(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target.as_str(), None),
        };
        let resolved = if file.is_empty() {
            page.to_string()
        } else {
            normalize(&dir.join(file))
        };
        let path = root().join(&resolved);
        if !path.exists() {
            broken.push(format!("{page}: {target} ({resolved} does not exist)"));
            continue;
        }
        if let Some(anchor) = anchor {
            if resolved.ends_with(".md") && !anchors(&read(&path)).iter().any(|a| a == anchor) {
                broken.push(format!(
                    "{page}: {target} (no heading in {resolved} has that anchor)"
                ));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_in_the_docs_leads_somewhere() {
    let _pages = lock_pages();
    let pages = pages();
    assert!(
        pages.iter().any(|p| p == "docs/spec.md"),
        "docs/ pages found: {pages:?}"
    );
    let broken: Vec<String> = pages.iter().flat_map(|p| broken_links(p)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_links_anchors_and_code() {
    let page = "# A `code` title\n\nSee [a](x.md#a-code-title) and ![i](img.png).\n\
                `[not](a-link)`\n\n    [indented](code)\n```\n[fenced](code)\n```\n## Same\n## Same\n";
    assert_eq!(link_targets(page), ["x.md#a-code-title", "img.png"]);
    assert_eq!(anchors(page), ["a-code-title", "same", "same-1"]);
    assert_eq!(
        anchors("## Running several nodes (`--redis`)\n"),
        ["running-several-nodes---redis"]
    );
    assert_eq!(
        normalize(Path::new("docs/../vectors/./a.sse")),
        "vectors/a.sse"
    );
}
