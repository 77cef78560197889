//! The runner against servers it did not come with: a hand-written Python `http.server` SSE
//! endpoint (tests/python_sse_server.py), and the CLI's contract (exit statuses, JSON, JUnit).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};

use serde_json::Value;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

/// The Python server, killed when dropped.
struct Python {
    child: Child,
    port: u16,
    /// Every port it listens on (a second one when started as two "instances").
    ports: Vec<u16>,
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the script on an ephemeral port; `None` (the test is skipped) without python3.
fn python() -> Option<Python> {
    python_with(&["0"])
}

/// Starts the script with these port arguments.
fn python_with(ports: &[&str]) -> Option<Python> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_sse_server.py");
    let mut child = match Command::new("python3")
        .arg(script)
        .args(ports)
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED: python3 is not available ({e})");
            return None;
        }
    };
    let line = common::first_line(
        child.stdout.take().expect("piped stdout"),
        "the Python server",
    );
    let ports: Vec<u16> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let port = *ports.first().expect("a port number");
    Some(Python { child, port, ports })
}

/// Runs `ssekit check ARGS --json FILE --quiet`, bounded; returns (exit code, report).
fn check(args: &[&str]) -> (i32, Value) {
    let run = common::run_check(SSEKIT, args, &[]);
    (run.code, run.report)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn assert_status(report: &Value, id: &str, want: &str) {
    let got = common::status(report, id);
    assert!(got.starts_with(want), "{id}: expected {want}, got {got}");
}

#[test]
fn python_server_streams_but_cannot_resume() {
    let Some(py) = python() else { return };
    let base = format!("http://127.0.0.1:{}", py.port);
    let (code, report) = check(&[
        &format!("{base}/stream"),
        "--publish",
        &format!("{base}/publish"),
        "--heartbeat-max",
        "3",
        "--only",
        "H",
        "--only",
        "F",
        "--only",
        "I03",
        "--only",
        "I04",
        "--only",
        "T01",
        "--skip",
        "H13",
        "--strict",
    ]);
    for id in [
        "H01", "H02", "H04", "H05", "F01", "F02", "F06", "F07", "T01",
    ] {
        assert_status(&report, id, "PASS");
    }
    // It ignores Last-Event-ID: a gap on resume, and no reset signal for unknown ids.
    // Replay is production practice, not a rule of HTML: a SHOULD, so a WARN.
    assert_status(&report, "I03", "WARN");
    assert_status(&report, "I04", "WARN");
    assert_status(&report, "H06", "SKIP");
    assert_eq!(report["summary"]["fail"], 0, "no MUST failed");
    assert_eq!(code, 1, "--strict fails the run on a SHOULD violation");
    assert_eq!(report["exit_code"], 1);
}

#[test]
fn python_redirect_loop_fails_h12() {
    let Some(py) = python() else { return };
    let (code, report) = check(&[
        &format!("http://127.0.0.1:{}/loop", py.port),
        "--only",
        "H12",
        "--only",
        "H01",
    ]);
    assert_status(&report, "H12", "FAIL");
    assert_status(&report, "H01", "FAIL");
    assert_eq!(code, 1);
}

#[test]
fn python_wildcard_origin_with_credentials_fails_c02() {
    let Some(py) = python() else { return };
    let (code, report) = check(&[
        &format!("http://127.0.0.1:{}/cors-star", py.port),
        "--only",
        "C",
    ]);
    assert_status(&report, "C02", "FAIL");
    assert_status(&report, "C03", "SKIP");
    assert_eq!(code, 1);
}

#[test]
fn python_named_heartbeats_without_data_warn() {
    let Some(py) = python() else { return };
    let url = format!("http://127.0.0.1:{}/named-empty", py.port);
    let (code, report) = check(&[
        &url,
        "--only",
        "F08",
        "--only",
        "K02",
        "--heartbeat-max",
        "3",
    ]);
    assert_status(&report, "F08", "WARN");
    assert_status(&report, "K02", "WARN");
    assert_eq!(code, 0, "SHOULDs never fail the run");
}

#[test]
fn python_auth_answers_judged_by_c03() {
    let Some(py) = python() else { return };
    let auth = ["--header", "Authorization: Bearer good", "--only", "C03"];
    let (code, report) = check(
        &[
            &[format!("http://127.0.0.1:{}/auth-401", py.port).as_str()][..],
            &auth[..],
        ]
        .concat(),
    );
    assert_status(&report, "C03", "PASS");
    assert_eq!(code, 0);
    let (code, report) = check(
        &[
            &[format!("http://127.0.0.1:{}/auth-error", py.port).as_str()][..],
            &auth[..],
        ]
        .concat(),
    );
    assert_status(&report, "C03", "WARN");
    assert_eq!(code, 0, "C03 is a SHOULD");
}

#[test]
fn s05_two_python_instances_sharing_state_pass() {
    let Some(py) = python_with(&["0", "0"]) else {
        return;
    };
    let (a, b) = (py.ports[0], py.ports[1]);
    let (code, report) = check(&[
        &format!("http://127.0.0.1:{a}/stream"),
        "--publish",
        &format!("http://127.0.0.1:{a}/publish"),
        "--also-url",
        &format!("http://127.0.0.1:{b}/stream"),
        "--only",
        "S05",
    ]);
    assert_status(&report, "S05", "PASS");
    assert_eq!(code, 0);
}

#[test]
fn s05_two_independent_reference_servers_warn() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = runtime.block_on(async {
        let a = ssekit_server::start(ssekit_server::Config::default())
            .await
            .expect("server a");
        let b = ssekit_server::start(ssekit_server::Config::default())
            .await
            .expect("server b");
        (a, b)
    });
    let (pa, pb) = (a.local_addr().port(), b.local_addr().port());
    let (code, report) = check(&[
        &format!("http://127.0.0.1:{pa}/stream"),
        "--publish",
        &format!("http://127.0.0.1:{pa}/publish"),
        "--also-url",
        &format!("http://127.0.0.1:{pb}/stream"),
        "--only",
        "S05",
    ]);
    assert_status(&report, "S05", "WARN");
    assert_eq!(code, 0);
    runtime.block_on(async {
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn unreachable_url_and_bad_arguments_exit_2() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (code, report) = check(&[&format!("http://127.0.0.1:{port}/stream"), "--only", "H01"]);
    assert_eq!(code, 2);
    assert_eq!(report, Value::Null, "no report when the run was impossible");
    let (code, _) = check(&["http://127.0.0.1:1/stream", "--only", "Z99"]);
    assert_eq!(code, 2);
    let (code, _) = check(&["ftp://127.0.0.1/stream"]);
    assert_eq!(code, 2);
}

#[test]
fn embedded_run_writes_json_and_junit() {
    let dir = std::env::temp_dir().join(format!(
        "ssekit-junit-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let junit = dir.join("junit.xml");
    let junit_arg = junit.to_string_lossy().into_owned();
    let (code, report) = check(&["--only", "H", "--only", "I07", "--junit", &junit_arg]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["schema"], "ssekit-check/1");
    assert_eq!(report["summary"]["fail"], 0);
    for c in report["checks"].as_array().expect("checks") {
        for key in [
            "id",
            "group",
            "title",
            "level",
            "status",
            "observed",
            "reference",
            "fix",
            "browser",
        ] {
            assert!(c[key].is_string(), "{key} missing in {c}");
        }
    }
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml"));
    assert_eq!(
        xml.matches("<testcase ").count(),
        report["checks"].as_array().map_or(0, Vec::len)
    );
    assert!(
        xml.contains("<skipped message="),
        "I07 is reported as skipped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
