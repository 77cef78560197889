//! `ssekit check` through an HTTP forward proxy: a small one run here on 127.0.0.1 that
//! forwards absolute-form requests and opens CONNECT tunnels, and logs each request line.
//! `http://` targets must arrive in absolute-form, `https://` ones through CONNECT (with ALPN
//! h2 inside), h2c checks must SKIP with the reason, and a proxy refusing CONNECT is named.
//! No check may go around the proxy: a host name only this proxy resolves shows one that does.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{tls_front, CheckRun};

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const SSEKIT: &str = env!("CARGO_BIN_EXE_ssekit");

type Log = Arc<Mutex<Vec<String>>>;

/// A host name only the test proxy resolves (to 127.0.0.1): names under `.invalid` never
/// resolve, so a request that goes around the proxy fails instead of passing unnoticed.
const BEHIND_PROXY: &str = "upstream.invalid";

/// Where the proxy connects for `authority` (`host:port`).
fn upstream(authority: &str) -> String {
    authority.replace(BEHIND_PROXY, "127.0.0.1")
}

/// Whether the proxy opens tunnels.
#[derive(Clone, Copy, PartialEq)]
enum Connect {
    Allow,
    Refuse,
}

/// A forward proxy on 127.0.0.1:0; returns its port and the request lines it received.
async fn forward_proxy(connect: Connect) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = Log::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(serve(client, connect, seen.clone()));
        }
    });
    (port, log)
}

