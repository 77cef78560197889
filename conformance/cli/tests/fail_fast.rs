//! `ssekit check` stops early, and says why in the user's terms: a TLS certificate this machine
//! does not trust (with the `--ca-cert` that fixes it), the other certificate problems, a
//! plain-HTTP server behind an https:// URL, and report paths that cannot be written all end
//! the run at once with exit status 2; a web page instead of a stream is judged in seconds.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::CheckRun;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

/// Runs `ssekit check ARGS` as given (no report file added), bounded in time.
fn check(args: &[&str]) -> CheckRun {
    common::check_process(SSEKIT, args, &[])
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssekit-failfast-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A CA and its key.
fn authority() -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (params.self_signed(&key).expect("CA"), key)
}

/// A server certificate for `names`, signed by `ca` (or by itself), as DER with its key.
fn leaf(
    names: &[&str],
    ca: Option<&(rcgen::Certificate, KeyPair)>,
    edit: impl FnOnce(&mut CertificateParams),
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("params");
    edit(&mut params);
    let cert = match ca {
        Some((ca, ca_key)) => params.signed_by(&key, ca, ca_key),
        None => params.self_signed(&key),
    }
    .expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// A TLS server on 127.0.0.1:0 presenting `cert`; each handshake is the whole exchange.
fn tls_server(
    runtime: &tokio::runtime::Runtime,
    (cert, key): (CertificateDer<'static>, PrivateKeyDer<'static>),
) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    runtime.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await;
            });
        }
    });
    port
}

/// An HTTP server on 127.0.0.1:0 that answers every request with a small web page.
fn page_server(runtime: &tokio::runtime::Runtime) -> u16 {
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    runtime.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "<!DOCTYPE html><html><body>Status page</body></html>\n";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

fn write_pem(dir: &Path, ca: &rcgen::Certificate) -> String {
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.pem()).expect("write CA");
    path.to_string_lossy().into_owned()
}

/// Asserts a could-not-run exit naming every one of `naming`, reached without running checks.
fn could_not_run(run: &CheckRun, naming: &[&str]) {
    assert_eq!(run.code, 2, "{}", run.stderr);
    for text in naming {
        assert!(
            run.stderr.contains(text),
            "should name {text:?}: {}",
            run.stderr
        );
    }
    // The rustls internals the user cannot act on stay out of the message.
    for internal in [
        "OtherError",
        "CaUsedAsEndEntity",
        "UnknownIssuer",
        "InvalidCertificate",
    ] {
        assert!(!run.stderr.contains(internal), "{internal}: {}", run.stderr);
    }
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
}

#[test]
fn certificates_this_machine_does_not_trust_name_the_fix() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = scratch("untrusted");
    let ca = authority();

    // Signed by a private CA the runner was not told about.
    let port = tls_server(&runtime, leaf(&["localhost"], Some(&ca), |_| {}));
    let url = format!("https://localhost:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet"]),
        &[
            "cannot check https://localhost",
            "signed by an authority this machine does not trust",
            "--ca-cert FILE",
        ],
    );
    // With that CA given, the handshake succeeds and the run goes on (to a server that then
    // closes: not a TLS message any more).
    let ca_file = write_pem(&dir, &ca.0);
    let trusted = check(&[&url, "--quiet", "--ca-cert", &ca_file, "--only", "H01"]);
    assert!(
        !trusted.stderr.contains("TLS handshake"),
        "{}",
        trusted.stderr
    );

    // Self-signed.
    let port = tls_server(&runtime, leaf(&["localhost"], None, |_| {}));
    let url = format!("https://localhost:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet"]),
        &[
            "is self-signed",
            "--ca-cert FILE",
            "that certificate itself",
        ],
    );

    // A CA certificate served as the server's own (what `openssl req -x509` makes).
    let port = tls_server(
        &runtime,
        leaf(&["localhost"], None, |p| {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained)
        }),
    );
    let url = format!("https://localhost:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet"]),
        &["presents a CA certificate", "CA:TRUE", "--ca-cert FILE"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trusted_certificates_that_are_still_wrong_say_how() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = scratch("wrong");
    let ca = authority();
    let ca_file = write_pem(&dir, &ca.0);

    let port = tls_server(&runtime, leaf(&["sse.example"], Some(&ca), |_| {}));
    let url = format!("https://localhost:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet", "--ca-cert", &ca_file]),
        &["the certificate is issued for sse.example, not localhost"],
    );

    let port = tls_server(
        &runtime,
        leaf(&["localhost"], Some(&ca), |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }),
    );
    let url = format!("https://localhost:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet", "--ca-cert", &ca_file]),
        &["certificate of localhost expired", "day(s) ago", "renew it"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_to_a_plain_http_port_says_so() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let port = page_server(&runtime);
    let url = format!("https://127.0.0.1:{port}/events");
    could_not_run(
        &check(&[&url, "--quiet"]),
        &["this port serves plain HTTP, not TLS", "use an http:// URL"],
    );
}

#[test]
fn a_web_page_is_judged_in_seconds() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let port = page_server(&runtime);
    let url = format!("http://127.0.0.1:{port}/");
    let timeout = Duration::from_secs(3);
    let run = check(&[&url, "--timeout", "3"]);
    assert_eq!(run.code, 1, "H02 (a MUST) fails: {}", run.stderr);
    assert!(
        run.stderr
            .contains("answered 200 text/html: this URL serves a page, not an event stream"),
        "{}",
        run.stderr
    );
    // The first look (2.5 s at most in the quick profile) and a few single waits, with room
    // for process start-up on a loaded machine; a full run announces ~35 s.
    let bound = Duration::from_millis(2500) + timeout * 2;
    assert!(run.took < bound, "{:?} (bound {bound:?})", run.took);
}

#[test]
fn report_paths_are_checked_before_the_run() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let port = page_server(&runtime);
    let url = format!("http://127.0.0.1:{port}/");
    let dir = scratch("paths");
    let missing = dir.join("no-such-dir").join("report.json");
    let missing = missing.to_string_lossy();
    let run = check(&[&url, "--quiet", "--json", &missing]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("--json {missing}"))
            && run.stderr.contains("does not exist")
            && !run.stderr.contains("answered 200"),
        "named before the run: {}",
        run.stderr
    );

    let as_dir = dir.to_string_lossy();
    let run = check(&[&url, "--quiet", "--junit", &as_dir]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--junit") && run.stderr.contains("is a directory"),
        "{}",
        run.stderr
    );

    // A good path is left for the report alone: written at the end, not before.
    let good = dir.join("report.json");
    let run = check(&[&url, "--quiet", "--json", &good.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).expect("report written"))
            .expect("JSON");
    assert_eq!(report["schema"], "ssekit-check/1", "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
