//! One `/ws` session: the hub's events as WebSocket text frames, pings as heartbeats, and a
//! close frame with a documented code whenever the server ends it.
//!
//! - Each event is one text frame, `{"id":ID,"event":TYPE,"data":DATA}`, encoded once per event
//!   in the ring and shared by every WebSocket subscriber. Events that are ready together are
//!   written with one flush.
//! - A resume that cannot continue exactly first gets `{"event":"reset","data":DATA}`, DATA being
//!   the same JSON text as the SSE stream's `reset` event (`{"reason","oldest"}`).
//! - Resume is by the `last_event_id` query parameter. Without it, the client's first message
//!   may be `{"last_event_id":ID}`, taken only within [`RESUME_WINDOW`] of the upgrade and
//!   before any event was delivered; anything else the client sends (other than control
//!   frames) closes the session with [`BAD_MESSAGE`].
//! - With `--redis` the ids are Redis stream ids and a resume is decided by the broker exactly
//!   as for `/stream`, including the replay from Redis of events older than this node's ring.
//! - Close codes: [`SHUTDOWN`] after the last event at shutdown, [`LAGGING`] past the lag limits
//!   (the reason is the id to resume from), [`UNRESPONSIVE`] when a peer answers no ping for
//!   two heartbeat intervals, [`BAD_MESSAGE`], [`TRY_AGAIN_LATER`] (`--redis` only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::broker::Replay;
use crate::conn_log::ConnLog;
use crate::http::events::reset_data;
use crate::http::App;
use crate::hub::{CloseReason, Encoding, Next, Subscription, Topics};
use crate::metrics::{Close, Metrics};
use crate::replay::{Resume, Window};

/// Close code at shutdown, sent after the last event (RFC 6455 "going away").
pub const SHUTDOWN: u16 = 1001;
/// Close code for a subscriber past the lag limits; the reason is the id to resume from.
pub const LAGGING: u16 = 4429;
/// Close code for a peer that answered no ping (nor sent any frame) for two heartbeat intervals.
pub const UNRESPONSIVE: u16 = 4408;
/// Close code for a client message `/ws` does not take.
pub const BAD_MESSAGE: u16 = 4400;
/// Close code (RFC 6455 "try again later") when, with `--redis`, a first-message resume needs
/// Redis while it is unreachable, or a replay from Redis broke off: the client reconnects
/// later with the id of the last event it received, and loses nothing.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// How long after the upgrade a `{"last_event_id":ID}` first message is taken.
pub const RESUME_WINDOW: Duration = Duration::from_secs(1);
/// Clients send at most the resume message: anything larger is refused by the framing layer.
const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// How long a close waits for the client's close frame before the connection is dropped (the
/// server closes TCP first, RFC 6455 §7.1.1, but only after the client has read the close).
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Events ready together are written with one flush, up to this many bytes.
const BATCH_MAX_BYTES: usize = 64 * 1024;

/// Where a session starts, besides its subscription's cursor.
#[derive(Default)]
pub(crate) struct Opening {
    /// The reset signal's data (`{"reason","oldest"}`), sent before any event.
    pub reset: Option<String>,
    /// `--redis`: events older than the ring, replayed from Redis before the ring's.
    pub replay: Option<Replay>,
    /// `--redis`: the Redis id the subscription starts after.
    pub start_id: Option<String>,
}

impl Opening {
    /// A single-node start, as the hub decided it.
    pub fn from_hub(app: &App, resume: Resume, window: Window) -> Opening {
        let reset = match resume {
            Resume::Reset { reason, .. } => Some(reset_data(app, reason.as_str(), window)),
            _ => None,
        };
        Opening {
            reset,
            ..Opening::default()
        }
    }
}

