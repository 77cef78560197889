//! The mock OpenAI, Anthropic and MCP endpoints over 127.0.0.1: each happy path parsed with
//! `ssekit-parser`, and each mock misbehaviour observed on the wire (reads are timestamped
//! where the switch is about timing, and the end of the body tells a clean end from a cut).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ssekit_parser::{EndOfStream, OwnedEvent, OwnedFrame, Parser};
use ssekit_server::{Config, Misbehavior, MockConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(5);

/// A fast generator: 6 tokens, 10 ms apart, no think.
fn config(misbehave: &[Misbehavior]) -> Config {
    Config {
        mock: MockConfig {
            tokens: 6,
            token_every: Duration::from_millis(10),
            ..MockConfig::default()
        },
        ..Config::default().with_misbehaviors(misbehave)
    }
}

async fn server(config: Config) -> ServerHandle {
    ssekit_server::start(config).await.expect("server starts")
}

// --- a raw HTTP/1.1 client that timestamps every read ---------------------------------------

/// One response as it came off the socket.
struct Conn {
    tcp: TcpStream,
    sent: Instant,
    status: u16,
    headers: Vec<(String, String)>,
    /// Raw bytes after the head (still chunked).
    raw: Vec<u8>,
    /// Every read after the head: when, and how many bytes of `raw` it ended at.
    reads: Vec<(Duration, usize)>,
    eof: bool,
}

async fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Conn {
    let mut tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let sent = Instant::now();
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut conn = Conn {
        tcp,
        sent,
        status: 0,
        headers: Vec::new(),
        raw: Vec::new(),
        reads: Vec::new(),
        eof: false,
    };
    while find(&conn.raw, b"\r\n\r\n").is_none() {
        assert!(conn.read().await, "closed before the response head");
    }
    let end = find(&conn.raw, b"\r\n\r\n").unwrap();
    let head = String::from_utf8(conn.raw[..end].to_vec()).unwrap();
    let head_read = conn.reads.last().unwrap().0;
    conn.raw.drain(..end + 4);
    conn.reads.clear();
    if !conn.raw.is_empty() {
        conn.reads.push((head_read, conn.raw.len()));
    }
    let mut lines = head.split("\r\n");
    conn.status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    conn.headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    conn
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// One read; false at EOF (a reset counts as EOF).
    async fn read(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        let n = timeout(WAIT, self.tcp.read(&mut buf))
            .await
            .expect("read timed out")
            .unwrap_or(0);
        if n == 0 {
            self.eof = true;
            return false;
        }
        self.raw.extend_from_slice(&buf[..n]);
        self.reads.push((self.sent.elapsed(), self.raw.len()));
        true
    }

    /// The body so far, de-chunked, and whether it ended properly (last chunk or full length).
    fn body(&self) -> (Vec<u8>, bool) {
        if self.status == 204 {
            return (Vec::new(), true);
        }
        if let Some(len) = self.header("content-length") {
            let len: usize = len.parse().unwrap();
            return (
                self.raw[..len.min(self.raw.len())].to_vec(),
                self.raw.len() >= len,
            );
        }
        dechunk(&self.raw)
    }

    fn complete(&self) -> bool {
        self.body().1
    }

    /// Reads until the body ends (cleanly or not).
    async fn finish(&mut self) {
        while !self.complete() && self.read().await {}
    }

    /// Reads until `n` events have arrived.
    async fn until_events(&mut self, n: usize) -> Vec<OwnedEvent> {
        loop {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            assert!(
                !self.complete() && self.read().await,
                "stream ended after {} events",
                events.len()
            );
        }
    }

    fn frames(&self) -> (Vec<OwnedFrame>, EndOfStream) {
        let mut parser = Parser::new();
        let body = self.body().0;
        let mut feed = parser.feed(&body);
        let mut frames = Vec::new();
        while let Some(f) = feed.next_frame() {
            frames.push(f.expect("stream parses").to_owned_frame());
        }
        drop(feed);
        (frames, parser.finish())
    }

    fn events(&self) -> Vec<OwnedEvent> {
        self.frames()
            .0
            .into_iter()
            .filter_map(|f| match f {
                OwnedFrame::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body().0).expect("JSON body")
    }

    /// When the read that brought the first `needle` (whole) arrived.
    fn read_time_of(&self, needle: &[u8]) -> Duration {
        let at = find(&self.raw, needle).expect("bytes present") + needle.len();
        self.reads.iter().find(|(_, end)| *end >= at).unwrap().0
    }

    /// The index of the read that brought the start of the first `needle`.
    fn read_index_of(&self, needle: &[u8]) -> usize {
        let at = find(&self.raw, needle).expect("bytes present");
        self.reads.iter().position(|(_, end)| *end > at).unwrap()
    }
}

/// Decodes a chunked body as far as it goes; true when the last chunk arrived.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = find(raw, b"\r\n") else {
            return (out, false);
        };
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size else {
            return (out, false);
        };
        if size == 0 {
            return (out, raw.len() >= line_end + 4);
        }
        let start = line_end + 2;
        let have = raw.len().saturating_sub(start).min(size);
        out.extend_from_slice(&raw[start..start + have]);
        if have < size || raw.len() < start + size + 2 {
            return (out, false);
        }
        raw = &raw[start + size + 2..];
    }
}

