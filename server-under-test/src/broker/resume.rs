//! Opening an event stream in `--redis` mode: where it starts, and the body that replays
//! from Redis before handing over to the ring.
//!
//! | `Last-Event-ID` | `SSE-Resume` | The stream |
//! |---|---|---|
//! | absent | `fresh` | live events |
//! | in this node's ring | `resumed` | the ring's events after it, then live |
//! | older than the ring, still in Redis | `resumed` | `XRANGE` after it up to the ring's head (paged, as the socket drains), then the ring, then live |
//! | newer than this node has read, in Redis | `resumed` | waits (≤ 2 s) for this node's reader to reach it, then as above |
//! | trimmed from Redis / not an entry / not a Redis id | `reset` | `event: reset` (`too-old` / `unknown-id`), then as single-node mode |
//! | needs Redis, which is unreachable | none | a comment, a long `retry:` and a clean end: the client comes back later with its id |

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::{Request, Response, StatusCode};
use ssekit_parser::Message;
use tokio::sync::mpsc;

use super::ledger::Place;
use super::{Broker, Ledger, StreamId};
use crate::behaviour::Conduct;
use crate::http::events::{jittered_retry, stream_headers, stream_options};
use crate::http::{App, Peer, ResponseBody};
use crate::hub::{Subscribed, Subscription, Topics};
use crate::metrics::Metrics;
use crate::replay::{ResetReason, Resume, Window};
use crate::stream::EventStream;

/// Entries fetched per `XRANGE` page while replaying (events may be up to 1 MiB each: a page,
/// not the whole gap, is what a resuming client costs in memory).
const PAGE: usize = 64;
/// How long a resume waits for this node's reader to reach an id another node has sent.
const AHEAD_WAIT: Duration = Duration::from_secs(2);
/// Clients told to come back later wait this many times the usual `retry:`.
const LATER_RETRY_FACTOR: u64 = 4;

/// A registered subscription and what the client is told about it.
struct Registered {
    sub: Subscription,
    resume: Resume,
    /// Redis id of the oldest event in the ring (for the reset signal).
    oldest: Option<StreamId>,
    /// Redis id of the ring position the subscription starts after.
    start: StreamId,
}

