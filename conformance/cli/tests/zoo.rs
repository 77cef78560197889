//! The zoo: `ssekit check` against real SSE servers and proxies its authors did not write, each
//! verdict compared with the one the table `tests/zoo/expected.tsv` says is right.
//!
//! A runner that only ever meets its own reference server can agree with itself and still be
//! wrong about the servers people deploy. Each case is a bash script `tests/zoo/cases/<case>.sh`
//! that starts a library's SSE endpoint (or a proxy) on free 127.0.0.1 ports and prints
//! `ARGS <ssekit check arguments>`; this harness runs the runner with those arguments, one
//! `--only` per check the table names, and reports every row that does not hold. Rows marked
//! `pending` state the right verdict the runner does not give yet: they must *not* hold, so a
//! fix that makes one hold fails here until the row is flipped to `holds`.
//!
//! Cases whose programs are missing print `SKIPPED <reason>` and pass; `tests/zoo/setup.sh`
//! installs them. `ZOO_CASES=a,b` runs only those cases, `ZOO_JOBS=N` sets how many run at once.
//! See `tests/zoo/README.md`.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");
const ZOO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/zoo");

/// How long a case may take to start its servers and print `ARGS` (npm and Python imports are
/// slow on a loaded 2-core machine, so this is generous: LiteLLM's proxy alone imports for
/// ~25 s, and over 60 s when several LiteLLM cases start at once).
const START_LIMIT: Duration = Duration::from_secs(150);
/// How long one `ssekit check` run may take.
const CHECK_LIMIT: Duration = Duration::from_secs(120);
/// Cases run at once by default; each starts servers and a runner, and the CI machine has 2 cores.
const DEFAULT_JOBS: usize = 4;

const STATUSES: [&str; 5] = ["PASS", "FAIL", "WARN", "SKIP", "INFO"];

#[test]
fn zoo() {
    let mut cases = group_by_case(read_tables());
    let mut problems = unlisted_scripts(&cases);
    if let Some(only) = std::env::var("ZOO_CASES").ok().filter(|s| !s.is_empty()) {
        let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
        for name in &wanted {
            assert!(
                cases.contains_key(*name),
                "ZOO_CASES names {name}, which has no rows in expected.tsv"
            );
        }
        cases.retain(|name, _| wanted.contains(&name.as_str()));
        problems.clear();
    }
    let started = Instant::now();
    let outcomes = run_pool(cases, jobs());
    let mut kept = Vec::new();
    for outcome in &outcomes {
        problems.extend(outcome.problems.iter().cloned());
        if let Some(dir) = &outcome.kept {
            kept.push(format!("{}: logs kept in {}", outcome.case, dir.display()));
        }
    }
    eprintln!(
        "zoo: {} case(s) in {:.1} s",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} zoo problem(s):\n{}\n{}",
        problems.len(),
        problems.join("\n"),
        kept.join("\n")
    );
}

fn jobs() -> usize {
    std::env::var("ZOO_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(DEFAULT_JOBS)
}

// ---------------------------------------------------------------------------------------------
// The table

/// One row of `expected.tsv`.
#[derive(Clone, Debug)]
struct Row {
    /// `file:line`, for messages.
    at: String,
    case: String,
    /// A check id, or `exit` for the runner's exit code.
    check: String,
    /// Any of these is right (`PASS|WARN`); for `exit`, exit codes.
    statuses: Vec<String>,
    /// A substring the check's `observed` text must contain (case-insensitive).
    cause: Option<String>,
    pending: bool,
}

const HEADER: [&str; 6] = ["case", "check", "status", "cause", "reason", "state"];

/// The rows of `expected.tsv`: one table for every case, apps and proxies alike.
fn read_tables() -> Vec<Row> {
    let text = std::fs::read_to_string(Path::new(ZOO).join("expected.tsv"))
        .unwrap_or_else(|e| panic!("read tests/zoo/expected.tsv: {e}"));
    parse_table("expected.tsv", &text, true)
        .unwrap_or_else(|e| panic!("tests/zoo/expected.tsv: {e}"))
}

fn parse_table(file: &str, text: &str, header_required: bool) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut first = true;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if std::mem::take(&mut first) {
            if fields == HEADER {
                continue;
            }
            if header_required {
                return Err(format!(
                    "line {line_no}: the header must be {:?}, found {fields:?}",
                    HEADER.join("\t")
                ));
            }
        }
        let at = format!("{file}:{line_no}");
        rows.push(parse_row(at, &fields).map_err(|e| format!("line {line_no}: {e}"))?);
    }
    if rows.is_empty() {
        return Err("no rows".into());
    }
    Ok(rows)
}

