//! Helpers shared by the tests that drive `ssekit` and other servers as child processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::time::Duration;

use serde_json::Value;

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
