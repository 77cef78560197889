//! The runner's own little web server for the browser: it serves the probe page and, on the
//! same origin, a recording proxy to the target's stream (and "gone") URLs. The proxy forwards
//! the browser's requests with the user's `--header`s, records what the browser sent
//! (`Last-Event-ID`, cookies) and what the server answered (status, type, events, `retry`),
//! and can end the browser's stream at an event boundary, the way a server closes it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use ssekit_parser::{Frame as SseFrame, IgnoreReason, Parser};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BrowserError;
use crate::capture::BodyDecoder;
use crate::probe::{self, Next};

/// The probe page.
const PAGE: &str = include_str!("page.html");

/// Where the page's EventSources point.
pub const STREAM_PATH: &str = "/sse/stream";
/// The proxied "gone" URL.
pub const GONE_PATH: &str = "/sse/gone";

/// What the proxy forwards to.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The target's stream URL.
    pub stream: Uri,
    /// The target's "stop reconnecting" URL, when known.
    pub gone: Option<Uri>,
    /// The user's `--header`s, sent upstream with every request.
    pub headers: HeaderMap,
    /// Bound on connecting and on the response head.
    pub timeout: Duration,
}

/// Which proxied URL a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The stream URL.
    Stream,
    /// The "gone" URL.
    Gone,
}

/// How a proxied response ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// The runner ended it at an event boundary (a server-side close, as the browser sees it).
    Cut,
    /// The server ended the body cleanly.
    ServerEof,
    /// The connection to the server failed mid-body.
    ServerError(String),
    /// The browser went away (EventSource closed or failed the connection).
    BrowserClosed,
    /// Forwarding stopped so the run could be judged.
    Frozen,
}

/// One event as the project's parser read it off the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WireEvent {
    /// Event type (`message` by default).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Data.
    pub data: String,
    /// The last event id at dispatch.
    pub id: String,
}

/// One request the browser made through the proxy.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Which URL.
    pub route: Route,
    /// Milliseconds from the proxy's start to the request.
    pub at_ms: u64,
    /// The `Last-Event-ID` header the browser sent.
    pub last_event_id: Option<String>,
    /// Whether the browser sent a `Cookie` header.
    pub cookie: bool,
    /// The server's status (None when it could not be reached).
    pub status: Option<u16>,
    /// The server's `Content-Type`.
    pub content_type: Option<String>,
    /// Why the server could not be reached.
    pub error: Option<String>,
    /// Events the server sent on this response (its content coding undone).
    pub events: Vec<WireEvent>,
    /// Bytes of a gzip body that came after its first member, which browsers drop unread.
    pub dropped_after_first_member: Option<u64>,
    /// The last `retry` value the server sent on this response.
    pub retry: Option<u64>,
    /// `retry` lines that were not digits (ignored by the parser, and by browsers).
    pub retry_ignored: Vec<String>,
    /// Milliseconds from the proxy's start to the end of the response.
    pub ended_ms: Option<u64>,
    /// How it ended.
    pub end: Option<End>,
}

struct State {
    upstream: Upstream,
    started: Instant,
    log: Mutex<Vec<Exchange>>,
    cut: AtomicBool,
    frozen: AtomicBool,
}

