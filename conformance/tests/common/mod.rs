//! Helpers shared by the tests that drive `ssekit` and other servers as child processes.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::time::Duration;

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use ssekit_check::check_command::{check_target, CheckArgs};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_check::target::{embedded_config, Target};
use ssekit_server::Misbehavior;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

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

/// `ssekit check` options for an in-process run of `only` with 3 s waits.
pub fn args(only: &[&str]) -> CheckArgs {
    CheckArgs {
        only: only.iter().map(|s| (*s).to_owned()).collect(),
        timeout: Duration::from_secs(3),
        heartbeat_max: Duration::from_secs(3),
        quiet: true,
        ..CheckArgs::default()
    }
}

/// The embedded reference server with `misbehave` switched on, checked with [`args`].
pub async fn run(misbehave: &[Misbehavior], only: &[&str]) -> Report {
    let target = Target::embedded(embedded_config().with_misbehaviors(misbehave))
        .await
        .expect("embedded server starts");
    tokio::time::timeout(Duration::from_secs(90), check_target(target, &args(only)))
        .await
        .expect("the run finishes in time")
        .expect("the run is possible")
}

/// Terminates TLS (ALPN h2, http/1.1) on 127.0.0.1:0 and forwards the bytes to `upstream`,
/// which speaks HTTP/1.1 and h2c on one port. Returns the port and the CA certificate (PEM).
pub async fn tls_front(upstream: SocketAddr) -> (u16, String) {
    tls_front_with(upstream, &[b"h2", b"http/1.1"]).await
}

/// [`tls_front`] offering only the protocols `alpn` by ALPN (none: no ALPN at all).
pub async fn tls_front_with(upstream: SocketAddr, alpn: &[&[u8]]) -> (u16, String) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, cert.pem())
}

/// Waits for `child` to exit, at most `limit`: past it the child is killed and the test fails
/// naming `what`. Every child process a test starts is waited for this way.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} did not finish in {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