/// One client connection: one request line decides where the connection goes, then bytes are
/// copied both ways (enough for the runner, which opens a connection per request).
async fn serve(client: TcpStream, connect: Connect, log: Log) {
    let mut client = BufReader::new(client);
    let mut line = String::new();
    if client.read_line(&mut line).await.is_err() {
        return;
    }
    log.lock().unwrap().push(line.trim_end().to_owned());
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if method == "CONNECT" {
        // Skip the CONNECT head's fields.
        let mut field = String::new();
        while client.read_line(&mut field).await.is_ok_and(|n| n > 2) {
            field.clear();
        }
        if connect == Connect::Refuse {
            let _ = client
                .get_mut()
                .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                .await;
            return;
        }
        let Ok(mut upstream) = TcpStream::connect(upstream(target)).await else {
            return;
        };
        let _ = client
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await;
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        return;
    }
    // Absolute-form only: origin-form is what a client forgetting the proxy would send.
    let Some(rest) = target.strip_prefix("http://") else {
        let _ = client
            .get_mut()
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
        return;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut upstream) = TcpStream::connect(upstream(authority)).await else {
        return;
    };
    let path = if path.is_empty() { "/" } else { path };
    let first = format!("{method} {path} {version}\r\n");
    if upstream.write_all(first.as_bytes()).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// `ssekit check ARGS` with `env` set, the machine's proxy variables cleared first.
fn check(args: &[&str], env: &[(&str, &str)]) -> CheckRun {
    common::run_check(SSEKIT, args, env)
}

fn only(ids: &[&'static str]) -> Vec<&'static str> {
    ids.iter().flat_map(|id| ["--only", id]).collect()
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[test]
fn http_targets_go_in_absolute_form_and_h2c_skips() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(common::ticking_server());
    let (port, log) = runtime.block_on(forward_proxy(Connect::Allow));
    let proxy = format!("http://127.0.0.1:{port}");
    let origin = format!("http://{}", server.local_addr());
    let url = format!("{origin}/stream");
    let publish = format!("{origin}/publish");
    let ids = ["H01", "T03", "F07", "H06", "T02"];
    let mut args = vec![url.as_str(), "--publish", &publish, "--proxy", &proxy];
    args.extend(only(&ids));
    let run = check(&args, &[]);
    for id in ["H01", "T03", "F07"] {
        let status = common::status(&run.report, id);
        assert!(status.starts_with("PASS"), "{id}: {status}\n{}", run.stderr);
    }
    for id in ["H06", "T02"] {
        let status = common::status(&run.report, id);
        assert!(
            status.starts_with("SKIP") && status.contains("forward proxy"),
            "{id}: {status}"
        );
    }
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seen = lines(&log);
    assert!(
        seen.iter().any(|l| l.starts_with(&format!("GET {url}"))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.starts_with(&format!("POST {publish}"))),
        "{seen:?}"
    );
    assert!(seen.iter().all(|l| l.contains(" http://")), "{seen:?}");

    // The environment's proxy applies to URL targets; NO_PROXY and --no-proxy bypass it.
    let before = lines(&log).len();
    let env_proxy = [("HTTP_PROXY", proxy.as_str())];
    let run = check(&[url.as_str(), "--only", "H01"], &env_proxy);
    assert!(common::status(&run.report, "H01").starts_with("PASS"));
    let after_env = lines(&log).len();
    assert!(after_env > before, "HTTP_PROXY was not used");
    let bypass = [("http_proxy", proxy.as_str()), ("no_proxy", "127.0.0.1")];
    let run = check(&[url.as_str(), "--only", "H01"], &bypass);
    assert!(common::status(&run.report, "H01").starts_with("PASS"));
    let args = [url.as_str(), "--only", "H01", "--no-proxy"];
    let run = check(&args, &env_proxy);
    assert!(common::status(&run.report, "H01").starts_with("PASS"));
    assert_eq!(
        lines(&log).len(),
        after_env,
        "NO_PROXY / --no-proxy ignored"
    );
    runtime.block_on(server.shutdown());
}

#[test]
fn https_targets_tunnel_with_connect() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(common::ticking_server());
    let (tls_port, ca) = runtime.block_on(tls_front(server.local_addr()));
    let ca_file = std::env::temp_dir().join(format!("ssekit-proxy-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca).expect("write CA");
    let ca_arg = ca_file.to_string_lossy().into_owned();
    let url = format!("https://localhost:{tls_port}/stream");

    let (port, log) = runtime.block_on(forward_proxy(Connect::Allow));
    let env = [("HTTPS_PROXY", format!("127.0.0.1:{port}"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut args = vec![url.as_str(), "--ca-cert", &ca_arg];
    args.extend(only(&["H01", "H06"]));
    let run = check(&args, &env);
    for id in ["H01", "H06"] {
        let status = common::status(&run.report, id);
        assert!(status.starts_with("PASS"), "{id}: {status}\n{}", run.stderr);
    }
    assert!(common::status(&run.report, "H06").contains("ALPN"));
    assert_eq!(run.code, 0);
    let seen = lines(&log);
    let connect = format!("CONNECT localhost:{tls_port} HTTP/1.1");
    assert!(seen.iter().all(|l| *l == connect), "{seen:?}");

    // A proxy that refuses CONNECT is named with the status it answered; the run could not
    // happen (exit 2), which is not the server's fault.
    let (refusing, _) = runtime.block_on(forward_proxy(Connect::Refuse));
    let proxy = format!("http://127.0.0.1:{refusing}");
    let args = [url.as_str(), "--ca-cert", &ca_arg, "--proxy", &proxy];
    let run = check(&[&args[..], &only(&["H01"])].concat(), &[]);
    let said = format!("{} {}", run.stderr, run.report);
    assert!(said.contains("answered 403 Forbidden"), "{said}");
    assert_eq!(run.code, 2, "{said}");
    let _ = std::fs::remove_file(&ca_file);
    runtime.block_on(server.shutdown());
}

/// Every check, the active ones included (S01's stalled subscriber, S02's aborted requests),
/// reaches a server only the proxy can reach.
#[test]
fn no_check_goes_around_the_proxy() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(common::ticking_server());
    let (port, log) = runtime.block_on(forward_proxy(Connect::Allow));
    let proxy = format!("http://127.0.0.1:{port}");
    let origin = format!("http://{BEHIND_PROXY}:{}", server.local_addr().port());
    let url = format!("{origin}/stream");
    let publish = format!("{origin}/publish");
    let run = check(
        &[url.as_str(), "--publish", &publish, "--proxy", &proxy],
        &[],
    );
    let checks = run.report["checks"].as_array().cloned().unwrap_or_default();
    assert!(!checks.is_empty(), "no report: {}", run.stderr);
    for c in &checks {
        let said = c.to_string();
        assert!(
            !said.contains(&format!("connect to {BEHIND_PROXY}"))
                && !said.contains("lookup address"),
            "{} went around the proxy: {said}",
            c["id"]
        );
    }
    for id in ["H01", "S02", "S04"] {
        let status = common::status(&run.report, id);
        assert!(status.starts_with("PASS"), "{id}: {status}\n{}", run.stderr);
    }
    // S01's stalled subscriber was served through the proxy; whether one proxied publish at a
    // time outruns its buffers depends on the machine, and S01 says which it was.
    let s01 = common::status(&run.report, "S01");
    assert!(
        s01.starts_with("PASS") || s01.starts_with("SKIP the publish hook took"),
        "S01: {s01}"
    );
    // S02's aborted connections send nothing: empty lines.
    let odd: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| !l.is_empty() && !l.contains(BEHIND_PROXY))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    runtime.block_on(server.shutdown());
}