async fn post(addr: SocketAddr, path: &str, body: &Value) -> Conn {
    let headers = [
        ("content-type", "application/json"),
        ("accept", "text/event-stream"),
    ];
    let mut conn = open(addr, "POST", path, &headers, &body.to_string()).await;
    conn.finish().await;
    conn
}

fn chat(stream: bool) -> Value {
    json!({"model": "mock-1", "stream": stream, "messages": [{"role": "user", "content": "say something"}]})
}

fn anthropic(stream: bool) -> Value {
    json!({"model": "mock-1", "max_tokens": 100, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn data_json(e: &OwnedEvent) -> Value {
    serde_json::from_str(&e.data).unwrap_or_else(|_| panic!("JSON data: {:?}", e.data))
}

// --- OpenAI ---------------------------------------------------------------------------------

#[tokio::test]
async fn openai_streams_chunks_then_stop_then_done() {
    let s = server(config(&[])).await;
    let c = post(s.local_addr(), "/v1/chat/completions", &chat(true)).await;
    assert_eq!(c.status, 200);
    assert!(c
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(c.complete(), "the body ends cleanly");
    let events = c.events();
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last.data, "[DONE]");
    assert_eq!(chunks.len(), 1 + 6 + 1, "role, six tokens, stop");
    let mut text = String::new();
    for (i, e) in chunks.iter().enumerate() {
        assert_eq!(
            (e.event_type.as_str(), e.id.as_str()),
            ("message", ""),
            "data-only events"
        );
        let v = data_json(e);
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], "mock-1");
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-") && v["created"].is_u64());
        let choice = &v["choices"][0];
        assert_eq!(choice["index"], 0);
        let last = i == chunks.len() - 1;
        assert_eq!(
            choice["finish_reason"],
            if last { json!("stop") } else { Value::Null }
        );
        if i == 0 {
            assert_eq!(choice["delta"]["role"], "assistant");
        }
        text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
    }
    assert_eq!(text, "Tokens arrive one by one from");
    assert_eq!(
        c.frames().1,
        EndOfStream::default(),
        "nothing left half-sent"
    );
}

#[tokio::test]
async fn openai_without_stream_answers_one_completion_and_refuses_bad_bodies() {
    let s = server(config(&[])).await;
    let c = post(s.local_addr(), "/v1/chat/completions", &chat(false)).await;
    assert_eq!(c.status, 200);
    let v = c.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Tokens arrive one by one from"
    );
    assert_eq!(v["usage"]["completion_tokens"], 6);
    let bad = post(
        s.local_addr(),
        "/v1/chat/completions",
        &json!({"model": "m", "stream": true}),
    )
    .await;
    assert_eq!(bad.status, 400);
    let err = &bad.json()["error"];
    assert_eq!(
        (err["type"].as_str(), err["param"].as_str()),
        (Some("invalid_request_error"), Some("messages"))
    );
    assert!(err["message"].is_string() && err.get("code").is_some());
    let mut junk = open(
        s.local_addr(),
        "POST",
        "/v1/chat/completions",
        &[],
        "{not json",
    )
    .await;
    junk.finish().await;
    assert_eq!(junk.status, 400);
    assert!(junk.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("JSON"));
    let get = open(s.local_addr(), "GET", "/v1/chat/completions", &[], "").await;
    assert_eq!(
        (get.status, get.header("allow")),
        (405, Some("POST, OPTIONS"))
    );
}

