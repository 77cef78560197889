//! The README's table of checks is the runner's own list: a check added, renamed or moved to
//! another level changes `ssekit check --list-checks`, and this test makes the README follow.

#[test]
fn the_readme_lists_every_check_with_its_level_and_source() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- checks-table -->\n")
        .expect("the README marks its checks table")
        + "<!-- checks-table -->\n".len();
    let end = readme[start..]
        .find("<!-- /checks-table -->")
        .expect("the table's end marker")
        + start;
    assert_eq!(
        &readme[start..end],
        ssekit_check::check_command::checks_table(),
        "update the README with `ssekit check --list-checks`"
    );
}

/// The zoo's expected-verdict table (`tests/zoo/expected.tsv`) as the rows docs show.
fn zoo_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/zoo/expected.tsv"
    ))
    .expect("tests/zoo/expected.tsv");
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
         ssekit-conformance --test readme` rewrites it).\n\n\
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

/// The README's one line per zoo case.
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

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let a = text.find(start).expect("start marker") + start.len();
    let b = text[a..].find(end).expect("end marker") + a;
    &text[a..b]
}

#[test]
fn the_zoo_table_is_shown_in_the_docs_and_the_readme() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc_path = format!("{root}/docs/zoo.md");
    let readme_path = format!("{root}/README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README.md");
    let (start, end) = ("<!-- zoo-summary -->\n", "<!-- /zoo-summary -->");
    if std::env::var_os("SSEKIT_WRITE_DOCS").is_some() {
        std::fs::write(&doc_path, zoo_doc()).expect("write docs/zoo.md");
        let old = between(&readme, start, end);
        let new = readme.replacen(
            &format!("{start}{old}{end}"),
            &format!("{start}{}{end}", zoo_summary()),
            1,
        );
        std::fs::write(&readme_path, new).expect("write README.md");
        return;
    }
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    assert_eq!(
        doc,
        zoo_doc(),
        "docs/zoo.md is not the table: SSEKIT_WRITE_DOCS=1 cargo test -p ssekit-conformance --test readme"
    );
    assert_eq!(
        between(&readme, start, end),
        zoo_summary(),
        "the README's zoo summary is not the table: SSEKIT_WRITE_DOCS=1 cargo test -p ssekit-conformance --test readme"
    );
}
