//! `GET /stream`: subscribe, announce the resume decision, hand the body to the hub.

use bytes::{Bytes, BytesMut};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use ssekit_parser::Message;

use super::{auth, empty, query_values, text, App, Peer, ResponseBody};
use crate::behaviour::Conduct;
use crate::hub::{Subscribed, Topics};
use crate::metrics::Metrics;
use crate::replay::{self, Resume, Window};
use crate::stream::{EventStream, StreamOptions};

/// The response header that announces the resume decision: `fresh`, `resumed` or `reset`.
pub(crate) const SSE_RESUME: HeaderName = HeaderName::from_static("sse-resume");

/// Over the connection cap, clients are asked to come back this many times later than usual.
const OVER_CAPACITY_RETRY_FACTOR: u64 = 4;

pub(crate) async fn stream<B>(app: &App, peer: &Peer, req: &Request<B>) -> Response<ResponseBody> {
    if let Some(token) = &app.config.subscribe_token {
        if !auth::presents(req.headers(), token, auth::Carrier::BearerOrCookie) {
            return app.cors.apply(req, auth::unauthorized());
        }
    }
    let last_id = last_event_id(req);
    if last_id.is_some() && app.behaviour.fails_on_last_event_id() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n");
    }
    if req.method() == Method::HEAD {
        let mut res = empty(StatusCode::OK);
        stream_headers(app, req.headers(), res.headers_mut(), None);
        return res;
    }
    let topics = Topics::new(query_values(req, "topic"));
    if let Some(broker) = &app.broker {
        return crate::broker::stream(app, broker, peer, req, last_id.as_deref(), topics).await;
    }
    let (body, resume) = match open(app, peer, last_id.as_deref(), topics, req.version()) {
        Opened::Stream(body, resume) => (body, resume),
        Opened::OverCapacity => return over_capacity(app, req),
    };
    let mut res = Response::new(body);
    stream_headers(app, req.headers(), res.headers_mut(), resume.header());
    res
}

/// A new subscription, or why there is none.
pub(crate) enum Opened {
    Stream(ResponseBody, Resume),
    OverCapacity,
}

/// Subscribes and builds the body: the priming frame, the reset signal if any, then events.
pub(crate) fn open(
    app: &App,
    peer: &Peer,
    last_id: Option<&[u8]>,
    topics: Topics,
    version: Version,
) -> Opened {
    let (sub, resume, window) = match app.hub.subscribe(last_id, topics, peer.conn.clone()) {
        Subscribed::Open(sub, resume, window) => (sub, resume, window),
        Subscribed::OverCapacity => return Opened::OverCapacity,
    };
    log_open(app, peer, version, resume, last_id.is_some());
    let priming = app.behaviour.priming(jittered_retry(app.config.retry_ms));
    let mut first = BytesMut::from(&priming[..]);
    if let Resume::Reset { reason, .. } = resume {
        first.extend_from_slice(&reset_event(app, reason.as_str(), window));
    }
    let body = EventStream::new(sub, first.freeze(), stream_options(app), peer.addr);
    Opened::Stream(app.behaviour.stream_body(body), resume)
}

/// How this server's streams write: heartbeats and coalescing as configured, unless the
/// behaviour says otherwise.
pub(crate) fn stream_options(app: &App) -> StreamOptions {
    StreamOptions {
        heartbeats: app.config.heartbeat.is_some() && app.behaviour.heartbeats(),
        coalesce: app.config.coalesce && app.behaviour.coalesces(),
    }
}

/// `Last-Event-ID` (first header wins), else the `lastEventId` query parameter.
fn last_event_id<B>(req: &Request<B>) -> Option<Vec<u8>> {
    // An empty value means "no id" (clients never send one; treat a stray one as absent).
    if let Some(v) = req.headers().get("last-event-id").filter(|v| !v.is_empty()) {
        return Some(v.as_bytes().to_vec());
    }
    query_values(req, "lastEventId")
        .into_iter()
        .find(|v| !v.is_empty())
        .map(String::into_bytes)
}

pub(crate) fn stream_headers(
    app: &App,
    req: &HeaderMap,
    h: &mut HeaderMap,
    resume: Option<&'static str>,
) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Some(value) = resume {
        h.insert(SSE_RESUME, HeaderValue::from_static(value));
    }
    app.cors.decorate(req, h);
    app.behaviour.stream_headers(h);
}

/// The in-band reset signal: `event: reset` with JSON `{reason, oldest}`, no id.
fn reset_event(app: &App, reason: &str, window: Window) -> Bytes {
    Message::new(&reset_data(app, reason, window))
        .event("reset")
        .to_bytes()
        .unwrap_or_default()
}

/// The reset signal's data: JSON `{reason, oldest}` (`oldest` is null when the ring is empty).
pub(crate) fn reset_data(app: &App, reason: &str, window: Window) -> String {
    let oldest = (window.oldest <= window.head).then(|| app.hub.id_of(window.oldest));
    serde_json::json!({ "reason": reason, "oldest": oldest }).to_string()
}

/// Over `--max-connections`: a 5xx or 429 would stop an EventSource for good, so the answer is
/// a valid, empty stream with a long `retry:`; the client comes back later with its
/// `Last-Event-ID` and loses nothing.
fn over_capacity<B>(app: &App, req: &Request<B>) -> Response<ResponseBody> {
    Metrics::add(&app.metrics.rejected_over_capacity, 1);
    tracing::warn!("stream refused: over --max-connections");
    let retry = jittered_retry(app.config.retry_ms.max(1000) * OVER_CAPACITY_RETRY_FACTOR);
    let mut body = BytesMut::new();
    ssekit_parser::encode_comment(&mut body, " over capacity: retry later");
    ssekit_parser::encode_retry(&mut body, retry);
    let mut res = super::full(StatusCode::OK, body.freeze());
    stream_headers(app, req.headers(), res.headers_mut(), None);
    res
}

/// The base delay plus up to 50% jitter, so a restart does not bring every client back at once.
pub(crate) fn jittered_retry(base: u64) -> u64 {
    base + replay::random_u64() % (base / 2 + 1)
}

/// At DEBUG: one INFO line per connection drowns the log at thousands of subscribers (`/ws`
/// and `--redis` streams log their opens the same way; refusals stay WARN).
fn log_open(app: &App, peer: &Peer, version: Version, resume: Resume, had_id: bool) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let version = format!("{version:?}");
    match resume {
        Resume::Resumed { after } => tracing::debug!(
            peer = %peer.addr, ?version, from = %app.hub.id_of(after), "stream opened: resume"
        ),
        Resume::Reset { reason, .. } => tracing::debug!(
            peer = %peer.addr, ?version, reason = reason.as_str(), "stream opened: reset"
        ),
        Resume::Fresh { .. } | Resume::Unannounced { .. } => {
            tracing::debug!(peer = %peer.addr, ?version, had_id, "stream opened")
        }
    }
}