#[tokio::test]
async fn openai_failure_mid_stream_is_an_error_chunk_then_done() {
    let s = server(config(&[])).await;
    let c = post(
        s.local_addr(),
        "/v1/chat/completions?fail_after=2",
        &chat(true),
    )
    .await;
    assert!(c.complete());
    let events = c.events();
    let datas: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(
        datas.len(),
        1 + 2 + 2,
        "role, two tokens, the error, [DONE]"
    );
    let err = data_json(&events[3]);
    assert_eq!(err["error"]["type"], "server_error");
    assert_eq!(datas[4], "[DONE]");
    assert!(datas
        .iter()
        .all(|d| !d.contains("\"finish_reason\":\"stop\"")));
}

#[tokio::test]
async fn openai_usage_chunk_comes_before_done_when_asked() {
    let s = server(config(&[])).await;
    let mut body = chat(true);
    body["stream_options"] = json!({"include_usage": true});
    let c = post(s.local_addr(), "/v1/chat/completions?tokens=2", &body).await;
    let events = c.events();
    let usage = data_json(&events[events.len() - 2]);
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 2);
}

// --- Anthropic ------------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_streams_typed_events_in_order() {
    let s = server(config(&[])).await;
    let c = post(s.local_addr(), "/v1/messages?tokens=3", &anthropic(true)).await;
    assert_eq!(c.status, 200);
    assert!(c.complete());
    let events = c.events();
    let names: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for e in &events {
        assert_eq!(
            data_json(e)["type"],
            e.event_type.as_str(),
            "event name and type agree"
        );
    }
    let start = data_json(&events[0]);
    assert_eq!(
        (
            start["message"]["role"].as_str(),
            start["message"]["model"].as_str()
        ),
        (Some("assistant"), Some("mock-1"))
    );
    let text: String = events[3..6]
        .iter()
        .map(|e| data_json(e)["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Tokens arrive one");
    assert_eq!(data_json(&events[3])["delta"]["type"], "text_delta");
    let delta = data_json(&events[7]);
    assert_eq!(
        (
            delta["delta"]["stop_reason"].as_str(),
            delta["usage"]["output_tokens"].as_u64()
        ),
        (Some("end_turn"), Some(3))
    );
}

#[tokio::test]
async fn anthropic_failure_is_an_error_event_and_bad_bodies_a_400() {
    let s = server(config(&[])).await;
    let c = post(
        s.local_addr(),
        "/v1/messages?fail_after=1",
        &anthropic(true),
    )
    .await;
    assert!(c.complete());
    let events = c.events();
    let last = events.last().unwrap();
    assert_eq!(last.event_type, "error");
    let err = data_json(last);
    assert_eq!(
        (err["type"].as_str(), err["error"]["type"].as_str()),
        (Some("error"), Some("api_error"))
    );
    assert!(events.iter().all(|e| e.event_type != "message_stop"));
    let bad = post(
        s.local_addr(),
        "/v1/messages",
        &json!({"model": "m", "messages": [{}]}),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["type"], "invalid_request_error");
    let whole = post(s.local_addr(), "/v1/messages", &anthropic(false)).await;
    assert_eq!(
        whole.json()["content"][0]["text"],
        "Tokens arrive one by one from"
    );
}

// --- mock misbehaviours (OpenAI / Anthropic) ---------------------------------------------------

#[tokio::test]
async fn buffer_until_done_sends_the_whole_stream_in_one_burst() {
    let mut cfg = config(&[]);
    cfg.mock.token_every = Duration::from_millis(40);
    let good = server(cfg.clone()).await;
    let c = post(
        good.local_addr(),
        "/v1/chat/completions?tokens=4",
        &chat(true),
    )
    .await;
    let spread = c.read_time_of(b"[DONE]") - c.read_time_of(b"\"role\"");
    assert!(
        spread >= Duration::from_millis(120),
        "tokens are paced: {spread:?}"
    );

    let bad = server(Config {
        misbehave: config(&[Misbehavior::BufferUntilDone]).misbehave,
        ..cfg
    })
    .await;
    let c = post(
        bad.local_addr(),
        "/v1/chat/completions?tokens=4",
        &chat(true),
    )
    .await;
    assert_eq!(
        c.read_index_of(b"\"role\""),
        c.read_index_of(b"[DONE]"),
        "first and last event in the same read"
    );
    assert!(
        c.read_time_of(b"\"role\"") >= Duration::from_millis(160),
        "nothing before the end"
    );
    assert_eq!(c.events().len(), 1 + 4 + 1 + 1, "everything still arrives");
}

