//! `https://` targets: the runner speaks TLS with ALPN (h2 and http/1.1) to a TLS terminator in
//! front of the reference server, trusting a self-signed CA given with `--ca-cert`; without it,
//! the certificate is refused as a browser would refuse it.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{tls_front, tls_front_with};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

fn check(args: &[&str]) -> (i32, Value) {
    let dir = std::env::temp_dir().join(format!(
        "ssekit-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json: PathBuf = dir.join("r.json");
    let mut child = Command::new(SSEKIT)
        .arg("check")
        .args(args)
        .arg("--quiet")
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null())
        .spawn()
        .expect("ssekit runs");
    let status = common::wait_bounded(&mut child, Duration::from_secs(90), "ssekit check");
    let report = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).expect("JSON"))
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    (status.code().unwrap_or(-1), report)
}

#[test]
fn https_with_alpn_h2_and_a_private_ca() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let config = ssekit_server::Config {
        tick: Some(Duration::from_millis(200)),
        heartbeat: Some(Duration::from_secs(1)),
        ..ssekit_server::Config::default()
    };
    let server = runtime
        .block_on(ssekit_server::start(config))
        .expect("server");
    let (port, ca) = runtime.block_on(tls_front(server.local_addr()));
    let ca_file = std::env::temp_dir().join(format!("ssekit-tls-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca).expect("write CA");
    let url = format!("https://localhost:{port}/stream");
    let publish = format!("https://localhost:{port}/publish");
    let ca_arg = ca_file.to_string_lossy().into_owned();
    let only = [
        "H01", "H02", "H06", "T02", "T01", "I03", "F07", "T03", "T06",
    ];
    let mut args = vec![url.as_str(), "--publish", &publish, "--ca-cert", &ca_arg];
    for id in &only {
        args.extend(["--only", id]);
    }
    let (code, report) = check(&args);
    for id in only {
        assert!(
            common::status(&report, id).starts_with("PASS"),
            "{id}: {}",
            common::status(&report, id)
        );
    }
    assert!(
        common::status(&report, "H06").contains("ALPN"),
        "{}",
        common::status(&report, "H06")
    );
    assert_eq!(code, 0);

    // Without the CA the certificate is refused, as a browser refuses it: nothing can be
    // judged, so the run cannot run (exit 2; fail_fast.rs checks the message names --ca-cert).
    let (code, report) = check(&[url.as_str(), "--only", "H01"]);
    assert_eq!((code, report), (2, Value::Null));

    // Over TLS too, H06 reads the head hyper rejects (ALPN h2) and names the field.
    let bad = runtime
        .block_on(ssekit_server::start(
            ssekit_server::Config::default()
                .with_misbehaviors(&[ssekit_server::Misbehavior::H2ConnectionHeader]),
        ))
        .expect("misbehaving server");
    let (bad_port, bad_ca) = runtime.block_on(tls_front(bad.local_addr()));
    std::fs::write(&ca_file, bad_ca).expect("write CA");
    let bad_url = format!("https://localhost:{bad_port}/stream");
    let (code, report) = check(&[&bad_url, "--ca-cert", &ca_arg, "--only", "H06"]);
    let h06 = common::status(&report, "H06");
    assert!(
        h06.starts_with("FAIL") && h06.contains(": connection: keep-alive (RFC 9113"),
        "{h06}"
    );
    assert_eq!(code, 1);

    // A TLS listener that offers only HTTP/1.1: browsers get 6 connections per origin (T06).
    let (h1_port, h1_ca) = runtime.block_on(tls_front_with(server.local_addr(), &[b"http/1.1"]));
    std::fs::write(&ca_file, h1_ca).expect("write CA");
    let h1_url = format!("https://localhost:{h1_port}/stream");
    let (code, report) = check(&[&h1_url, "--ca-cert", &ca_arg, "--only", "T06"]);
    let t06 = common::status(&report, "T06");
    assert!(
        t06.starts_with("WARN") && t06.contains("chose http/1.1") && t06.contains("6 connections"),
        "{t06}"
    );
    assert_eq!(code, 0, "a SHOULD: exit 0 without --strict");
    // Plain http:// is not judged: browsers never speak h2 there.
    let plain = format!("http://{}/stream", server.local_addr());
    let (_, report) = check(&[&plain, "--only", "T06"]);
    assert!(common::status(&report, "T06").starts_with("SKIP"));
    let _ = std::fs::remove_file(&ca_file);
    runtime.block_on(bad.shutdown());
    runtime.block_on(server.shutdown());
}