impl State {
    fn ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Records what a read held unless forwarding has stopped (checked under the log's lock,
    /// so whatever is recorded is also forwarded, and nothing after the freeze is).
    fn record_unless_frozen(&self, index: usize, f: impl FnOnce(&mut Exchange)) -> bool {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if self.frozen.load(Ordering::SeqCst) {
            return false;
        }
        if let Some(e) = log.get_mut(index) {
            f(e);
        }
        true
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Exchange)) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = log.get_mut(index) {
            f(e);
        }
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// The running page server and proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on `127.0.0.1:0`.
    pub async fn start(upstream: Upstream) -> Result<Self, BrowserError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BrowserError::Launch(format!("cannot listen for the probe page: {e}")))?;
        Self::serve(listener, upstream)
    }

    /// Serves on a listener bound beforehand, so the page's origin is known before the session
    /// (a server can then be configured to allow it).
    pub fn start_on(
        listener: std::net::TcpListener,
        upstream: Upstream,
    ) -> Result<Self, BrowserError> {
        let launch = |e: std::io::Error| {
            BrowserError::Launch(format!("cannot listen for the probe page: {e}"))
        };
        listener.set_nonblocking(true).map_err(launch)?;
        Self::serve(TcpListener::from_std(listener).map_err(launch)?, upstream)
    }

    fn serve(listener: TcpListener, upstream: Upstream) -> Result<Self, BrowserError> {
        let addr = listener
            .local_addr()
            .map_err(|e| BrowserError::Launch(e.to_string()))?;
        let state = Arc::new(State {
            upstream,
            started: Instant::now(),
            log: Mutex::new(Vec::new()),
            cut: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
        });
        let for_accept = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let state = Arc::clone(&for_accept);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Proxy { addr, state, task })
    }

    /// The probe page's URL.
    pub fn page_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The probe page's origin (what its requests send as `Origin`).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Milliseconds since the proxy started (the clock of [`Exchange`] times).
    pub fn now_ms(&self) -> u64 {
        self.state.ms()
    }

    /// Ends the open stream response at its next event boundary.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
    }

    /// Stops forwarding anything more, so what the browser shows can be compared with what
    /// was forwarded.
    pub fn freeze(&self) {
        let _log = self.state.log.lock().unwrap_or_else(|p| p.into_inner());
        self.state.frozen.store(true, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()).boxed());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn answer(state: Arc<State>, req: hyper::Request<Incoming>) -> Response<Body> {
    match req.uri().path() {
        "/" => full(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        STREAM_PATH => forward(state, Route::Stream, req.headers()).await,
        GONE_PATH => forward(state, Route::Gone, req.headers()).await,
        _ => full(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

/// Headers that describe one hop, not the response.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
];

async fn forward(state: Arc<State>, route: Route, asked: &HeaderMap) -> Response<Body> {
    let text = |name: header::HeaderName| {
        asked
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let last_event_id = text(header::HeaderName::from_static("last-event-id"));
    let index = {
        let mut log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push(Exchange {
            route,
            at_ms: state.ms(),
            last_event_id: last_event_id.clone(),
            cookie: asked.contains_key(header::COOKIE),
            status: None,
            content_type: None,
            error: None,
            events: Vec::new(),
            dropped_after_first_member: None,
            retry: None,
            retry_ignored: Vec::new(),
            ended_ms: None,
            end: None,
        });
        log.len() - 1
    };
    let uri = match route {
        Route::Stream => Some(state.upstream.stream.clone()),
        Route::Gone => state.upstream.gone.clone(),
    };
    let Some(uri) = uri else {
        return full(StatusCode::NOT_FOUND, "text/plain", "no gone URL\n");
    };
    let mut request = probe::Request::sse(uri, &state.upstream.headers);
    for name in [
        header::COOKIE,
        header::HeaderName::from_static("last-event-id"),
    ] {
        if let Some(v) = asked.get(&name) {
            request.headers.insert(name, v.clone());
        }
    }
    let upstream = match probe::send(request, state.upstream.timeout).await {
        Ok(r) => r,
        Err(e) => {
            let reason = e.to_string();
            state.update(index, |x| {
                x.error = Some(reason.clone());
                x.ended_ms = Some(state.ms());
            });
            return full(StatusCode::BAD_GATEWAY, "text/plain", reason);
        }
    };
    let content_type = upstream
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    state.update(index, |x| {
        x.status = Some(upstream.status.as_u16());
        x.content_type = content_type;
    });
    let mut res = Response::builder().status(upstream.status);
    for (name, value) in &upstream.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            res = res.header(name, value);
        }
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), rx))
    }));
    let parser = match &last_event_id {
        Some(id) => Parser::new().with_last_event_id(id.as_str()),
        None => Parser::new(),
    }
    .report_ignored(true);
    let coding = upstream
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .and_then(Decoders::for_coding);
    tokio::spawn(pump(state, index, route, upstream, (parser, coding), tx));
    res.body(body.boxed()).unwrap_or_else(|_| {
        full(
            StatusCode::BAD_GATEWAY,
            "text/plain",
            "bad upstream headers\n",
        )
    })
}