#[tokio::test]
async fn no_done_sentinel_ends_after_stop_without_done() {
    let s = server(config(&[Misbehavior::NoDoneSentinel])).await;
    let c = post(s.local_addr(), "/v1/chat/completions", &chat(true)).await;
    assert!(c.complete(), "a clean end");
    let events = c.events();
    assert!(events.iter().all(|e| e.data != "[DONE]"));
    assert_eq!(
        data_json(events.last().unwrap())["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn cut_mid_stream_drops_the_connection_inside_an_event() {
    let s = server(config(&[Misbehavior::CutMidStream])).await;
    for path in ["/v1/chat/completions", "/v1/messages"] {
        let body = if path == "/v1/messages" {
            anthropic(true)
        } else {
            chat(true)
        };
        let c = post(s.local_addr(), path, &body).await;
        assert!(c.eof && !c.complete(), "{path}: no last chunk");
        let (_, end) = c.frames();
        assert!(end.incomplete_line, "{path}: the body stops mid-line");
        let events = c.events();
        assert!(events
            .iter()
            .all(|e| e.event_type != "error" && e.data != "[DONE]"));
    }
}

#[tokio::test]
async fn error_as_reset_drops_the_connection_instead_of_an_error_event() {
    let s = server(config(&[Misbehavior::ErrorAsReset])).await;
    let c = post(
        s.local_addr(),
        "/v1/messages?fail_after=2",
        &anthropic(true),
    )
    .await;
    assert!(c.eof && !c.complete(), "no last chunk");
    assert_eq!(c.frames().1, EndOfStream::default(), "cut between events");
    let names: Vec<String> = c.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("content_block_delta")
    );
    let c = post(
        s.local_addr(),
        "/v1/chat/completions?fail_after=2",
        &chat(true),
    )
    .await;
    assert!(!c.complete() && c.events().iter().all(|e| !e.data.contains("error")));
    let ok = post(s.local_addr(), "/v1/chat/completions", &chat(true)).await;
    assert!(ok.complete(), "without a failure the stream is unchanged");
}

#[tokio::test]
async fn a_long_think_carries_heartbeats_unless_silent_think() {
    let base = Config {
        heartbeat: Some(Duration::from_millis(100)),
        ..config(&[])
    };
    let good = server(base.clone()).await;
    let c = post(
        good.local_addr(),
        "/v1/messages?think_ms=450&tokens=1",
        &anthropic(true),
    )
    .await;
    let comments = c
        .frames()
        .0
        .iter()
        .filter(|f| matches!(f, OwnedFrame::Comment(_)))
        .count();
    assert!(comments >= 3, "heartbeats fill the think: {comments}");
    assert!(c.read_time_of(b"content_block_delta") >= Duration::from_millis(450));

    let bad = server(Config {
        misbehave: config(&[Misbehavior::SilentThink]).misbehave,
        ..base
    })
    .await;
    let c = post(
        bad.local_addr(),
        "/v1/messages?think_ms=0&tokens=1",
        &anthropic(true),
    )
    .await;
    assert!(c
        .frames()
        .0
        .iter()
        .all(|f| !matches!(f, OwnedFrame::Comment(_))));
    let gap = c.read_time_of(b"content_block_delta") - c.read_time_of(b"event: ping");
    assert!(
        gap >= Duration::from_millis(200),
        "a silence of two heartbeats: {gap:?}"
    );
}

// --- MCP Streamable HTTP ---------------------------------------------------------------------

const BOTH: &str = "application/json, text/event-stream";

/// POSTs one JSON-RPC message with the headers a 2025-06-18 client sends.
async fn rpc(addr: SocketAddr, session: Option<&str>, body: Value) -> Conn {
    let mut headers = vec![("content-type", "application/json"), ("accept", BOTH)];
    if let Some(id) = session {
        headers.push(("mcp-session-id", id));
        headers.push(("mcp-protocol-version", "2025-06-18"));
    }
    let mut conn = open(addr, "POST", "/mcp", &headers, &body.to_string()).await;
    conn.finish().await;
    conn
}

async fn initialize(addr: SocketAddr) -> (Conn, Option<String>) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}});
    let c = rpc(addr, None, init).await;
    let session = c.header("mcp-session-id").map(str::to_owned);
    (c, session)
}

