//! `GET /stream` in `--redis` mode: the start decided by [`super::resume`], then a body that
//! replays from Redis (if the id is older than the ring) before handing over to the ring.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::{Request, Response, StatusCode};
use ssekit_parser::Message;

use super::replay::Replay;
use super::resume::Refusal;
use super::Broker;
use crate::behaviour::Conduct;
use crate::http::events::{jittered_retry, stream_headers, stream_options};
use crate::http::{App, Peer, ResponseBody};
use crate::hub::Topics;
use crate::metrics::Metrics;
use crate::stream::EventStream;

/// Clients told to come back later wait this many times the usual `retry:`.
const LATER_RETRY_FACTOR: u64 = 4;

/// `GET /stream` in `--redis` mode (after auth and `HEAD`, which are mode-independent).
pub(crate) async fn stream<B>(
    app: &App,
    broker: &Arc<Broker>,
    peer: &Peer,
    req: &Request<B>,
    last_id: Option<&[u8]>,
    topics: Topics,
) -> Response<ResponseBody> {
    let (sub, start) = match broker
        .subscribe(last_id, topics.clone(), peer.conn.clone())
        .await
    {
        Ok(opened) => opened,
        Err(Refusal::Later(why)) => {
            tracing::warn!(peer = %peer.addr, why, "stream asked to come back later");
            return come_back_later(app, req, why);
        }
        Err(Refusal::OverCapacity) => {
            Metrics::add(&app.metrics.rejected_over_capacity, 1);
            tracing::warn!("stream refused: over --max-connections");
            return come_back_later(app, req, "over capacity");
        }
    };
    start.log_open("stream", peer.addr, last_id.is_some());
    let mut first = BytesMut::from(&app.behaviour.priming(jittered_retry(app.config.retry_ms))[..]);
    if let Some(data) = start.reset_data() {
        let reset = Message::new(&data).event("reset").to_bytes();
        first.extend_from_slice(&reset.unwrap_or_default());
    }
    let body = ReplayStream {
        first: Some(first.freeze()),
        replay: start.replay(broker, topics, &app.metrics),
        inner: EventStream::new(sub, Bytes::new(), stream_options(app), peer.addr),
        ended: false,
        metrics: Arc::clone(&app.metrics),
    };
    let mut res = Response::new(body.boxed());
    stream_headers(app, req.headers(), res.headers_mut(), start.resume.header());
    res
}

/// How long a client asked to come back later waits, in milliseconds (jittered, so a Redis
/// outage does not bring every client back at once).
pub(super) fn later_retry_ms(app: &App) -> u64 {
    jittered_retry(app.config.retry_ms.max(1000) * LATER_RETRY_FACTOR)
}

/// `200`, a comment and a long `retry:`, then a clean end: an EventSource comes back later
/// with its `Last-Event-ID` (a 5xx would stop it for good).
fn come_back_later<B>(app: &App, req: &Request<B>, why: &str) -> Response<ResponseBody> {
    let mut body = BytesMut::new();
    ssekit_parser::encode_comment(&mut body, &format!(" {why}: retry later"));
    ssekit_parser::encode_retry(&mut body, later_retry_ms(app));
    let mut res = crate::http::full(StatusCode::OK, body.freeze());
    stream_headers(app, req.headers(), res.headers_mut(), None);
    res
}

/// The stream body in `--redis` mode: the priming frame (and reset signal), the replay from
/// Redis, then the ring (single-node [`EventStream`]).
struct ReplayStream {
    first: Option<Bytes>,
    replay: Option<Replay>,
    inner: EventStream,
    ended: bool,
    metrics: Arc<Metrics>,
}

impl ReplayStream {
    fn emit(&self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Metrics::add(&self.metrics.bytes_sent, bytes.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }
}

impl Body for ReplayStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return this.emit(first);
        }
        if let Some(replay) = &mut this.replay {
            match replay.poll_page(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frames))) => {
                    Metrics::add(&this.metrics.events_sent, frames.len() as u64);
                    return this.emit(frames.concat().into());
                }
                // Ends at an event boundary; the client resumes from its last id.
                Poll::Ready(Some(Err(_))) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(None) => this.replay = None,
            }
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) if f.data_ref().is_some_and(Bytes::is_empty) => continue,
                other => return other,
            }
        }
    }
}