fn parse_row(at: String, fields: &[&str]) -> Result<Row, String> {
    let [case, check, status, cause, reason, state] = fields else {
        return Err(format!(
            "{} tab-separated fields, expected 6 ({})",
            fields.len(),
            HEADER.join(", ")
        ));
    };
    if case.is_empty() || check.is_empty() {
        return Err("empty case or check".into());
    }
    if reason.trim().len() < 10 {
        return Err("every row needs a reason (one sentence: why this verdict is right)".into());
    }
    let statuses: Vec<String> = status.split('|').map(|s| s.trim().to_string()).collect();
    for s in &statuses {
        let valid = if *check == "exit" {
            s.parse::<i32>().is_ok()
        } else {
            STATUSES.contains(&s.as_str())
        };
        if !valid {
            return Err(format!("status {s:?} is not valid for check {check}"));
        }
    }
    let pending = match *state {
        "holds" => false,
        "pending" => true,
        other => return Err(format!("state {other:?} must be holds or pending")),
    };
    let cause = Some(cause.trim())
        .filter(|c| !c.is_empty() && *c != "-")
        .map(str::to_string);
    Ok(Row {
        at,
        case: case.to_string(),
        check: check.to_string(),
        statuses,
        cause,
        pending,
    })
}

fn group_by_case(rows: Vec<Row>) -> BTreeMap<String, Vec<Row>> {
    let mut cases: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for row in rows {
        cases.entry(row.case.clone()).or_default().push(row);
    }
    cases
}

/// Scripts with no rows (an untested case) and rows with no script are both mistakes.
fn unlisted_scripts(cases: &BTreeMap<String, Vec<Row>>) -> Vec<String> {
    let dir = Path::new(ZOO).join("cases");
    let mut problems = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("read tests/zoo/cases");
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let Some(name) = case_name(&path) else {
            continue;
        };
        if !cases.contains_key(&name) {
            problems.push(format!(
                "{name}: cases/{name}.sh has no rows in expected.tsv"
            ));
        }
    }
    for name in cases.keys() {
        if !script(name).exists() {
            problems.push(format!(
                "{name}: expected.tsv has rows but cases/{name}.sh does not exist"
            ));
        }
    }
    problems
}

fn case_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    file.strip_suffix(".sh").map(str::to_string)
}

fn script(case: &str) -> PathBuf {
    Path::new(ZOO).join("cases").join(format!("{case}.sh"))
}

// ---------------------------------------------------------------------------------------------
// Running cases

/// What one case came to.
struct Outcome {
    case: String,
    kind: OutcomeKind,
    elapsed: Duration,
    /// One line per row that did not hold (or per reason the case could not be judged).
    problems: Vec<String>,
    /// `CHECK STATUS` of each row's check, for the log.
    got: Vec<String>,
    /// The case's work directory, kept when something did not hold.
    kept: Option<PathBuf>,
}

enum OutcomeKind {
    Judged,
    Skipped(String),
    Broken,
}

impl Outcome {
    fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        match &self.kind {
            OutcomeKind::Skipped(reason) => {
                format!("SKIPPED: zoo case {}: {reason}", self.case)
            }
            OutcomeKind::Broken => {
                format!("zoo case {}: could not be judged ({secs:.1} s)", self.case)
            }
            OutcomeKind::Judged => format!(
                "zoo case {}: {} ({secs:.1} s, {} row(s) off)",
                self.case,
                self.got.join(", "),
                self.problems.len()
            ),
        }
    }
}