fn count_call(n: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "count", "arguments": {"n": n}, "_meta": {"progressToken": "p"}}})
}

/// A GET of the server-to-client stream.
async fn listen(addr: SocketAddr, path: &str, session: &str, last_event_id: Option<&str>) -> Conn {
    let mut headers = vec![("accept", "text/event-stream"), ("mcp-session-id", session)];
    headers.extend(last_event_id.map(|id| ("last-event-id", id)));
    open(addr, "GET", path, &headers, "").await
}

#[tokio::test]
async fn mcp_session_header_round_trip_and_delete() {
    let s = server(config(&[])).await;
    let addr = s.local_addr();
    let (init, session) = initialize(addr).await;
    assert_eq!(init.status, 200);
    assert_eq!(init.json()["result"]["protocolVersion"], "2025-06-18");
    let session = session.expect("Mcp-Session-Id on the InitializeResult");
    assert!(session.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let c = rpc(addr, Some(&session), note).await;
    assert_eq!((c.status, c.body().0.len()), (202, 0));
    let c = rpc(addr, Some(&session), list.clone()).await;
    let tools = c.json();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "count"]);
    assert_eq!(
        rpc(addr, None, list.clone()).await.status,
        400,
        "no session header"
    );
    assert_eq!(
        rpc(addr, Some("nope"), list.clone()).await.status,
        404,
        "unknown session"
    );
    let bad_version = [
        ("accept", BOTH),
        ("mcp-session-id", session.as_str()),
        ("mcp-protocol-version", "1999-01-01"),
    ];
    let mut c = open(addr, "POST", "/mcp", &bad_version, &list.to_string()).await;
    c.finish().await;
    assert_eq!(c.status, 400);
    let evil = [
        ("accept", BOTH),
        ("mcp-session-id", session.as_str()),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(
        open(addr, "POST", "/mcp", &evil, &list.to_string())
            .await
            .status,
        403
    );
    let mut del = open(addr, "DELETE", "/mcp", &[("mcp-session-id", &session)], "").await;
    del.finish().await;
    assert_eq!(del.status, 204);
    assert_eq!(
        rpc(addr, Some(&session), list).await.status,
        404,
        "ended session"
    );
}

#[tokio::test]
async fn mcp_tool_call_streams_progress_then_the_response() {
    let s = server(config(&[])).await;
    let addr = s.local_addr();
    let session = initialize(addr).await.1.unwrap();
    let c = rpc(addr, Some(&session), count_call(4)).await;
    assert_eq!(c.status, 200);
    assert!(c
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(c.complete(), "closed after the response");
    let events = c.events();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["s1-1", "s1-2", "s1-3", "s1-4", "s1-5"]);
    for (i, e) in events[..4].iter().enumerate() {
        let v = data_json(e);
        assert_eq!(v["method"], "notifications/progress");
        assert_eq!(
            (
                v["params"]["progressToken"].as_str(),
                v["params"]["progress"].as_u64()
            ),
            (Some("p"), Some(i as u64 + 1))
        );
    }
    let answer = data_json(&events[4]);
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "1 2 3 4");
    let second = rpc(addr, Some(&session), count_call(1)).await;
    assert_eq!(
        second.events()[0].id,
        "s2-1",
        "ids stay unique across the session's streams"
    );

    let json_only = [
        ("accept", "application/json"),
        ("mcp-session-id", session.as_str()),
    ];
    let mut c = open(addr, "POST", "/mcp", &json_only, &count_call(3).to_string()).await;
    c.finish().await;
    assert!(c
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(c.json()["result"]["content"][0]["text"], "1 2 3");
    let echo = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}});
    assert_eq!(
        rpc(addr, Some(&session), echo).await.json()["result"]["content"][0]["text"],
        "hi"
    );
}

#[tokio::test]
async fn mcp_failure_is_a_json_rpc_error_on_the_stream() {
    let s = server(config(&[])).await;
    let addr = s.local_addr();
    let session = initialize(addr).await.1.unwrap();
    let headers = [("accept", BOTH), ("mcp-session-id", session.as_str())];
    let mut c = open(
        addr,
        "POST",
        "/mcp?fail_after=2",
        &headers,
        &count_call(5).to_string(),
    )
    .await;
    c.finish().await;
    assert!(c.complete());
    let events = c.events();
    assert_eq!(events.len(), 3);
    assert_eq!(data_json(&events[2])["error"]["code"], -32603);
}

