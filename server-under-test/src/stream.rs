//! The `text/event-stream` response body: the priming frame, then replayed and live events
//! and heartbeats, pulled from the hub only when hyper asks for more (so a slow socket never
//! makes the server buffer). It ends only between frames, at an event boundary.
//!
//! Write coalescing: when hyper asks for more and several events are already waiting, they go
//! out as one body piece (one chunk, one `write` when the socket keeps up) instead of one each.
//! Nothing waits to fill a batch, so latency is unchanged; only what is ready is gathered.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};

use crate::conn_log::ConnLog;
use crate::hub::{CloseReason, Next, Subscription};
use crate::metrics::{Close, Metrics};

static HEARTBEAT: Bytes = Bytes::from_static(b": heartbeat\n");

/// A coalesced piece stops growing past this many bytes, so one fast stream cannot hold a
/// large buffer and hyper's own write buffer limit still applies between pieces.
const COALESCE_MAX_BYTES: usize = 64 * 1024;

/// The body of one event stream.
pub(crate) struct EventStream {
    sub: Subscription,
    /// Frames to send before anything from the hub (priming, reset signal).
    first: Option<Bytes>,
    options: StreamOptions,
    log: ConnLog,
}

/// How a stream writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamOptions {
    /// Idle streams get heartbeat comments.
    pub heartbeats: bool,
    /// Every event that is ready goes out in one write.
    pub coalesce: bool,
}

impl EventStream {
    pub fn new(
        sub: Subscription,
        first: Bytes,
        options: StreamOptions,
        peer: std::net::SocketAddr,
    ) -> Self {
        sub.hub().metrics().sse.opened();
        EventStream {
            sub,
            first: Some(first),
            options,
            log: ConnLog::new(peer),
        }
    }

    /// Events written so far.
    #[cfg(feature = "misbehave")]
    pub fn events_sent(&self) -> u64 {
        self.log.events
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
        Metrics::add(&self.metrics().sse.deliveries, n);
    }

    /// Appends to `piece` every event already waiting, up to [`COALESCE_MAX_BYTES`]. A stream
    /// that ends meanwhile sends its last bytes on the next poll.
    fn gather(&mut self, piece: Bytes) -> Bytes {
        let drained = self.sub.drain_ready(piece, COALESCE_MAX_BYTES);
        self.count_events(drained.events);
        if let Some(reason) = drained.closed {
            self.end(reason);
        }
        drained.piece
    }

    /// The server ends the stream (at an event boundary): nothing more is sent.
    fn end(&mut self, reason: CloseReason) {
        self.log.ended = Some(match reason {
            CloseReason::Shutdown => Close::Shutdown,
            CloseReason::Lagging => Close::Lagging,
        });
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
        if this.log.ended.is_some() {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return this.emit(first);
        }
        match ready!(this.sub.poll_next(cx, this.options.heartbeats)) {
            Next::Closed(reason) => {
                this.end(reason);
                Poll::Ready(None)
            }
            Next::Event(frame) => {
                this.count_events(1);
                let piece = if this.options.coalesce {
                    this.gather(frame)
                } else {
                    frame
                };
                this.emit(piece)
            }
            Next::Heartbeat => {
                Metrics::add(&this.metrics().heartbeats_sent, 1);
                this.emit(HEARTBEAT.clone())
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let why = self.log.why(&self.sub);
        self.metrics().sse.closed(why);
        self.log.close("stream", why);
    }
}