/// Runs the cases on `jobs` threads; outcomes sorted by case name.
fn run_pool(cases: BTreeMap<String, Vec<Row>>, jobs: usize) -> Vec<Outcome> {
    let mut queue: Vec<(String, Vec<Row>)> = cases.into_iter().collect();
    // Workers pop from the end: the long cases (S01 publishes 8000 events one request at a
    // time) go last in the vector so that they start first and the short ones fill the gaps.
    queue.sort_by_key(|(_, rows)| rows.iter().any(|r| r.check == "S01"));
    let queue = Arc::new(Mutex::new(queue));
    let (tx, rx) = mpsc::channel();
    let workers: Vec<_> = (0..jobs)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let tx = tx.clone();
            std::thread::spawn(move || loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some((case, rows)) = next else { break };
                let outcome = run_case(&case, &rows);
                eprintln!("{}", outcome.summary());
                let _ = tx.send(outcome);
            })
        })
        .collect();
    drop(tx);
    let mut outcomes: Vec<Outcome> = rx.iter().collect();
    for worker in workers {
        worker.join().expect("a zoo worker panicked");
    }
    outcomes.sort_by(|a, b| a.case.cmp(&b.case));
    outcomes
}

fn run_case(case: &str, rows: &[Row]) -> Outcome {
    let started = Instant::now();
    let work = WorkDir::new(case);
    let mut outcome = Outcome {
        case: case.to_string(),
        kind: OutcomeKind::Broken,
        elapsed: Duration::ZERO,
        problems: Vec::new(),
        got: Vec::new(),
        kept: None,
    };
    match judge_case(case, rows, &work) {
        Ok(Judgement::Skipped(reason)) => outcome.kind = OutcomeKind::Skipped(reason),
        Ok(Judgement::Rows { problems, got }) => {
            outcome.kind = OutcomeKind::Judged;
            outcome.problems = problems;
            outcome.got = got;
        }
        Err(e) => outcome.problems.push(format!("{case}: {e}")),
    }
    if outcome.problems.is_empty() {
        work.remove();
    } else {
        outcome.kept = Some(work.0.clone());
    }
    outcome.elapsed = started.elapsed();
    outcome
}

enum Judgement {
    Skipped(String),
    Rows {
        problems: Vec<String>,
        got: Vec<String>,
    },
}

