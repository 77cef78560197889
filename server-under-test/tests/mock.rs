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
    #[allow(dead_code)] // MCP tests, next commit
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