#[tokio::test]
async fn mcp_get_stream_resumes_after_last_event_id_and_ends_with_the_session() {
    let s = server(config(&[])).await;
    let addr = s.local_addr();
    let session = initialize(addr).await.1.unwrap();
    let mut first = listen(addr, "/mcp?tokens=6&token_ms=20", &session, None).await;
    assert_eq!(first.status, 200);
    let seen = first.until_events(2).await;
    assert_eq!(data_json(&seen[0])["method"], "notifications/message");
    let last = seen[1].id.clone();
    assert_eq!(last, "g1-2");
    drop(first);
    let mut again = listen(addr, "/mcp", &session, Some(&last)).await;
    let rest = again.until_events(4).await;
    let ticks: Vec<String> = rest
        .iter()
        .map(|e| data_json(e)["params"]["data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ticks,
        ["tick 3", "tick 4", "tick 5", "tick 6"],
        "resumed right after {last}"
    );
    let mut del = open(addr, "DELETE", "/mcp", &[("mcp-session-id", &session)], "").await;
    del.finish().await;
    again.finish().await;
    assert!(again.complete(), "the stream ends cleanly with its session");
    let no_session = open(addr, "GET", "/mcp", &[("accept", "text/event-stream")], "").await;
    assert_eq!(no_session.status, 400);

    let off = server(Config {
        mock: MockConfig {
            mcp_get_stream: false,
            ..MockConfig::default()
        },
        ..config(&[])
    })
    .await;
    let session = initialize(off.local_addr()).await.1.unwrap();
    let c = listen(off.local_addr(), "/mcp", &session, None).await;
    assert_eq!(c.status, 405);
}

#[tokio::test]
async fn mcp_cut_mid_stream_then_resume_with_last_event_id() {
    let s = server(config(&[Misbehavior::CutMidStream])).await;
    let addr = s.local_addr();
    let session = initialize(addr).await.1.unwrap();
    let c = rpc(addr, Some(&session), count_call(6)).await;
    assert!(c.eof && !c.complete(), "cut, not ended");
    assert!(c.frames().1.incomplete_line, "inside an event");
    let got = c.events();
    assert_eq!(got.len(), 3, "half of the seven events");
    let mut resumed = listen(addr, "/mcp", &session, Some(&got[2].id)).await;
    resumed.finish().await;
    assert!(resumed.complete());
    let rest = resumed.events();
    let ids: Vec<&str> = rest.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["s1-4", "s1-5", "s1-6", "s1-7"]);
    assert_eq!(
        data_json(&rest[3])["id"],
        7,
        "the response is replayed on the resumed stream"
    );
}

#[tokio::test]
async fn mcp_error_as_reset_and_buffer_until_done() {
    let s = server(config(&[Misbehavior::ErrorAsReset])).await;
    let session = initialize(s.local_addr()).await.1.unwrap();
    let headers = [("accept", BOTH), ("mcp-session-id", session.as_str())];
    let mut c = open(
        s.local_addr(),
        "POST",
        "/mcp?fail_after=2",
        &headers,
        &count_call(5).to_string(),
    )
    .await;
    c.finish().await;
    assert!(
        !c.complete() && c.events().len() == 2,
        "two progress events, then a cut"
    );
    assert_eq!(c.frames().1, EndOfStream::default());

    let s = server(config(&[Misbehavior::BufferUntilDone])).await;
    let session = initialize(s.local_addr()).await.1.unwrap();
    let c = rpc(s.local_addr(), Some(&session), count_call(5)).await;
    assert!(c.complete());
    assert_eq!(
        c.read_index_of(b"s1-1"),
        c.read_index_of(b"s1-6"),
        "one burst"
    );
}

#[tokio::test]
async fn mcp_no_session_id_and_duplicate_event_ids() {
    let s = server(config(&[Misbehavior::NoSessionId])).await;
    let (init, session) = initialize(s.local_addr()).await;
    assert_eq!((init.status, session), (200, None), "no Mcp-Session-Id");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(
        rpc(s.local_addr(), None, list.clone()).await.status,
        200,
        "nothing enforced"
    );
    assert_eq!(
        rpc(s.local_addr(), Some("made-up"), list).await.status,
        200,
        "any id accepted"
    );

    let s = server(config(&[Misbehavior::DuplicateEventIds])).await;
    let session = initialize(s.local_addr()).await.1.unwrap();
    let c = rpc(s.local_addr(), Some(&session), count_call(3)).await;
    let ids: Vec<String> = c.events().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["1", "1", "3", "3"]);
}