/// A subscription waiting for its WebSocket connection.
pub(crate) struct Session {
    app: Arc<App>,
    sub: Subscription,
    topics: Topics,
    /// The reset signal to send before any event.
    first: Option<Utf8Bytes>,
    replay: Option<Replay>,
    /// `--redis`: the Redis id the subscription started after, and the last event sent from
    /// the ring: what a lagging client resumes from when the ledger no longer maps its
    /// position.
    start_id: Option<String>,
    last_sent: Option<Bytes>,
    heartbeat: Option<Duration>,
    /// No `last_event_id` in the query: a first message may still name one.
    may_resume: bool,
    log: ConnLog,
}

/// The client's first-message resume form.
#[derive(Deserialize)]
struct ResumeMessage {
    last_event_id: String,
}

impl Session {
    pub fn new(
        app: &Arc<App>,
        sub: Subscription,
        topics: Topics,
        opening: Opening,
        by_query: bool,
        peer: SocketAddr,
    ) -> Self {
        app.metrics.ws.opened();
        Session {
            first: opening.reset.map(reset_frame),
            replay: opening.replay,
            start_id: opening.start_id,
            last_sent: None,
            topics,
            heartbeat: crate::http::events::stream_options(app)
                .heartbeats
                .then_some(app.config.heartbeat)
                .flatten(),
            may_resume: !by_query,
            app: Arc::clone(app),
            sub,
            log: ConnLog::new(peer),
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.app.metrics
    }
}

/// The reset signal carrying `data` (`{"reason","oldest"}`, as the stream's `reset` event).
fn reset_frame(data: String) -> Utf8Bytes {
    serde_json::json!({ "event": "reset", "data": data })
        .to_string()
        .into()
}

/// What the session sends next: a page replayed from Redis, or what the ring has.
enum Source {
    Replayed(Result<Vec<Bytes>, String>),
    Ring(Next),
}

/// Runs the session on the upgraded connection until either side ends it.
pub(crate) async fn run<S>(io: S, mut session: Session)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // tungstenite allocates its read buffer eagerly, 128 KiB by default: with thousands of
    // idle subscribers that was 141 KB of server memory per connection (73x an SSE stream).
    // Clients here send only pongs and at most one small resume message.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE));
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let ended = session.serve(&mut ws).await;
    session.log.ended.get_or_insert(ended);
}

/// What one step of the session came to.
type Step = Result<(), Close>;

/// Why a first message is not taken.
enum Refused {
    /// The close reason ([`BAD_MESSAGE`]).
    Bad(&'static str),
    /// `--redis`: the resume needs Redis, which cannot be had now ([`TRY_AGAIN_LATER`]).
    Later(&'static str),
}

impl Session {
    async fn serve<S>(&mut self, ws: &mut WebSocketStream<S>) -> Close
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Some(first) = self.first.take() {
            if ws.send(Message::Text(first)).await.is_err() {
                return Close::Client;
            }
        }
        let mut pings = self
            .heartbeat
            .map(|hb| tokio::time::interval_at(Instant::now() + hb, hb));
        let mut heard = Instant::now();
        loop {
            let step = tokio::select! {
                incoming = ws.next() => match incoming {
                    Some(Ok(msg)) => {
                        heard = Instant::now();
                        self.on_message(ws, msg).await
                    }
                    None | Some(Err(_)) => Err(Close::Client),
                },
                _ = tick(&mut pings) => self.on_ping_tick(ws, heard).await,
                next = std::future::poll_fn(|cx| self.poll_source(cx)) => match next {
                    Source::Ring(next) => self.on_next(ws, next).await,
                    Source::Replayed(page) => self.on_replayed(ws, page).await,
                },
            };
            if let Err(ended) = step {
                return ended;
            }
        }
    }

    async fn on_message<S>(&mut self, ws: &mut WebSocketStream<S>, msg: Message) -> Step
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match msg {
            // tungstenite answers pings and close frames itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
            Message::Close(_) => {
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                Err(Close::Client)
            }
            Message::Text(text) => match self.take_resume(&text).await {
                // A reset signal goes out at once, before the events it announces.
                Ok(()) => match self.first.take() {
                    Some(first) => ws
                        .send(Message::Text(first))
                        .await
                        .map_err(|_| Close::Client),
                    None => Ok(()),
                },
                Err(Refused::Bad(why)) => {
                    Err(self.end(ws, Close::BadMessage, BAD_MESSAGE, why).await)
                }
                // Counted as the client's leaving, as the `/stream` that is asked to come back
                // later is.
                Err(Refused::Later(why)) => {
                    let why = format!("{why}: resume later with the same id");
                    Err(self.end(ws, Close::Client, TRY_AGAIN_LATER, why).await)
                }
            },
            Message::Binary(_) => {
                let why = "/ws takes no binary messages";
                Err(self.end(ws, Close::BadMessage, BAD_MESSAGE, why).await)
            }
        }
    }

