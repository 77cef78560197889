//! `GET /ws`: the hub over WebSocket. The handshake is checked and answered here (101, or a
//! 4xx that says what is missing); the subscription is opened before the 101 so the resume
//! decision is the request's, and the session (`crate::websocket`) runs on the connection's
//! own task once hyper hands the connection over (see [`Handoff`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{auth, empty, full, query_values, text, App, Peer, ResponseBody};
use crate::broker::Refusal;
use crate::hub::{Subscribed, Subscription, Topics};
use crate::metrics::Metrics;
use crate::replay::Resume;
use crate::websocket::{self, Opening, Session};

/// A WebSocket session waiting for its connection. The handler leaves it here and the task
/// serving the TCP connection runs it after hyper's connection future ends with the upgrade,
/// so the session is drained, cut and counted with the server's other connections.
#[derive(Default)]
pub(crate) struct Handoff(Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>);

impl Handoff {
    fn put(&self, session: Pin<Box<dyn Future<Output = ()> + Send>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(session);
    }

    /// The session the connection's last request started, if any.
    pub fn take(&self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

pub(crate) async fn upgrade(
    app: &Arc<App>,
    peer: &Peer,
    mut req: Request<Incoming>,
) -> Response<ResponseBody> {
    if let Some(token) = &app.config.subscribe_token {
        if !auth::presents(req.headers(), token, auth::Carrier::BearerOrCookie) {
            return app.cors.apply(&req, auth::unauthorized());
        }
    }
    if req.method() == Method::HEAD {
        return empty(StatusCode::BAD_REQUEST);
    }
    let key = match handshake_key(req.version(), req.headers()) {
        Ok(key) => key,
        Err((status, msg)) => return app.cors.apply(&req, refuse(status, msg)),
    };
    let last_id = query_values(&req, "last_event_id")
        .into_iter()
        .find(|v| !v.is_empty());
    let topics = Topics::new(query_values(&req, "topic"));
    let by_query = last_id.is_some();
    let last_id = last_id.map(String::into_bytes);
    let opened = match &app.broker {
        Some(broker) => {
            broker
                .open_ws(&app.metrics, peer, last_id.as_deref(), topics.clone())
                .await
        }
        None => open(app, peer, last_id.as_deref(), topics.clone()),
    };
    let (sub, opening) = match opened {
        Ok(opened) => opened,
        Err(Refusal::OverCapacity) => {
            Metrics::add(&app.metrics.rejected_over_capacity, 1);
            tracing::warn!(peer = %peer.addr, "websocket refused: over --max-connections");
            return unavailable("over --max-connections: retry later\n".into(), 5);
        }
        Err(Refusal::Later(why)) => {
            tracing::warn!(peer = %peer.addr, why, "websocket asked to come back later");
            let retry_ms = app.broker.as_ref().map_or(0, |b| b.later_retry_ms(app));
            let msg = format!("{why}: retry later with the same id\n");
            return unavailable(msg, retry_ms.div_ceil(1000));
        }
    };
    let session = Session::new(app, sub, topics, opening, by_query, peer.addr);
    let upgrading = hyper::upgrade::on(&mut req);
    peer.handoff.put(Box::pin(async move {
        match upgrading.await {
            Ok(upgraded) => websocket::run(TokioIo::new(upgraded), session).await,
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    }));
    let mut res = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = res.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    res
}

/// Subscribes a single-node session to the hub.
fn open(
    app: &Arc<App>,
    peer: &Peer,
    last_id: Option<&[u8]>,
    topics: Topics,
) -> Result<(Subscription, Opening), Refusal> {
    let (sub, resume, window) = match app.hub.subscribe(last_id, topics, Arc::clone(&peer.conn)) {
        Subscribed::Open(sub, resume, window) => (sub, resume, window),
        Subscribed::OverCapacity => return Err(Refusal::OverCapacity),
    };
    // DEBUG, as `/stream`'s: an INFO line per connection drowns the log at thousands of
    // subscribers. Refusals stay WARN.
    match resume {
        Resume::Resumed { after } => tracing::debug!(
            peer = %peer.addr, from = %app.hub.id_of(after), "websocket opened: resume"
        ),
        Resume::Reset { reason, .. } => tracing::debug!(
            peer = %peer.addr, reason = reason.as_str(), "websocket opened: reset"
        ),
        _ => tracing::debug!(peer = %peer.addr, "websocket opened"),
    }
    Ok((sub, Opening::from_hub(app, resume, window)))
}

/// `503` with `Retry-After`: the handshake is refused for now, not for good.
fn unavailable(msg: String, retry_after_secs: u64) -> Response<ResponseBody> {
    let mut res = full(StatusCode::SERVICE_UNAVAILABLE, msg);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    res
}

/// The client's `Sec-WebSocket-Key` if the request is a WebSocket handshake this server takes
/// (RFC 6455 §4.2.1: HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`, version 13), else
/// the status and message that say what is wrong.
fn handshake_key(
    version: Version,
    h: &HeaderMap,
) -> Result<HeaderValue, (StatusCode, &'static str)> {
    let has_token = |name: header::HeaderName, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let upgrade = StatusCode::UPGRADE_REQUIRED;
    if version != Version::HTTP_11 {
        return Err((
            upgrade,
            "/ws is a WebSocket endpoint: open it over HTTP/1.1 (Upgrade: websocket)\n",
        ));
    }
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err((
            upgrade,
            "/ws is a WebSocket endpoint: send Upgrade: websocket and Connection: upgrade, or use /stream for SSE\n",
        ));
    }
    if !matches!(h.get(header::SEC_WEBSOCKET_VERSION), Some(v) if v.as_bytes() == b"13") {
        return Err((
            upgrade,
            "/ws speaks WebSocket version 13 only (Sec-WebSocket-Version: 13)\n",
        ));
    }
    match h.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if !key.is_empty() => Ok(key.clone()),
        _ => Err((
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs a Sec-WebSocket-Key header\n",
        )),
    }
}

/// The refusal of a request that is not a WebSocket handshake; a 426 names what to send.
fn refuse(status: StatusCode, msg: &'static str) -> Response<ResponseBody> {
    let mut res = text(status, msg);
    if status == StatusCode::UPGRADE_REQUIRED {
        let h = res.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    res
}
