//! A raw HTTP/1.1 client for the integration tests: it shows exactly what is on the wire
//! (status line, headers, chunked body) and parses streams with `ssekit_parser`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ssekit_parser::{OwnedEvent, OwnedFrame, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[cfg(feature = "misbehave")]
pub use ssekit_server::Misbehavior;
pub use ssekit_server::{Config, ServerHandle};

/// Upper bound for any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn server(config: Config) -> ServerHandle {
    ssekit_server::start(config).await.expect("server starts")
}

#[cfg(feature = "misbehave")]
pub fn misbehaving(list: &[Misbehavior]) -> Config {
    Config::default().with_misbehaviors(list)
}

/// A response: status, headers (lower-case names) and a body reader.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    tcp: TcpStream,
    buf: Vec<u8>,
    body: Body,
    /// Body bytes decoded so far that the event parser has not seen yet.
    pending: Vec<u8>,
    /// Every body byte, as decoded (what a client sees).
    pub raw: Vec<u8>,
    /// Non-empty chunks of a chunked body read so far (how the server cut its writes).
    pub chunks: usize,
    parser: Parser,
    frames: std::collections::VecDeque<OwnedFrame>,
    pub eof: bool,
}

enum Body {
    Chunked { left: usize, done: bool },
    Length(usize),
    Close,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads more from the socket into `pending`/`raw`. Returns false at the end of the body.
    async fn fill(&mut self) -> bool {
        loop {
            if let Some(progress) = self.decode() {
                if progress {
                    return true;
                }
            } else {
                self.eof = true;
                return false;
            }
            let mut chunk = [0u8; 16384];
            let n = timeout(WAIT, self.tcp.read(&mut chunk))
                .await
                .expect("read timed out")
                .unwrap_or(0);
            if n == 0 {
                self.eof = true;
                return false;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Moves decoded body bytes out of `buf`. `Some(true)`: produced bytes; `Some(false)`:
    /// needs more input; `None`: the body ended.
    fn decode(&mut self) -> Option<bool> {
        let mut produced = false;
        loop {
            match &mut self.body {
                Body::Close => {
                    if self.buf.is_empty() {
                        return Some(produced);
                    }
                    let b = std::mem::take(&mut self.buf);
                    self.push(&b);
                    return Some(true);
                }
                Body::Length(left) => {
                    if *left == 0 {
                        return if produced { Some(true) } else { None };
                    }
                    let n = (*left).min(self.buf.len());
                    if n == 0 {
                        return Some(produced);
                    }
                    *left -= n;
                    let b: Vec<u8> = self.buf.drain(..n).collect();
                    self.push(&b);
                    produced = true;
                }
                Body::Chunked { done: true, .. } => {
                    return if produced { Some(true) } else { None };
                }
                Body::Chunked { left, done } => {
                    if *left > 0 {
                        let n = (*left).min(self.buf.len());
                        if n == 0 {
                            return Some(produced);
                        }
                        *left -= n;
                        let b: Vec<u8> = self.buf.drain(..n).collect();
                        self.push(&b);
                        produced = true;
                        continue;
                    }
                    // Expect (CRLF after a previous chunk and) a size line.
                    let Some(end) = find(&self.buf, b"\r\n") else {
                        return Some(produced);
                    };
                    if end == 0 {
                        self.buf.drain(..2);
                        continue;
                    }
                    let line = String::from_utf8_lossy(&self.buf[..end]).to_string();
                    let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                        .expect("chunk size");
                    if size == 0 {
                        // Wait for the final CRLF so the connection is clean.
                        if self.buf.len() < end + 4 {
                            return Some(produced);
                        }
                        self.buf.drain(..end + 4);
                        *done = true;
                        continue;
                    }
                    self.buf.drain(..end + 2);
                    *left = size;
                    self.chunks += 1;
                }
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        self.pending.extend_from_slice(bytes);
        let mut feed = self.parser.feed(&self.pending);
        while let Some(frame) = feed.next_frame() {
            self.frames
                .push_back(frame.expect("stream parses").to_owned_frame());
        }
        drop(feed);
        self.pending.clear();
    }

    /// The next frame (event, retry, comment), or `None` at the end of the body.
    pub async fn next_frame(&mut self) -> Option<OwnedFrame> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Some(f);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next event, skipping comments and retry; `None` at the end of the body.
    pub async fn next_event(&mut self) -> Option<OwnedEvent> {
        loop {
            match self.next_frame().await? {
                OwnedFrame::Event(e) => return Some(e),
                _ => continue,
            }
        }
    }

    /// The next `n` events (panics if the stream ends first).
    pub async fn events(&mut self, n: usize) -> Vec<OwnedEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.next_event().await.expect("stream ended early"));
        }
        out
    }

    /// Reads the rest of the body (bounded by `WAIT` per read).
    pub async fn body(mut self) -> Vec<u8> {
        while self.fill().await {}
        self.raw
    }

    /// Reads until the end, returning the frames seen and what the parser was left with.
    pub async fn until_end(&mut self) -> (Vec<OwnedFrame>, ssekit_parser::EndOfStream) {
        let mut frames = Vec::new();
        while let Some(f) = self.next_frame().await {
            frames.push(f);
        }
        (frames, self.parser.finish())
    }

    pub fn into_tcp(self) -> TcpStream {
        self.tcp
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends a request and reads the status line and headers.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    tcp.write_all(&bytes).await.expect("send request");
    read_head(tcp, method == "HEAD").await
}

/// Sends raw request bytes (for hostile headers).
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Response {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(bytes).await.expect("send request");
    read_head(tcp, false).await
}

async fn read_head(mut tcp: TcpStream, head: bool) -> Response {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("response head timed out")
            .expect("read");
        assert!(n > 0, "connection closed before the response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8(buf[..end].to_vec()).expect("head is UTF-8");
    let rest = buf[end + 4..].to_vec();
    let mut lines = head_text.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if head || status == 204 || status == 304 {
        Body::Length(0)
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        Body::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(len) = get("content-length") {
        Body::Length(len.parse().unwrap())
    } else {
        Body::Close
    };
    Response {
        status,
        headers,
        tcp,
        buf: rest,
        body,
        pending: Vec::new(),
        raw: Vec::new(),
        chunks: 0,
        parser: Parser::new(),
        frames: Default::default(),
        eof: false,
    }
}

/// Opens `GET path` as an event stream.
pub async fn stream(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("accept", "text/event-stream")];
    all.extend_from_slice(headers);
    request(addr, "GET", path, &all, b"").await
}

/// A whole request-response exchange, with `connection: close`.
pub async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut all = vec![("connection", "close")];
    all.extend_from_slice(headers);
    let res = request(addr, method, path, &all, body).await;
    let (status, headers) = (res.status, res.headers.clone());
    (status, headers, res.body().await)
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Waits (bounded) until `cond` holds on the server's metrics.
pub async fn until_metrics(
    server: &ServerHandle,
    cond: impl Fn(&ssekit_server::MetricsSnapshot) -> bool,
) -> ssekit_server::MetricsSnapshot {
    timeout(WAIT, async {
        loop {
            let m = server.metrics();
            if cond(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("metrics condition not reached in time")
}

/// A WebSocket client connection to `/ws`.
pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens `path` (`/ws...`) on `addr` as a WebSocket, asserting the 101.
pub async fn ws_connect(addr: SocketAddr, path: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, res) = timeout(
        WAIT,
        tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    assert_eq!(res.status(), 101);
    ws
}

/// The next text frame as JSON, or the close frame's (code, reason). Pings are skipped.
pub async fn ws_next(ws: &mut Ws) -> Result<serde_json::Value, (u16, String)> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("connection open")
            .expect("a frame");
        match msg {
            Message::Text(t) => return Ok(serde_json::from_str(&t).unwrap()),
            Message::Close(Some(c)) => return Err((c.code.into(), c.reason.to_string())),
            Message::Close(None) => return Err((0, String::new())),
            _ => {}
        }
    }
}