enum Opening {
    Open(Registered, Option<StreamId>),
    Later(&'static str),
    OverCapacity,
}

/// `GET /stream` in `--redis` mode (after auth and `HEAD`, which are mode-independent).
pub(crate) async fn stream<B>(
    app: &App,
    broker: &Arc<Broker>,
    peer: &Peer,
    req: &Request<B>,
    last_id: Option<&[u8]>,
    topics: Topics,
) -> Response<ResponseBody> {
    let opening = open(broker, peer, last_id, topics.clone()).await;
    let (reg, replay_from) = match opening {
        Opening::Open(reg, from) => (reg, from),
        Opening::Later(why) => {
            broker.stats.deferred.fetch_add(1, Relaxed);
            tracing::warn!(peer = %peer.addr, why, "stream asked to come back later");
            return come_back_later(app, req, why);
        }
        Opening::OverCapacity => {
            Metrics::add(&app.metrics.rejected_over_capacity, 1);
            tracing::warn!("stream refused: over --max-connections");
            return come_back_later(app, req, "over capacity");
        }
    };
    log_open(peer, &reg, last_id.is_some());
    let mut first = BytesMut::from(&app.behaviour.priming(jittered_retry(app.config.retry_ms))[..]);
    if let Resume::Reset { reason, .. } = reg.resume {
        first.extend_from_slice(&reset_event(reason, reg.oldest));
    }
    let replay = replay_from.map(|from| spawn_replay(Arc::clone(broker), from, reg.start, topics));
    let inner = EventStream::new(reg.sub, Bytes::new(), stream_options(app), peer.addr);
    let body = ReplayStream {
        first: Some(first.freeze()),
        replay,
        inner,
        ended: false,
        metrics: Arc::clone(&app.metrics),
        broker: Arc::clone(broker),
    };
    let mut res = Response::new(body.boxed());
    stream_headers(app, req.headers(), res.headers_mut(), reg.resume.header());
    res
}

/// Decides where the stream starts and registers it with the hub.
async fn open(
    broker: &Arc<Broker>,
    peer: &Peer,
    last_id: Option<&[u8]>,
    topics: Topics,
) -> Opening {
    let register = |decide: &dyn Fn(&Ledger, Window) -> Resume| {
        let ledger = broker.ledger();
        let opened = broker
            .hub
            .subscribe_with(topics.clone(), peer.conn.clone(), |w| decide(&ledger, w));
        match opened {
            Subscribed::Open(sub, resume, w) => {
                let oldest = (w.oldest <= w.head)
                    .then(|| ledger.id_of(w.oldest))
                    .flatten();
                let start = ledger.id_of(resume.after()).unwrap_or(ledger.head().1);
                Opening::Open(
                    Registered {
                        sub,
                        resume,
                        oldest,
                        start,
                    },
                    None,
                )
            }
            Subscribed::OverCapacity => Opening::OverCapacity,
        }
    };
    let reset = |reason: ResetReason| {
        register(&move |_, w: Window| Resume::Reset {
            reason,
            after: match reason {
                ResetReason::UnknownId => w.head,
                ResetReason::TooOld | ResetReason::OtherEpoch => w.oldest - 1,
            },
            live_after: w.head,
        })
    };
    let Some(raw) = last_id else {
        return register(&|_, w| Resume::Fresh { after: w.head });
    };
    let Some(id) = StreamId::parse(raw) else {
        return reset(ResetReason::UnknownId);
    };
    for _ in 0..2 {
        let place = {
            let ledger = broker.ledger();
            let window = broker.hub.window();
            match ledger.place(id) {
                Place::At(seq) if seq + 1 >= window.oldest => {
                    drop(ledger);
                    // The reader cannot move between the check and the registration in a way
                    // that matters: the ring only trims from its old end, and `seq` stays
                    // resumable while events after it are retained (else the hub ends the
                    // stream at once and the client comes back through Redis).
                    return register(&move |_, _| Resume::Resumed { after: seq });
                }
                place => place,
            }
        };
        match place {
            Place::Missing => return reset(ResetReason::UnknownId),
            Place::Newer => match wait_for(broker, id).await {
                Ok(()) => continue,
                Err(Some(reason)) => return reset(reason),
                Err(None) => return Opening::Later("redis unreachable or this node is behind"),
            },
            _ => {}
        }
        // Older than the ring: replay from Redis if it still holds the id.
        return match exists(broker, id).await {
            Ok(()) => match register(&|_, w| Resume::Resumed { after: w.head }) {
                Opening::Open(reg, _) => Opening::Open(reg, Some(id)),
                other => other,
            },
            Err(Some(reason)) => reset(reason),
            Err(None) => Opening::Later("redis unreachable"),
        };
    }
    Opening::Later("this node is behind the stream")
}

impl Broker {
    /// Where a long-poll (`/poll?after=ID`) starts in `--redis` mode. Polls are answered from
    /// this node's ring only: an id older than the ring gets a `too-old` reset.
    pub async fn decide_poll(&self, after: Option<&[u8]>) -> (Resume, Window) {
        let reset = |reason, w: Window| Resume::Reset {
            reason,
            after: match reason {
                ResetReason::UnknownId => w.head,
                _ => w.oldest - 1,
            },
            live_after: w.head,
        };
        let Some(raw) = after else {
            let w = self.hub.window();
            return (Resume::Fresh { after: w.head }, w);
        };
        let Some(id) = StreamId::parse(raw) else {
            let w = self.hub.window();
            return (reset(ResetReason::UnknownId, w), w);
        };
        let mut waited = false;
        loop {
            let place = {
                let ledger = self.ledger();
                let w = self.hub.window();
                match ledger.place(id) {
                    Place::At(seq) if seq + 1 >= w.oldest => {
                        return (Resume::Resumed { after: seq }, w)
                    }
                    Place::At(_) | Place::Older => return (reset(ResetReason::TooOld, w), w),
                    Place::Missing => return (reset(ResetReason::UnknownId, w), w),
                    Place::Newer => Place::Newer,
                }
            };
            // Another node served this id and this node's reader has not reached it yet.
            if waited || wait_for(self, id).await.is_err() {
                let w = self.hub.window();
                debug_assert_eq!(place, Place::Newer);
                return (reset(ResetReason::UnknownId, w), w);
            }
            waited = true;
        }
    }

