//! The `text/event-stream` response body: the priming frame, then replayed and live events
//! and heartbeats, pulled from the hub only when hyper asks for more (so a slow socket never
//! makes the server buffer). It ends only between frames, at an event boundary.
//!
//! Write coalescing: when hyper asks for more and several events are already waiting, they go
//! out as one body piece (one chunk, one `write` when the socket keeps up) instead of one each.
//! Nothing waits to fill a batch, so latency is unchanged; only what is ready is gathered.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame};

use crate::config::Config;
use crate::hub::{CloseReason, Next, Subscription};
use crate::metrics::Metrics;
use crate::misbehave::{Misbehaviors, Output};

static HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n");

/// A coalesced piece stops growing past this many bytes, so one fast stream cannot hold a
/// large buffer and hyper's own write buffer limit still applies between pieces.
const COALESCE_MAX_BYTES: usize = 64 * 1024;

/// The body of one event stream.
pub(crate) struct EventStream {
    sub: Subscription,
    /// Frames to send before anything from the hub (priming, reset signal).
    first: Option<Bytes>,
    out: Output,
    heartbeats: bool,
    coalesce: bool,
    misbehave: Misbehaviors,
    state: State,
    log: StreamLog,
}

enum State {
    Open,
    /// The server ended the stream; these are the last bytes.
    Ending(Option<Bytes>),
    Done,
}

/// What the disconnect log line reports.
struct StreamLog {
    peer: std::net::SocketAddr,
    opened: Instant,
    events: u64,
    closed: Option<CloseReason>,
}

impl EventStream {
    pub fn new(
        sub: Subscription,
        first: Bytes,
        config: &Config,
        peer: std::net::SocketAddr,
    ) -> Self {
        let misbehave = config.misbehave;
        EventStream {
            sub,
            first: Some(first),
            out: misbehave.output(),
            heartbeats: config.heartbeat.is_some() && misbehave.heartbeats(),
            coalesce: config.coalesce,
            misbehave,
            state: State::Open,
            log: StreamLog {
                peer,
                opened: Instant::now(),
                events: 0,
                closed: None,
            },
        }
    }

    fn metrics(&self) -> &Metrics {
        self.sub.hub().metrics()
    }

    fn emit(&self, bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Metrics::add(&self.metrics().bytes_sent, bytes.len() as u64);
        Metrics::add(&self.metrics().stream_writes, 1);
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn count_events(&mut self, n: u64) {
        self.log.events += n;
        Metrics::add(&self.metrics().events_sent, n);
    }

    /// Appends to `piece` every event already waiting, up to [`COALESCE_MAX_BYTES`]. A stream
    /// that ends meanwhile sends its last bytes on the next poll.
    fn gather(&mut self, piece: Bytes, cx: &mut Context<'_>) -> Bytes {
        if self.out.is_direct() {
            let drained = self.sub.drain_ready(piece, COALESCE_MAX_BYTES);
            self.count_events(drained.events);
            if let Some(reason) = drained.closed {
                self.end(reason);
            }
            return drained.piece;
        }
        // A misbehaviour transforms each frame: take them one at a time.
        let mut batch: Option<BytesMut> = None;
        loop {
            let len = batch.as_ref().map_or(piece.len(), BytesMut::len);
            if len >= COALESCE_MAX_BYTES {
                break;
            }
            // No heartbeat is due while events flow; `Pending` leaves the waker registered,
            // which at worst wakes the connection once for nothing.
            match self.sub.poll_next(cx, false) {
                Poll::Ready(Next::Event(frame)) => {
                    self.count_events(1);
                    if let Some(bytes) = self.out.push(frame) {
                        batch
                            .get_or_insert_with(|| BytesMut::from(&piece[..]))
                            .extend_from_slice(&bytes);
                    }
                }
                Poll::Ready(Next::Closed(reason)) => {
                    self.end(reason);
                    break;
                }
                Poll::Ready(Next::Heartbeat) | Poll::Pending => break,
            }
        }
        batch.map_or(piece, BytesMut::freeze)
    }

    fn end(&mut self, reason: CloseReason) {
        self.log.closed = Some(reason);
        let mut last = BytesMut::new();
        if let Some(tail) = self.misbehave.closing_tail() {
            if let Some(b) = self.out.push(tail) {
                last.extend_from_slice(&b);
            }
        }
        if let Some(b) = self.out.finish() {
            last.extend_from_slice(&b);
        }
        self.state = State::Ending((!last.is_empty()).then(|| last.freeze()));
    }
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Ending(last) => {
                    let last = last.take();
                    this.state = State::Done;
                    if let Some(bytes) = last {
                        return this.emit(bytes);
                    }
                    continue;
                }
                State::Open => {}
            }
            if let Some(first) = this.first.take() {
                if let Some(bytes) = this.out.push(first) {
                    return this.emit(bytes);
                }
                continue;
            }
            let frame = match this.sub.poll_next(cx, this.heartbeats) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Next::Closed(reason)) => {
                    this.end(reason);
                    continue;
                }
                Poll::Ready(Next::Event(frame)) => {
                    this.count_events(1);
                    match this.out.push(frame) {
                        Some(bytes) if this.coalesce => {
                            let piece = this.gather(bytes, cx);
                            return this.emit(piece);
                        }
                        Some(bytes) => return this.emit(bytes),
                        None => continue,
                    }
                }
                Poll::Ready(Next::Heartbeat) => {
                    Metrics::add(&this.metrics().heartbeats_sent, 1);
                    HEARTBEAT.clone()
                }
            };
            if let Some(bytes) = this.out.push(frame) {
                return this.emit(bytes);
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let log = &self.log;
        let reason = match log.closed {
            None => "client gone",
            Some(CloseReason::Shutdown) => "server shutdown",
            Some(CloseReason::Lagging) => "dropped: lagging",
        };
        tracing::info!(
            peer = %log.peer,
            duration_ms = log.opened.elapsed().as_millis() as u64,
            events = log.events,
            reason,
            "stream closed"
        );
    }
}