/// Copies the server's body to the browser, parsing it on the way, until one side ends or the
/// runner cuts or freezes the stream.
async fn pump(
    state: Arc<State>,
    index: usize,
    route: Route,
    mut upstream: probe::Response,
    (mut parser, mut coding): (Parser, Option<Decoders>),
    tx: mpsc::Sender<Bytes>,
) {
    let mut at_boundary = true;
    let end = loop {
        if state.frozen.load(Ordering::SeqCst) {
            // Hold the connection without forwarding until the page is read.
            let _ = tokio::time::timeout(Duration::from_secs(30), tx.closed()).await;
            break End::Frozen;
        }
        if route == Route::Stream && at_boundary && state.cut.swap(false, Ordering::SeqCst) {
            break End::Cut;
        }
        let tick = Instant::now() + Duration::from_millis(50);
        let read = match upstream.next(tick).await {
            Next::Deadline => continue,
            Next::Eof(_) => break End::ServerEof,
            Next::Error(_, e) => break End::ServerError(e),
            Next::Data(read) => read,
        };
        let text = match coding.as_mut() {
            Some(c) => c.decode(&read.bytes),
            None => read.bytes.to_vec(),
        };
        let seen = parse(&mut parser, &text);
        let dropped = coding.as_ref().and_then(Decoders::dropped);
        let recorded = state.record_unless_frozen(index, |x| {
            x.events.extend(seen.events);
            x.dropped_after_first_member = dropped;
            x.retry_ignored.extend(seen.retry_ignored);
            if seen.retry.is_some() {
                x.retry = seen.retry;
            }
        });
        if !recorded {
            continue;
        }
        // What the read completed of the text; a compressor that emitted nothing moved no
        // boundary.
        if !text.is_empty() {
            at_boundary = ends_at_event_boundary(&text);
        }
        if tx.send(read.bytes).await.is_err() {
            break End::BrowserClosed;
        }
    };
    state.update(index, |x| {
        x.ended_ms = Some(state.ms());
        x.end = Some(end);
    });
}

/// A compressed body undone twice: as the server wrote it (every gzip member), for the
/// events it sent, and as a browser reads it, for what the browser drops.
struct Decoders {
    sent: BodyDecoder,
    read: BodyDecoder,
}

impl Decoders {
    fn for_coding(coding: &str) -> Option<Self> {
        Some(Decoders {
            sent: BodyDecoder::every_member(coding)?,
            read: BodyDecoder::new(coding)?,
        })
    }

    /// The text `bytes` completes. A body that does not decode gives no text from there on.
    fn decode(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut text = Vec::new();
        let _ = self
            .sent
            .decode(bytes, &mut |piece| text.extend_from_slice(piece));
        let _ = self.read.decode(bytes, &mut |_| {});
        text
    }

    fn dropped(&self) -> Option<u64> {
        self.read.ignored_after_first_member()
    }
}

/// What one read held.
#[derive(Default)]
struct Seen {
    events: Vec<WireEvent>,
    retry: Option<u64>,
    retry_ignored: Vec<String>,
}

fn parse(parser: &mut Parser, bytes: &[u8]) -> Seen {
    let mut seen = Seen::default();
    let mut feed = parser.feed(bytes);
    while let Some(frame) = feed.next_frame() {
        match frame {
            Ok(SseFrame::Event(e)) => seen.events.push(WireEvent {
                event_type: e.event_type.to_owned(),
                data: e.data.to_owned(),
                id: e.id.to_owned(),
            }),
            Ok(SseFrame::Retry(ms)) => seen.retry = Some(ms),
            Ok(SseFrame::Ignored(i)) if i.reason == IgnoreReason::InvalidRetry => {
                seen.retry_ignored.push(i.line.to_owned());
            }
            // Oversized lines are the runner's F09 business; the browser copes or not.
            Ok(_) | Err(_) => {}
        }
    }
    seen
}

/// Whether `bytes` ends with a blank line (two line ends), so ending the body there cuts no event.
pub fn ends_at_event_boundary(bytes: &[u8]) -> bool {
    let strip = |b: &[u8]| -> Option<usize> {
        if b.ends_with(b"\r\n") {
            Some(b.len() - 2)
        } else if b.ends_with(b"\n") || b.ends_with(b"\r") {
            Some(b.len() - 1)
        } else {
            None
        }
    };
    match strip(bytes) {
        Some(n) => bytes[..n].ends_with(b"\n") || bytes[..n].ends_with(b"\r"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_need_a_blank_line() {
        assert!(ends_at_event_boundary(b"data: a\n\n"));
        assert!(ends_at_event_boundary(b"data: a\r\n\r\n"));
        assert!(ends_at_event_boundary(b"data: a\r\r"));
        assert!(!ends_at_event_boundary(b"data: a\n"));
        assert!(!ends_at_event_boundary(b"data: a"));
    }
}
