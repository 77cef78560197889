//! `--profile mcp` against the reference server's MCP Streamable HTTP mock (`/mcp`), started
//! in this process on 127.0.0.1: the runner opens a session before the baseline, judges the
//! `tools/call` stream (P02) and the session rules (P08), and names each mock misbehaviour.
//! A small hand-written server answers every POST, `initialize` included, as an event stream
//! (as the TypeScript SDK does by default).

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::expect;
use ssekit_check::check_command::{CheckArgs, ProfileArg};
use ssekit_check::checks::Status;
use ssekit_check::report::Report;
use ssekit_server::{Config, Misbehavior};

/// A `count` call that streams: five progress notifications, then the response.
const COUNT: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"p1"}}}"#;

/// Runs `ssekit check BASE/mcp --profile mcp [--data DATA]` against a mock started with
/// `config`.
async fn check(config: Config, data: Option<&str>) -> Report {
    let server = ssekit_server::start(config).await.expect("the mock starts");
    let url = format!("http://{}/mcp", server.local_addr());
    let args = CheckArgs {
        data: data.map(str::to_owned),
        ..common::profile_args(ProfileArg::Mcp, url)
    };
    let report = common::run_args(&args).await;
    drop(server);
    report
}

fn not_failed(report: &Report, id: &str) {
    let (got, observed) = common::result(report, id);
    assert_ne!(got, Status::Fail, "{id}: {observed}");
}

fn mock(list: &[Misbehavior]) -> Config {
    Config::default().with_misbehaviors(list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_server_streams_a_tool_call_and_keeps_its_session_rules() {
    let r = check(mock(&[]), Some(COUNT)).await;
    expect(&r, "P02", Status::Pass, "mcp: 6 JSON-RPC message(s)");
    expect(&r, "P01", Status::Pass, "ended cleanly");
    expect(
        &r,
        "P08",
        Status::Pass,
        "Mcp-Session-Id assigned on initialize",
    );
    expect(&r, "P08", Status::Pass, "DELETE 204, then 404");
    expect(&r, "H02", Status::Pass, "text/event-stream");
    let failed: Vec<_> = r
        .results
        .iter()
        .filter(|x| x.status == Status::Fail)
        .map(|x| format!("{} {}", x.check.id, x.observed))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answer_is_legal_and_leaves_no_stream_to_judge() {
    // The default request, tools/list, is answered with JSON by the mock.
    let r = check(mock(&[]), None).await;
    not_failed(&r, "H02");
    expect(&r, "H02", Status::Pass, "application/json");
    for id in ["P01", "P02", "P04", "F01"] {
        expect(
            &r,
            id,
            Status::Skip,
            "chose to answer this request with one JSON body",
        );
    }
    expect(&r, "P08", Status::Pass, "Mcp-Session-Id assigned");
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_session_ids_is_named() {
    let r = check(mock(&[Misbehavior::NoSessionId]), Some(COUNT)).await;
    expect(&r, "P08", Status::Warn, "no Mcp-Session-Id");
    expect(&r, "P02", Status::Pass, "mcp:");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_event_ids_are_named() {
    let r = check(mock(&[Misbehavior::DuplicateEventIds]), Some(COUNT)).await;
    expect(&r, "P02", Status::Warn, "repeats");
    expect(
        &r,
        "P08",
        Status::Warn,
        "appear on both the POST stream and the GET stream",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_get_stream_may_answer_405() {
    let mut config = mock(&[]);
    config.mock.mcp_get_stream = false;
    let r = check(config, Some(COUNT)).await;
    expect(&r, "P08", Status::Pass, "GET 405");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_inside_an_event_fails_p01() {
    let r = check(mock(&[Misbehavior::CutMidStream]), Some(COUNT)).await;
    expect(&r, "P01", Status::Fail, "ended inside");
    assert_eq!(r.exit_code(), 1);
}

/// Reads one request (head and its Content-Length body); `None` when the client left.
async fn request(s: &mut TcpStream) -> Option<(String, String)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).into_owned();
                return Some((head, body));
            }
        }
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 || got.len() > 64 * 1024 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// The answer of the event-stream-only MCP server to one request.
fn sse_answer(head: &str, body: &str) -> String {
    let plain = |status: &str| {
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    };
    let stream = |extra: &str, events: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
             {extra}connection: close\r\n\r\n{events}"
        )
    };
    if !head.starts_with("post ") {
        return plain("405 Method Not Allowed");
    }
    if body.contains("\"initialize\"") {
        let result = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"sse-only","version":"1"}}}"#;
        return stream(
            "mcp-session-id: sse-1\r\n",
            &format!("event: message\ndata: {result}\n\n"),
        );
    }
    if !head.contains("mcp-session-id: sse-1") {
        return plain("400 Bad Request");
    }
    if head.contains("mcp-protocol-version:") && !head.contains("mcp-protocol-version: 2025-06-18")
    {
        return plain("400 Bad Request");
    }
    if !body.contains("\"id\"") {
        return plain("202 Accepted");
    }
    let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"ssekit-check","progress":1}}"#;
    let response = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[]}}"#;
    stream(
        "",
        &format!("id: a1\ndata: {progress}\n\nid: a2\ndata: {response}\n\n"),
    )
}

/// An MCP server that answers with event streams only, on 127.0.0.1.
async fn sse_only_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Some((head, body)) = request(&mut s).await {
                    let _ = s.write_all(sse_answer(&head, &body).as_bytes()).await;
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initialize_answered_as_an_event_stream_opens_the_session() {
    let args = CheckArgs {
        stream_max: Duration::from_secs(5),
        only: vec!["H01".into(), "P".into()],
        ..common::profile_args(ProfileArg::Mcp, sse_only_server().await)
    };
    let r = common::run_args(&args).await;
    // The default tools/list went out with the session the SSE-answered initialize assigned.
    expect(&r, "H01", Status::Pass, "200");
    expect(&r, "P02", Status::Pass, "mcp: 2 JSON-RPC message(s)");
    expect(&r, "P08", Status::Pass, "400 without the session id");
    expect(&r, "P08", Status::Pass, "GET 405");
    expect(&r, "P08", Status::Pass, "DELETE 405");
}
