//! Helpers shared by the runner's tests and, through `#[path]`, the `ssekit` binary's: in-process
//! runs and their options, `ssekit check` as a child process, TLS in front of a server, bounded
//! waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use ssekit_check::check_command::{build_target, check_target, CheckArgs, ProfileArg};
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
        heartbeat_max: Duration::from_secs(3),
        ..quiet_args()
    }
}

/// `ssekit check URL --profile PROFILE` in process: 3 s waits, each finite stream read for
/// 10 s at most. The heartbeat limit stays the command line's (P05 judges against it).
pub fn profile_args(profile: ProfileArg, url: String) -> CheckArgs {
    CheckArgs {
        url: Some(url),
        profile: vec![profile],
        stream_max: Duration::from_secs(10),
        ..quiet_args()
    }
}

/// What every in-process run here shares: 3 s single waits and no progress output.
fn quiet_args() -> CheckArgs {
    CheckArgs {
        timeout: Duration::from_secs(3),
        quiet: true,
        ..CheckArgs::default()
    }
}

/// Runs `target` with `args`, failing the test past 90 s or if the run is impossible.
pub async fn run_target(target: Target, args: &CheckArgs) -> Report {
    tokio::time::timeout(Duration::from_secs(90), check_target(target, args))
        .await
        .expect("the run finishes")
        .expect("the run is possible")
}

/// Builds the target `args` name (its URL, profile, body) and runs it with [`run_target`].
pub async fn run_args(args: &CheckArgs) -> Report {
    let target = build_target(args).await.expect("the target is valid");
    run_target(target, args).await
}

/// The embedded reference server with `misbehave` switched on, checked with [`args`].
pub async fn run(misbehave: &[Misbehavior], only: &[&str]) -> Report {
    let target = Target::embedded(embedded_config().with_misbehaviors(misbehave))
        .await
        .expect("embedded server starts");
    run_target(target, &args(only)).await
}

/// The reference server on 127.0.0.1:0 with a 200 ms tick and a 1 s heartbeat, so the event
/// and keep-alive checks judge in a few seconds.
pub async fn ticking_server() -> ssekit_server::ServerHandle {
    ssekit_server::start(ssekit_server::Config {
        tick: Some(Duration::from_millis(200)),
        heartbeat: Some(Duration::from_secs(1)),
        ..ssekit_server::Config::default()
    })
    .await
    .expect("the reference server starts")
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
    wait_within(child, limit)
        .unwrap_or_else(|| panic!("{what} did not finish in {} s", limit.as_secs()))
}

/// Waits for `child` to exit, at most `limit`; past it (or if it cannot be waited for) the
/// child is killed and reaped and the answer is `None`, for a caller that reports rather than
/// fails.
pub fn wait_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Headless Chromium for the browser tests: `$SSEKIT_CHROMIUM`, else Debian's path. `None`, with
/// the reason printed, when it is not installed: the caller skips.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var_os("SSEKIT_CHROMIUM")
            .unwrap_or(ssekit_check::browser::DEFAULT_CHROMIUM.into()),
    );
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "SKIPPED: no Chromium at {} (install Debian's `chromium` package, as .ci/run does, \
         or set SSEKIT_CHROMIUM)",
        path.display()
    );
    None
}

/// What one `ssekit check` child process gave.
#[derive(Debug)]
pub struct CheckRun {
    /// Its exit status (-1 when a signal ended it).
    pub code: i32,
    /// Its `--json` report (`ssekit-check/1`) from [`run_check`]; `Null` when none was written.
    pub report: Value,
    /// What it printed on standard error.
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

/// The proxy variables a run must not take from the machine: every test says its own proxy.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/// Runs `BIN check ARGS` (`bin`: the `ssekit` binary) with the proxy variables cleared (both
/// spellings), then `env` set; waits at most 120 s. Standard output is dropped, standard error
/// kept; `report` is `Null`.
pub fn check_process(bin: &str, args: &[&str], env: &[(&str, &str)]) -> CheckRun {
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    for var in PROXY_VARIABLES {
        cmd.env_remove(var).env_remove(var.to_ascii_uppercase());
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .arg("check")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssekit runs");
    // Read while it runs: a child blocked on a full pipe would never exit.
    let mut pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    });
    let status = wait_bounded(&mut child, Duration::from_secs(120), "ssekit check");
    let stderr = reader.join().expect("stderr reader");
    // Passed on to the test's own output, which the harness shows when the test fails.
    eprint!("{stderr}");
    CheckRun {
        code: status.code().unwrap_or(-1),
        report: Value::Null,
        stderr,
        took: started.elapsed(),
    }
}

/// [`check_process`] with `--quiet --json FILE` added, FILE in a scratch directory of its own
/// (removed after); `report` is what the run wrote there.
pub fn run_check(bin: &str, args: &[&str], env: &[(&str, &str)]) -> CheckRun {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ssekit-check-run-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("r.json");
    let json_arg = json.to_string_lossy().into_owned();
    let all = [args, &["--quiet", "--json", &json_arg]].concat();
    let mut run = check_process(bin, &all, env);
    run.report = std::fs::read_to_string(&json)
        .map(|t| serde_json::from_str(&t).expect("the report is JSON"))
        .unwrap_or(Value::Null);
    let _ = std::fs::remove_dir_all(&dir);
    run
}
