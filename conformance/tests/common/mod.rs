//! Helpers shared by the tests that drive `ssekit` and other servers as child processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::time::Duration;

use serde_json::Value;
use ssekit_conformance::checks::Status;
use ssekit_conformance::report::Report;

/// The first line a child prints (its address or port), waiting at most 10 s for it.
pub fn first_line(stdout: ChildStdout, what: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not print its address within 10 s"))
}

/// `"STATUS observed"` of check `id` in a `--json` report (`ssekit-check/1`).
pub fn status(report: &Value, id: &str) -> String {
    let c = report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{id} missing from {report}"));
    format!(
        "{} {}",
        c["status"].as_str().unwrap_or("?"),
        c["observed"].as_str().unwrap_or("")
    )
}

/// The status and observed text of check `id` in an in-process run's report.
pub fn result(report: &Report, id: &str) -> (Status, String) {
    let r = report
        .results
        .iter()
        .find(|r| r.check.id == id)
        .unwrap_or_else(|| panic!("{id} did not run"));
    (r.status, r.observed.clone())
}

/// Asserts check `id` has status `want` and names `naming` in its observed text.
pub fn expect(report: &Report, id: &str, want: Status, naming: &str) {
    let (got, observed) = result(report, id);
    assert_eq!(got, want, "{id}: {observed}");
    assert!(
        observed.contains(naming),
        "{id} should name {naming:?}: {observed}"
    );
}
