//! The run's first decision: what the stream URL answered. Small servers on 127.0.0.1 answer
//! what people point the runner at by mistake (a web page, a JSON 404) and each test asserts
//! that the check whose rule the answer breaks names it, that every check needing a stream
//! SKIPs at once, and that the run ends in seconds, not after every check's own timeout. A port
//! with nothing behind it is "could not run".

mod common;

use common::{expect, result};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use ssekit_check::check_command::{check_target, CheckArgs, RunError};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_check::runner::{budget, Publishing};
use ssekit_check::target::Target;

const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Dashboard</title></head>\n\
<body><script>new EventSource('/events')</script></body></html>\n";

/// Serves `response` (head and body) to every connection on 127.0.0.1:0, then closes it.
async fn answering(response: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn options(url: &str) -> CheckArgs {
    CheckArgs {
        url: Some(url.to_owned()),
        timeout: Duration::from_secs(3),
        heartbeat_max: Duration::from_secs(3),
        quiet: true,
        ..CheckArgs::default()
    }
}

/// The longest a run may take when only the answer's own checks run: the first look (its
/// window, 2.5 s in the quick profile, and the request), then a few single waits, with room for
/// a loaded machine. Far below the announced budget of a full run.
fn bound(args: &CheckArgs) -> Duration {
    Duration::from_millis(2500) + args.timeout * 2
}

async fn check(args: &CheckArgs) -> (Result<Report, RunError>, Duration) {
    let target = Target::remote(
        args.url.as_deref().expect("url").parse().expect("URL"),
        http::HeaderMap::new(),
    );
    let started = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(90), check_target(target, args))
        .await
        .expect("the run ends");
    (report, started.elapsed())
}

/// Every check that is neither the answer's own nor about other URLs SKIPs, naming the answer.
fn stream_checks_skip(r: &Report, answered: &str, own: &[&str]) {
    for row in &r.results {
        if own.contains(&row.check.id) || ["H10", "H11", "H12", "L01"].contains(&row.check.id) {
            continue;
        }
        assert_eq!(
            row.status,
            Status::Skip,
            "{}: {}",
            row.check.id,
            row.observed
        );
        assert!(
            row.observed.contains("no event stream to judge") && row.observed.contains(answered),
            "{}: {}",
            row.check.id,
            row.observed
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_is_named_and_the_run_ends_in_seconds() {
    let url = answering(response("200 OK", "text/html; charset=utf-8", PAGE)).await;
    let args = options(&url);
    let (r, took) = check(&args).await;
    let r = r.expect("the run is possible");
    expect(&r, "H01", Status::Pass, "200");
    expect(
        &r,
        "H02",
        Status::Fail,
        "answered 200 text/html: this URL serves a page, not an event stream; point at the \
         stream endpoint",
    );
    stream_checks_skip(&r, "answered 200 text/html", &["H01", "H02"]);
    assert_eq!(r.exit_code(), 1, "a MUST (H02) is violated");
    assert!(
        took < bound(&args),
        "{took:?}: the run should end within {:?}, not run every check (announced budget {:?})",
        bound(&args),
        budget(
            &ssekit_check::check_command::opts_of(&args),
            Publishing::None
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_404_fails_h01_with_the_body_and_skips_the_rest() {
    let body = r#"{"error":"not found","path":"/"}"#;
    let url = answering(response("404 Not Found", "application/json", body)).await;
    let args = options(&url);
    let (r, took) = check(&args).await;
    let r = r.expect("the run is possible");
    expect(
        &r,
        "H01",
        Status::Fail,
        r#"answered 404 application/json (body: {\"error\":\"not found\""#,
    );
    expect(&r, "H01", Status::Fail, "nothing is served at this path");
    // The type of an error body is not what a browser stumbles on: the status is.
    expect(
        &r,
        "H02",
        Status::Skip,
        "the URL answered 404 application/json (see H01)",
    );
    stream_checks_skip(&r, "answered 404 application/json", &["H01"]);
    assert_eq!(r.exit_code(), 1);
    assert!(took < bound(&args), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_sent_with_the_wrong_type_is_still_judged() {
    // EventSource refuses it (H02), but the body is an event stream: the other checks judge it.
    let body = "retry: 3000\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n";
    let url = answering(response("200 OK", "text/plain", body)).await;
    let args = CheckArgs {
        only: ["H02", "F01", "F10"].map(String::from).to_vec(),
        ..options(&url)
    };
    let (r, _) = check(&args).await;
    let r = r.expect("the run is possible");
    expect(&r, "H02", Status::Fail, "Content-Type: text/plain");
    expect(&r, "F01", Status::Pass, "valid UTF-8");
    expect(&r, "F10", Status::Info, "2 events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_could_not_run_naming_host_and_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address").port()
    };
    let args = options(&format!("http://127.0.0.1:{port}/events"));
    let (r, took) = check(&args).await;
    let e = r.expect_err("nothing to judge");
    assert!(matches!(e, RunError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "nothing listens on 127.0.0.1:{port} (connection refused)"
        )) && text.contains("start the server"),
        "{text}"
    );
    assert!(took < args.timeout, "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_is_could_not_run_naming_the_name() {
    // `.invalid` never resolves (RFC 6761).
    let args = options("http://no-such-host.invalid/events");
    let (r, _) = check(&args).await;
    let text = r.expect_err("nothing to judge").to_string();
    assert!(
        text.contains("the host name no-such-host.invalid does not resolve"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_for_a_stalled_server_is_unchanged() {
    // Accepts and never answers: the server's fault, judged (H01 fails with the cause).
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let args = CheckArgs {
        only: ["H01", "H02", "F01"].map(String::from).to_vec(),
        timeout: Duration::from_secs(1),
        ..options(&format!("http://127.0.0.1:{port}/events"))
    };
    let (r, _) = check(&args).await;
    let r = r.expect("a stalled server is judged");
    expect(&r, "H01", Status::Fail, "timed out");
    let (f01, observed) = result(&r, "F01");
    assert_eq!(f01, Status::Skip, "{observed}");
    assert!(observed.contains("never opened (see H01)"), "{observed}");
}
