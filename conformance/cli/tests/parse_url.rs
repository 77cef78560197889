//! `ssekit parse URL` against the reference server on 127.0.0.1: events printed live with their
//! arrival times, `--follow` reconnecting with `Last-Event-ID` after the server ends the
//! stream, 204 stopping it, responses EventSource fails refused with their status and type,
//! https with `--ca-cert`, Ctrl-C.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use ssekit_server::{Config, Misbehavior, ServerHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Every wait on the child is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

struct Parse {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Parse {
    /// `ssekit parse ARGS`, its stdout lines on a channel as they are printed.
    fn spawn(args: &[&str]) -> Parse {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssekit"));
        command.arg("parse").args(args);
        // A proxy set in the environment has no business with loopback servers.
        for var in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
            command.env_remove(var);
        }
        for var in ["all_proxy", "ALL_PROXY"] {
            command.env_remove(var);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssekit runs");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Parse { child, lines }
    }

    /// The next line, parsed; fails the test after [`WAIT`].
    fn next(&self, what: &str) -> Value {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("no line for {what} within {WAIT:?}: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    /// Waits (bounded) for the exit; stderr as text.
    fn exit(mut self) -> (Option<i32>, String) {
        let started = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            if started.elapsed() > WAIT {
                let _ = self.child.kill();
                panic!("ssekit parse did not exit within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let Output { status, stderr, .. } = self.child.wait_with_output().expect("output");
        (status.code(), String::from_utf8_lossy(&stderr).into_owned())
    }

    /// Ctrl-C, as a terminal sends it.
    fn interrupt(self) -> (Option<i32>, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.exit()
    }
}

fn server(rt: &Runtime, config: Config) -> ServerHandle {
    rt.block_on(ssekit_server::start(config)).expect("server")
}

fn publish(rt: &Runtime, server: &ServerHandle, data: &str) -> String {
    rt.block_on(server.publish(None, None, data))
        .expect("publish")
}

fn ms(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

#[test]
fn events_are_printed_as_they_arrive_with_their_times() {
    let rt = Runtime::new().expect("runtime");
    let s = server(&rt, Config::default());
    let url = format!("http://{}/stream", s.local_addr());
    let parse = Parse::spawn(&[&url]);

    // The priming `retry:` arrives with the head: the stream is open and subscribed.
    let retry = parse.next("the priming retry");
    assert!(
        retry["retry"].as_u64().is_some_and(|r| r >= 3000),
        "{retry}"
    );
    assert!(ms(&retry, "t_ms") > 0.0, "{retry}");
    assert!(retry.get("gap_ms").is_none(), "{retry}");

    let id = publish(&rt, &s, "one");
    let one = parse.next("the first event");
    assert_eq!(
        (&one["event"], &one["data"], &one["id"]),
        (&"message".into(), &"one".into(), &Value::from(id))
    );
    let read_one = Instant::now();
    // A gap the times must show: the second event is published at least 50 ms after the first
    // was read.
    std::thread::sleep(Duration::from_millis(50));
    publish(&rt, &s, "two");
    let two = parse.next("the second event");
    assert_eq!(two["data"], "two");
    let gap = ms(&two, "gap_ms");
    let least = read_one.elapsed().as_secs_f64() * 1000.0;
    assert!(gap >= 50.0, "gap {gap} ms");
    assert!(
        gap <= least + 1000.0,
        "gap {gap} ms, expected about {least}"
    );
    assert!(
        (ms(&two, "t_ms") - ms(&one, "t_ms") - gap).abs() < 0.01,
        "{one} {two}"
    );

    // The server ends the stream at an event boundary: a clean end, exit 0.
    rt.block_on(s.shutdown());
    let (code, err) = parse.exit();
    assert_eq!((code, err.as_str()), (Some(0), ""));
}

/// A TCP relay on an address of its own to whichever server `upstream` names at each
/// connection: the client keeps one URL while servers come and go (no port is reused).
async fn relay(upstream: Arc<Mutex<SocketAddr>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let to = *upstream.lock().expect("lock");
            tokio::spawn(async move {
                // No server there: the client's connection just closes, a network error.
                if let Ok(mut server) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

#[test]
fn follow_reconnects_with_last_event_id_after_the_server_ends_the_stream() {
    let rt = Runtime::new().expect("runtime");
    // A short retry (plus the server's jitter, up to half of it) keeps the test quick.
    let config = Config {
        retry_ms: 50,
        ..Config::default()
    };
    let first = server(&rt, config.clone());
    let upstream = Arc::new(Mutex::new(first.local_addr()));
    let url = format!(
        "http://{}/stream",
        rt.block_on(relay(Arc::clone(&upstream)))
    );
    let parse = Parse::spawn(&["--follow", &url]);
    parse.next("the priming retry");
    let id = publish(&rt, &first, "before");
    assert_eq!(parse.next("the first event")["id"], Value::from(id.clone()));

    // The first server ends every stream and goes; a second one takes its place. Until it is
    // there the client's attempts fail and are retried, as EventSource retries them.
    rt.block_on(first.shutdown());
    let second = server(&rt, config);
    *upstream.lock().expect("lock") = second.local_addr();
    let line = loop {
        let line = parse.next("the reconnection's first event");
        if line.get("retry").is_none() {
            break line;
        }
    };
    // The second server answers the first one's id with its reset signal: so the
    // reconnection carried Last-Event-ID.
    assert_eq!(line["event"], "reset", "{line}");
    let reset: Value = serde_json::from_str(line["data"].as_str().expect("data")).expect("JSON");
    assert_eq!(reset["reason"], "other-epoch", "{reset}");
    assert_eq!(line["id"], Value::from(id.clone()), "the id carries over");
    assert!(ms(&line, "gap_ms") > 0.0);

    let after = publish(&rt, &second, "after");
    let event = parse.next("an event on the new connection");
    assert_eq!(
        (&event["data"], &event["id"]),
        (&"after".into(), &after.into())
    );

    let (code, err) = parse.interrupt();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("the server ended the stream after"), "{err}");
    assert!(
        err.contains(&format!("ms with Last-Event-ID: {id}\n")),
        "{err}"
    );
    assert!(err.contains("reconnected: response 2 opened in"), "{err}");
    assert!(err.ends_with("ssekit parse: interrupted\n"), "{err}");
    rt.block_on(second.shutdown());
}

#[test]
fn a_204_stops_even_a_follow() {
    let rt = Runtime::new().expect("runtime");
    let s = server(&rt, Config::default());
    let url = format!("http://{}/gone", s.local_addr());
    let parse = Parse::spawn(&["--follow", &url]);
    assert!(parse.lines.recv_timeout(WAIT).is_err(), "nothing printed");
    let (code, err) = parse.exit();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        err,
        format!("ssekit parse: {url} answered 204 No Content: the server asks clients to stop\n")
    );
}

#[test]
fn a_response_eventsource_fails_is_refused_with_its_status_and_type() {
    let rt = Runtime::new().expect("runtime");
    let wrong = server(
        &rt,
        Config::default().with_misbehaviors(&[Misbehavior::WrongContentType]),
    );
    let url = format!("http://{}/stream", wrong.local_addr());
    for args in [&[][..], &["--follow"][..]] {
        let mut all = args.to_vec();
        all.push(&url);
        let (code, err) = Parse::spawn(&all).exit();
        assert_eq!(code, Some(4), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{url} answered 200 with Content-Type text/plain")),
            "{err}"
        );
    }

    let guarded = server(
        &rt,
        Config {
            subscribe_token: Some("s3cret".into()),
            ..Config::default()
        },
    );
    let url = format!("http://{}/stream", guarded.local_addr());
    let (code, err) = Parse::spawn(&[&url]).exit();
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("answered 401 Unauthorized, not 200"), "{err}");
    assert!(err.contains("--header 'Authorization"), "{err}");
    // The header it asks for opens the stream.
    let parse = Parse::spawn(&[&url, "-H", "Authorization: Bearer s3cret"]);
    assert!(parse.next("the priming retry")["retry"].is_u64());
    let (code, _) = parse.interrupt();
    assert_eq!(code, Some(130));
}

#[test]
fn no_server_is_a_network_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let (code, err) = Parse::spawn(&[&format!("http://127.0.0.1:{port}/stream")]).exit();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn https_with_a_private_ca() {
    let rt = Runtime::new().expect("runtime");
    let s = server(&rt, Config::default());
    let (port, ca) = rt.block_on(common::tls_front(s.local_addr()));
    let ca_file = std::env::temp_dir().join(format!("ssekit-parse-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca).expect("write CA");
    let url = format!("https://localhost:{port}/stream");

    let (code, err) = Parse::spawn(&[&url]).exit();
    assert_eq!(code, Some(3), "an unknown CA is refused: {err}");
    assert!(err.contains("TLS handshake with localhost failed"), "{err}");

    let ca_arg = ca_file.to_string_lossy().into_owned();
    let parse = Parse::spawn(&[&url, "--ca-cert", &ca_arg]);
    parse.next("the priming retry");
    publish(&rt, &s, "over TLS");
    assert_eq!(parse.next("the event")["data"], "over TLS");
    let (code, _) = parse.interrupt();
    assert_eq!(code, Some(130));
    let _ = std::fs::remove_file(&ca_file);
}

#[test]
fn a_gzip_body_is_decoded() {
    let rt = Runtime::new().expect("runtime");
    // gzip that is flushed only when the stream ends: everything arrives at shutdown.
    let s = server(
        &rt,
        Config::default().with_misbehaviors(&[Misbehavior::GzipNoFlush]),
    );
    let url = format!("http://{}/stream", s.local_addr());
    let parse = Parse::spawn(&[&url]);
    // The stream is open once the server counts it; nothing has been decoded yet.
    let opened = Instant::now();
    while s.metrics().streams_open == 0 {
        assert!(opened.elapsed() < WAIT, "the stream never opened");
        std::thread::sleep(Duration::from_millis(10));
    }
    publish(&rt, &s, "zipped");
    rt.block_on(s.shutdown());
    assert!(parse.next("the priming retry")["retry"].is_u64());
    assert_eq!(parse.next("the event")["data"], "zipped");
    let (code, err) = parse.exit();
    assert_eq!((code, err.as_str()), (Some(0), ""));
}