    /// The first-message resume form.
    async fn take_resume(&mut self, text: &str) -> Result<(), Refused> {
        let Ok(msg) = serde_json::from_str::<ResumeMessage>(text) else {
            return Err(Refused::Bad(
                "the only message /ws takes is {\"last_event_id\":ID}",
            ));
        };
        if !self.may_resume
            || self.log.events > 0
            || self.log.opened.elapsed() > RESUME_WINDOW
            || msg.last_event_id.is_empty()
        {
            return Err(Refused::Bad(
                "last_event_id comes first, within 1 s; else use ?last_event_id=",
            ));
        }
        self.may_resume = false;
        let last_id = msg.last_event_id.as_bytes();
        let (resume, opening) = match &self.app.broker {
            Some(broker) => broker
                .resume_ws(
                    &self.app.metrics,
                    &mut self.sub,
                    last_id,
                    self.topics.clone(),
                )
                .await
                .map_err(Refused::Later)?,
            None => {
                let (resume, window) = self.sub.resume_from(last_id);
                (resume, Opening::from_hub(&self.app, resume, window))
            }
        };
        tracing::debug!(peer = %self.log.peer, resume = ?resume.header(), "websocket resumed by message");
        self.first = opening.reset.map(reset_frame);
        self.replay = opening.replay;
        self.start_id = opening.start_id;
        Ok(())
    }

