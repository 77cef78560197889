//! `https://` targets: the runner speaks TLS with ALPN (h2 and http/1.1) to a TLS terminator in
//! front of the reference server, trusting a self-signed CA given with `--ca-cert`; without it,
//! the certificate is refused as a browser would refuse it.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{tls_front, tls_front_with, CheckRun};

use serde_json::Value;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

/// `ssekit check ARGS` with the report it wrote.
fn check(args: &[&str]) -> CheckRun {
    common::run_check(SSEKIT, args, &[])
}

#[test]
fn https_with_alpn_h2_and_a_private_ca() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(common::ticking_server());
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
    let run = check(&args);
    for id in only {
        let status = common::status(&run.report, id);
        assert!(status.starts_with("PASS"), "{id}: {status}\n{}", run.stderr);
    }
    let h06 = common::status(&run.report, "H06");
    assert!(h06.contains("ALPN"), "{h06}");
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Without the CA the certificate is refused, as a browser refuses it: nothing can be
    // judged, so the run cannot run (exit 2; fail_fast.rs checks the message names --ca-cert).
    let run = check(&[url.as_str(), "--only", "H01"]);
    assert_eq!((run.code, run.report), (2, Value::Null), "{}", run.stderr);

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
    let run = check(&[&bad_url, "--ca-cert", &ca_arg, "--only", "H06"]);
    let h06 = common::status(&run.report, "H06");
    assert!(
        h06.starts_with("FAIL") && h06.contains(": connection: keep-alive (RFC 9113"),
        "{h06}"
    );
    assert_eq!(run.code, 1, "{}", run.stderr);

    // A TLS listener that offers only HTTP/1.1: browsers get 6 connections per origin (T06).
    let (h1_port, h1_ca) = runtime.block_on(tls_front_with(server.local_addr(), &[b"http/1.1"]));
    std::fs::write(&ca_file, h1_ca).expect("write CA");
    let h1_url = format!("https://localhost:{h1_port}/stream");
    let run = check(&[&h1_url, "--ca-cert", &ca_arg, "--only", "T06"]);
    let t06 = common::status(&run.report, "T06");
    assert!(
        t06.starts_with("WARN") && t06.contains("chose http/1.1") && t06.contains("6 connections"),
        "{t06}"
    );
    assert_eq!(run.code, 0, "a SHOULD: exit 0 without --strict");
    // Plain http:// is not judged: browsers never speak h2 there.
    let plain = format!("http://{}/stream", server.local_addr());
    let run = check(&[&plain, "--only", "T06"]);
    assert!(common::status(&run.report, "T06").starts_with("SKIP"));
    let _ = std::fs::remove_file(&ca_file);
    runtime.block_on(bad.shutdown());
    runtime.block_on(server.shutdown());
}