fn judge_case(case: &str, rows: &[Row], work: &WorkDir) -> Result<Judgement, String> {
    let mut group = CaseProcess::start(case, &work.0)?;
    let args = match group.announcement(START_LIMIT)? {
        Announcement::Skipped(reason) => return Ok(Judgement::Skipped(reason)),
        Announcement::Args(line) => split_shell_words(&line)?,
    };
    let checks: Vec<&str> = unique(
        rows.iter()
            .map(|r| r.check.as_str())
            .filter(|c| *c != "exit"),
    );
    let run = run_check(&args, &checks, &work.0)?;
    drop(group);
    let mut problems = Vec::new();
    let mut got = Vec::new();
    for row in rows {
        let verdict = run.verdict(&row.check);
        got.push(format!("{} {}", row.check, verdict.status));
        if let Some(problem) = mismatch(row, &verdict) {
            problems.push(problem);
        }
    }
    Ok(Judgement::Rows { problems, got })
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// The row's complaint, if any: a `holds` row that does not hold, or a `pending` row that does.
fn mismatch(row: &Row, verdict: &Verdict) -> Option<String> {
    let status_ok = row.statuses.contains(&verdict.status);
    let cause_ok = row.cause.as_ref().map_or(true, |c| {
        verdict.observed.to_lowercase().contains(&c.to_lowercase())
    });
    let holds = status_ok && cause_ok;
    let expected = format!(
        "{}{}",
        row.statuses.join("|"),
        row.cause
            .as_ref()
            .map(|c| format!(" naming {c:?}"))
            .unwrap_or_default()
    );
    let at = format!("{} {} ({})", row.case, row.check, row.at);
    match (row.pending, holds) {
        (false, false) => Some(format!(
            "{at}: expected {expected}, got {}: {}",
            verdict.status, verdict.observed
        )),
        (true, true) => Some(format!(
            "{at}: now holds: flip to holds (expected {expected}, got {}: {})",
            verdict.status, verdict.observed
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The case's process group

/// A case script running in its own process group; the whole group is killed on drop, so the
/// servers it started die with it.
struct CaseProcess {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

enum Announcement {
    Args(String),
    Skipped(String),
}

impl CaseProcess {
    fn start(case: &str, work: &Path) -> Result<Self, String> {
        let stderr_path = work.join("case.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| format!("create {}: {e}", stderr_path.display()))?;
        let mut child = Command::new("bash")
            .arg(script(case))
            .env("SSEKIT", SSEKIT)
            .env("ZOO", ZOO)
            .env("WORK", work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run bash {}: {e}", script(case).display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        // Reads to the end so that the script never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Ok(CaseProcess {
            child,
            lines,
            stderr: stderr_path,
        })
    }

    /// The script's `ARGS …` or `SKIPPED …` line, waiting at most `limit`.
    fn announcement(&mut self, limit: Duration) -> Result<Announcement, String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(args) = line.strip_prefix("ARGS ") {
                        return Ok(Announcement::Args(args.to_string()));
                    }
                    if let Some(reason) = line.strip_prefix("SKIPPED") {
                        return Ok(Announcement::Skipped(reason.trim().to_string()));
                    }
                    // Other lines are the script's own chatter; they belong on stderr.
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "printed no ARGS or SKIPPED line within {} s; its stderr:\n{}",
                        limit.as_secs(),
                        self.stderr_tail()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_or("?".into(), describe);
                    return Err(format!(
                        "ended ({status}) without an ARGS or SKIPPED line; its stderr:\n{}",
                        self.stderr_tail()
                    ));
                }
            }
        }
    }

    fn stderr_tail(&self) -> String {
        tail(&self.stderr, 40)
    }
}

impl Drop for CaseProcess {
    fn drop(&mut self) {
        // The group id is the script's pid (process_group(0)); bash's kill reaches all of it.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("bash")
            .args(["-c", "kill -KILL -- \"$1\" 2>/dev/null", "kill", &group])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => format!("{status}"),
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Splits the `ARGS` line as bash would (the scripts quote with `printf %q`), by asking bash.
fn split_shell_words(line: &str) -> Result<Vec<String>, String> {
    let out = Command::new("bash")
        .args([
            "-c",
            "eval \"set -- $1\" && printf '%s\\0' \"$@\"",
            "split",
            line,
        ])
        .output()
        .map_err(|e| format!("cannot run bash to split the ARGS line: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the ARGS line is not valid shell words ({}): {line}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| "ARGS is not UTF-8".to_string())?;
    let words: Vec<String> = text.split_terminator('\0').map(str::to_string).collect();
    if words.is_empty() {
        return Err("the ARGS line is empty".into());
    }
    Ok(words)
}

// ---------------------------------------------------------------------------------------------
// The runner

/// One `ssekit check` run: its exit code and its JSON report.
struct CheckRun {
    exit: i32,
    report: Value,
}

/// What the run said about one row's check.
struct Verdict {
    status: String,
    observed: String,
}

impl CheckRun {
    fn verdict(&self, check: &str) -> Verdict {
        if check == "exit" {
            return Verdict {
                status: self.exit.to_string(),
                observed: format!("exit code {}", self.exit),
            };
        }
        let found = self.report["checks"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["id"] == check));
        match found {
            Some(c) => Verdict {
                status: c["status"].as_str().unwrap_or("?").to_string(),
                observed: c["observed"].as_str().unwrap_or("").to_string(),
            },
            None => Verdict {
                status: "MISSING".into(),
                observed: format!("{check} is not in the report"),
            },
        }
    }
}

fn run_check(args: &[String], checks: &[&str], work: &Path) -> Result<CheckRun, String> {
    let json = work.join("report.json");
    let log = work.join("check.stderr");
    let stderr =
        std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let mut command = Command::new(SSEKIT);
    command.arg("check").args(args);
    for id in checks {
        command.args(["--only", id]);
    }
    command
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {SSEKIT}: {e}"))?;
    let status = common::wait_within(&mut child, CHECK_LIMIT).ok_or_else(|| {
        format!(
            "ssekit check {} did not finish in {} s",
            args.join(" "),
            CHECK_LIMIT.as_secs()
        )
    })?;
    let exit = status.code().unwrap_or(-1);
    let report = read_report(&json).map_err(|e| {
        format!(
            "ssekit check {} exited {exit} without a usable report ({e}); its stderr:\n{}",
            args.join(" "),
            tail(&log, 20)
        )
    })?;
    Ok(CheckRun { exit, report })
}

fn read_report(path: &Path) -> Result<Value, String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------

/// The case's fresh `WORK` directory; removed when the case passed, kept (and named) otherwise.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(case: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("ssekit-zoo-{}-{case}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        WorkDir(dir)
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
