//! The switches that bend an event stream's body after the well-behaved [`EventStream`] has
//! produced it: output held back (`buffered`, `gzip-no-flush`), a cut last event
//! (`cut-at-close`), and `lossy-queue`'s slow writer. A well-behaved stream never passes here.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};

use super::{Misbehavior, Misbehaviors};
use crate::http::ResponseBody;
use crate::stream::EventStream;

/// Under `lossy-queue`, a stream takes its next event this long after the last: a Python
/// thread waiting for the GIL (switch interval 5 ms) behind a busy publisher. This makes the
/// loss certain for any publisher faster than 200 events/s, whatever the machine, instead of
/// depending on which thread the scheduler runs first.
const LOSSY_QUEUE_PACE: Duration = Duration::from_millis(5);

/// `buffered` holds output back until this much is waiting.
const BUFFERED_FLUSH: usize = 64 * 1024;

impl Misbehaviors {
    /// The filter every byte of a stream body passes through.
    pub(super) fn output(self) -> Output {
        if self.has(Misbehavior::GzipNoFlush) {
            return Output::Gzip(Box::new(GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )));
        }
        if self.has(Misbehavior::Buffered) {
            return Output::Buffered(BytesMut::new());
        }
        Output::Direct
    }

    /// `lossy-queue`: the pause between two events a stream writes.
    pub(super) fn pace(self) -> Option<Duration> {
        self.has(Misbehavior::LossyQueue)
            .then_some(LOSSY_QUEUE_PACE)
    }
}

/// How a stream body's bytes reach the connection. Only `Direct` is well-behaved.
pub(super) enum Output {
    /// Each frame goes out as soon as it exists.
    Direct,
    /// Frames pile up until 64 KiB are waiting.
    Buffered(BytesMut),
    /// Frames go through gzip, which emits only when its own buffers fill.
    Gzip(Box<GzEncoder<Vec<u8>>>),
}

impl Output {
    /// Takes some bytes; returns the bytes to send now, if any.
    fn push(&mut self, bytes: Bytes) -> Option<Bytes> {
        match self {
            Output::Direct => Some(bytes),
            Output::Buffered(buf) => {
                buf.extend_from_slice(&bytes);
                (buf.len() >= BUFFERED_FLUSH).then(|| buf.split().freeze())
            }
            Output::Gzip(gz) => {
                // Writing into a Vec cannot fail.
                let _ = gz.write_all(&bytes);
                take_nonempty(gz.get_mut())
            }
        }
    }

    /// The stream ends: whatever is still held back.
    fn finish(&mut self) -> Option<Bytes> {
        match self {
            Output::Direct => None,
            Output::Buffered(buf) => (!buf.is_empty()).then(|| buf.split().freeze()),
            Output::Gzip(gz) => {
                let _ = gz.try_finish();
                take_nonempty(gz.get_mut())
            }
        }
    }
}

fn take_nonempty(v: &mut Vec<u8>) -> Option<Bytes> {
    (!v.is_empty()).then(|| Bytes::from(std::mem::take(v)))
}

/// An event stream whose body the switches bend.
pub(super) struct BentStream {
    inner: EventStream,
    out: Output,
    /// Written when the server ends the stream (`cut-at-close`).
    tail: Option<Bytes>,
    /// `lossy-queue`: the pause after each event, and when the next may be taken.
    pace: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    done: bool,
}

impl BentStream {
    /// The response body: bent, or the plain stream when no switch bends its body.
    pub fn body(
        inner: EventStream,
        out: Output,
        tail: Option<Bytes>,
        pace: Option<Duration>,
    ) -> ResponseBody {
        if matches!(out, Output::Direct) && tail.is_none() && pace.is_none() {
            return inner.boxed();
        }
        BentStream {
            inner,
            out,
            tail,
            pace: pace.map(|p| (p, Box::pin(tokio::time::sleep(Duration::ZERO)))),
            done: false,
        }
        .boxed()
    }

    /// The server ended the stream: the tail, then whatever the filter still holds.
    fn last_bytes(&mut self) -> Option<Bytes> {
        let mut last = BytesMut::new();
        if let Some(tail) = self.tail.take() {
            if let Some(b) = self.out.push(tail) {
                last.extend_from_slice(&b);
            }
        }
        if let Some(b) = self.out.finish() {
            last.extend_from_slice(&b);
        }
        (!last.is_empty()).then(|| last.freeze())
    }
}

impl Body for BentStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some((_, next)) = this.pace.as_mut() {
                ready!(next.as_mut().poll(cx));
            }
            let events_before = this.inner.events_sent();
            let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
            let Some(Ok(frame)) = frame else {
                this.done = true;
                return Poll::Ready(this.last_bytes().map(|b| Ok(Frame::data(b))));
            };
            if let Some((pause, next)) = this.pace.as_mut() {
                if this.inner.events_sent() > events_before {
                    next.as_mut().reset(tokio::time::Instant::now() + *pause);
                }
            }
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if let Some(bytes) = this.out.push(data) {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
        }
    }
}