// --- cross-checks with the official Python clients ---------------------------------------------

/// The Python with the pinned clients: the zoo's venv (`conformance/tests/zoo/setup.sh`
/// installs `openai` and `anthropic` there from its hashed requirements), else `python3`.
fn python() -> String {
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/tests/zoo/.venv/bin/python"
    );
    match std::path::Path::new(venv).exists() {
        true => venv.to_owned(),
        false => "python3".to_owned(),
    }
}

/// Runs `tests/clients/SCRIPT` against the server; `None` (SKIP) without python3 or the
/// client package.
async fn python_client(script: &str, addr: SocketAddr, query: Value) -> Option<Value> {
    let script = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let base = format!("http://{addr}");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python())
            .args([&script, &base, &query.to_string()])
            .output()
    });
    let out = match timeout(Duration::from_secs(60), run)
        .await
        .expect("client timed out")
        .unwrap()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIP: python3 cannot run ({e})");
            return None;
        }
    };
    if out.status.code() == Some(3) {
        eprintln!("SKIP: {}", String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("one JSON line"))
}

#[tokio::test]
async fn the_official_openai_client_reads_the_stream_and_its_error_chunk() {
    let s = server(config(&[])).await;
    let client = |query| python_client("openai_stream.py", s.local_addr(), query);
    let Some(read) = client(json!({})).await else {
        return;
    };
    assert_eq!(read["text"], "Tokens arrive one by one from");
    assert_eq!(read["finish_reason"], "stop");
    assert_eq!(
        read["chunks"], 8,
        "role, six tokens, stop; [DONE] is not a chunk"
    );
    let failed = client(json!({"fail_after": 2})).await.unwrap();
    assert_eq!(
        failed["error"], "APIError",
        "the error chunk is raised: {failed}"
    );
    assert_eq!(failed["text"], "Tokens arrive");
}

#[tokio::test]
async fn browsers_may_send_and_read_the_mcp_headers() {
    let s = server(Config {
        cors_origins: vec!["https://app.example".into()],
        ..config(&[])
    })
    .await;
    let origin = ("origin", "https://app.example");
    let preflight = [
        origin,
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "mcp-session-id"),
    ];
    let c = open(s.local_addr(), "OPTIONS", "/mcp", &preflight, "").await;
    assert!(c
        .header("access-control-allow-headers")
        .unwrap()
        .contains("Mcp-Session-Id"));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let c = open(
        s.local_addr(),
        "POST",
        "/mcp",
        &[origin, ("accept", BOTH)],
        &init.to_string(),
    )
    .await;
    assert_eq!(c.status, 200, "a configured origin passes the Origin check");
    assert_eq!(
        c.header("access-control-expose-headers"),
        Some("Mcp-Session-Id")
    );
}

#[tokio::test]
async fn the_official_anthropic_client_reads_the_events_and_the_error_event() {
    let s = server(config(&[])).await;
    let client = |query| python_client("anthropic_stream.py", s.local_addr(), query);
    let Some(read) = client(json!({"tokens": 3})).await else {
        return;
    };
    assert_eq!(read["text"], "Tokens arrive one");
    assert_eq!(read["stop_reason"], "end_turn");
    assert_eq!(read["events"][0], "message_start");
    assert_eq!(
        read["events"].as_array().unwrap().last().unwrap(),
        "message_stop"
    );
    let failed = client(json!({"fail_after": 1})).await.unwrap();
    assert!(
        failed["error"].is_string(),
        "the error event is raised: {failed}"
    );
    assert_eq!(failed["text"], "Tokens");
}

#[tokio::test]
async fn mock_switches_leave_the_stream_path_alone() {
    let s = server(config(&[
        Misbehavior::CutMidStream,
        Misbehavior::SilentThink,
    ]))
    .await;
    let mut c = open(
        s.local_addr(),
        "GET",
        "/stream",
        &[("accept", "text/event-stream")],
        "",
    )
    .await;
    assert_eq!(c.status, 200);
    while find(&c.body().0, b"retry: ").is_none() {
        assert!(c.read().await, "the stream ended");
    }
    assert!(
        c.body().0.starts_with(b": ssekit: stream open\nretry: "),
        "the usual priming frame"
    );
    assert_eq!(s.metrics().streams_direct, 1, "still on the direct path");
}