    /// The next page replayed from Redis while there is one, then the ring.
    fn poll_source(&mut self, cx: &mut Context<'_>) -> Poll<Source> {
        if let Some(replay) = &mut self.replay {
            match replay.poll_page(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(page)) => return Poll::Ready(Source::Replayed(page)),
                Poll::Ready(None) => self.replay = None,
            }
        }
        self.sub
            .poll_next_as(cx, false, Encoding::Json)
            .map(Source::Ring)
    }

    /// Sends a page replayed from Redis (one text frame per event, one flush), or ends the
    /// session at this event boundary when the replay broke off.
    async fn on_replayed<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        page: Result<Vec<Bytes>, String>,
    ) -> Step
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let frames = match page {
            Ok(frames) => frames,
            Err(_) => {
                self.replay = None;
                let why = "the replay from Redis broke off: resume with the last id received";
                return Err(self.end(ws, Close::Client, TRY_AGAIN_LATER, why).await);
            }
        };
        for frame in &frames {
            let json = crate::event_json::event_json_bytes(frame);
            self.feed_event(ws, json).await?;
        }
        self.count_sent(frames.len() as u64);
        ws.flush().await.map_err(|_| Close::Client)
    }

    fn count_sent(&mut self, events: u64) {
        self.log.events += events;
        Metrics::add(&self.metrics().events_sent, events);
        Metrics::add(&self.metrics().ws.deliveries, events);
    }

    /// The id a client closed for lagging resumes from: its position (the last event it was
    /// sent or its topic filter passed over).
    fn resume_id(&self) -> String {
        let position = self.sub.position();
        let Some(broker) = &self.app.broker else {
            return self.app.hub.id_of(position);
        };
        // The ledger maps every position the ring holds; one the ring has passed may be
        // forgotten, and then the last event sent is where nothing is lost.
        broker
            .mapped_id(position)
            .or_else(|| {
                let last: serde_json::Value =
                    serde_json::from_slice(self.last_sent.as_deref()?).ok()?;
                last["id"].as_str().map(str::to_owned)
            })
            .or_else(|| self.start_id.clone())
            .unwrap_or_else(|| broker.id_of(position))
    }

    async fn on_ping_tick<S>(&mut self, ws: &mut WebSocketStream<S>, heard: Instant) -> Step
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(hb) = self.heartbeat else {
            return Ok(());
        };
        if heard.elapsed() >= hb * 2 {
            tracing::warn!(peer = %self.log.peer, "websocket peer answered no ping for two heartbeat intervals: closed");
            let why = "no answer to pings for two heartbeat intervals";
            return Err(self.end(ws, Close::Unresponsive, UNRESPONSIVE, why).await);
        }
        ws.send(Message::Ping(Bytes::new()))
            .await
            .map_err(|_| Close::Client)?;
        Metrics::add(&self.metrics().heartbeats_sent, 1);
        Ok(())
    }

    async fn on_next<S>(&mut self, ws: &mut WebSocketStream<S>, next: Next) -> Step
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut next = Some(next);
        let mut batch = 0;
        let mut events = 0;
        // Every event already waiting goes out with one flush; an end found meanwhile is
        // sent after them.
        while let Some(Next::Event(json)) = next {
            next = None;
            batch += json.len();
            if self.app.broker.is_some() {
                self.last_sent = Some(json.clone());
            }
            self.feed_event(ws, json).await?;
            events += 1;
            if batch >= BATCH_MAX_BYTES {
                break;
            }
            next = std::future::poll_fn(|cx| self.sub.poll_next_as(cx, false, Encoding::Json))
                .now_or_never();
        }
        if events > 0 {
            self.count_sent(events);
            ws.flush().await.map_err(|_| Close::Client)?;
        }
        match next {
            Some(Next::Closed(CloseReason::Shutdown)) => {
                let why = "server shutting down";
                Err(self.end(ws, Close::Shutdown, SHUTDOWN, why).await)
            }
            Some(Next::Closed(CloseReason::Lagging)) => {
                let resume = self.resume_id();
                tracing::warn!(peer = %self.log.peer, resume = %resume, "websocket subscriber over the lag limit: closed");
                Err(self.end(ws, Close::Lagging, LAGGING, resume).await)
            }
            _ => Ok(()),
        }
    }

    /// Ends the session for `why`: recorded first, since the connection may be cut while the
    /// close handshake waits (an evicted subscriber's is, after a short grace).
    async fn end<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        why: Close,
        code: u16,
        reason: impl Into<Utf8Bytes>,
    ) -> Close
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.log.ended = Some(why);
        close(ws, code, reason).await;
        why
    }

    async fn feed_event<S>(&mut self, ws: &mut WebSocketStream<S>, json: Bytes) -> Step
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Always UTF-8 (serde_json's output); checked because the crate allows no `unsafe`.
        let Ok(text) = Utf8Bytes::try_from(json) else {
            tracing::error!("an encoded event is not UTF-8: skipped");
            return Ok(());
        };
        ws.feed(Message::Text(text))
            .await
            .map_err(|_| Close::Client)
    }
}

/// Sends a close frame and waits a little for the client's, so it reads the close before the
/// connection goes.
async fn close<S>(ws: &mut WebSocketStream<S>, code: u16, reason: impl Into<Utf8Bytes>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The next heartbeat tick, or never without heartbeats.
async fn tick(pings: &mut Option<Interval>) {
    match pings {
        Some(p) => {
            p.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let why = self.log.why(&self.sub);
        self.app.metrics.ws.closed(why);
        self.log.close("websocket", why);
    }
}