    /// The Redis id of ring position `seq` (the newest read id if it is no longer mapped).
    pub fn id_of(&self, seq: u64) -> String {
        let ledger = self.ledger();
        ledger.id_of(seq).unwrap_or(ledger.head().1).to_string()
    }
}

/// Whether Redis holds `id`: `Err(Some(reason))` when it does not, `Err(None)` when Redis
/// cannot be asked.
async fn exists(broker: &Broker, id: StreamId) -> Result<(), Option<ResetReason>> {
    let found = broker
        .range(id, &id.to_string(), 1)
        .await
        .map_err(|_| None)?;
    if !found.is_empty() {
        return Ok(());
    }
    let oldest = broker.oldest().await.map_err(|_| None)?;
    match oldest {
        Some(o) if id > o => Err(Some(ResetReason::UnknownId)),
        _ => Err(Some(ResetReason::TooOld)),
    }
}

/// An id newer than this node has read: if Redis has it, wait (bounded) for the reader.
async fn wait_for(broker: &Broker, id: StreamId) -> Result<(), Option<ResetReason>> {
    let found = broker
        .range(id, &id.to_string(), 1)
        .await
        .map_err(|_| None)?;
    if found.is_empty() {
        return Err(Some(ResetReason::UnknownId));
    }
    let mut position = broker.position.subscribe();
    let reached = tokio::time::timeout(AHEAD_WAIT, position.wait_for(|p| *p >= id))
        .await
        .is_ok_and(|r| r.is_ok());
    reached.then_some(()).ok_or(None)
}

/// The in-band reset signal, as in single-node mode but with Redis ids.
fn reset_event(reason: ResetReason, oldest: Option<StreamId>) -> Bytes {
    let data =
        serde_json::json!({ "reason": reason.as_str(), "oldest": oldest.map(|o| o.to_string()) })
            .to_string();
    Message::new(&data)
        .event("reset")
        .to_bytes()
        .unwrap_or_default()
}

/// `200`, a comment and a long `retry:`, then a clean end: an EventSource comes back later
/// with its `Last-Event-ID` (a 5xx would stop it for good).
fn come_back_later<B>(app: &App, req: &Request<B>, why: &str) -> Response<ResponseBody> {
    let retry = jittered_retry(app.config.retry_ms.max(1000) * LATER_RETRY_FACTOR);
    let mut body = BytesMut::new();
    ssekit_parser::encode_comment(&mut body, &format!(" {why}: retry later"));
    ssekit_parser::encode_retry(&mut body, retry);
    let mut res = crate::http::full(StatusCode::OK, body.freeze());
    stream_headers(app, req.headers(), res.headers_mut(), None);
    res
}

fn log_open(peer: &Peer, reg: &Registered, had_id: bool) {
    match reg.resume {
        Resume::Resumed { .. } => {
            tracing::info!(peer = %peer.addr, from = %reg.start, "stream opened: resume")
        }
        Resume::Reset { reason, .. } => {
            tracing::info!(peer = %peer.addr, reason = reason.as_str(), "stream opened: reset")
        }
        _ => tracing::info!(peer = %peer.addr, had_id, "stream opened"),
    }
}

/// A page of replayed frames (and how many events it holds), or why replay broke off.
type Page = Result<(Bytes, u64), String>;

/// Replays `(from, upto]` from Redis in pages on its own task; the channel holds one page, so
/// pages are fetched only as fast as the client reads them.
fn spawn_replay(
    broker: Arc<Broker>,
    from: StreamId,
    upto: StreamId,
    topics: Topics,
) -> mpsc::Receiver<Page> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut from = from;
        while from < upto {
            let page = match broker.range(from, &upto.to_string(), PAGE + 1).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(format!("redis: {e}"))).await;
                    return;
                }
            };
            // Each page starts at the last id already sent: finding it again proves nothing
            // between the pages was trimmed away.
            if page.first().map(|s| s.id) != Some(from) {
                let _ = tx
                    .send(Err(format!("{from} left Redis during the replay")))
                    .await;
                return;
            }
            let full = page.len() == PAGE + 1;
            let mut frames = BytesMut::new();
            let mut n = 0;
            for stored in &page[1..] {
                if topics.matches(stored.topic.as_deref()) {
                    frames.extend_from_slice(&stored.frame);
                    n += 1;
                }
            }
            from = page.last().map_or(upto, |s| s.id);
            if n > 0 && tx.send(Ok((frames.freeze(), n))).await.is_err() {
                return;
            }
            if !full {
                return;
            }
        }
    });
    rx
}

/// The stream body in `--redis` mode: the priming frame (and reset signal), the replay from
/// Redis, then the ring (single-node [`EventStream`]).
struct ReplayStream {
    first: Option<Bytes>,
    replay: Option<mpsc::Receiver<Page>>,
    inner: EventStream,
    ended: bool,
    metrics: Arc<Metrics>,
    broker: Arc<Broker>,
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
        if let Some(rx) = &mut this.replay {
            match rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok((frames, n)))) => {
                    Metrics::add(&this.metrics.events_sent, n);
                    Metrics::add(&this.metrics.replayed_events, n);
                    this.broker.stats.replayed.fetch_add(n, Relaxed);
                    return this.emit(frames);
                }
                Poll::Ready(Some(Err(why))) => {
                    // Ends at an event boundary; the client resumes from its last id and is
                    // told if that is no longer possible.
                    tracing::warn!(%why, "replay from Redis broke off: stream ended");
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
