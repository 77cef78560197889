//! A `futures_core::Stream` of events over a stream of byte chunks (feature `stream`).
//!
//! Works with any body that yields `Result<impl Into<Bytes>, E>`: reqwest's `bytes_stream()`,
//! `http_body_util::BodyDataStream` over a hyper body, a tokio channel. Events share the chunk
//! they came from (see [`BytesEvent`]).
//!
//! ```
//! use bytes::Bytes;
//! use futures_util::{stream, StreamExt};
//! use ssekit_parser::stream::EventStream;
//!
//! let body = stream::iter([Ok::<_, std::io::Error>(Bytes::from("data: a\n")), Ok(Bytes::from("\n"))]);
//! let events: Vec<_> = futures_executor::block_on(EventStream::new(body).collect());
//! assert_eq!(events[0].as_ref().unwrap().data_str(), "a");
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::error::ParseError;
use crate::event::{BytesEvent, Frame};
use crate::parser::{EndOfStream, Parser};

/// An error from the body or the parser.
///
/// Non-exhaustive: the adapter may learn to report more (an idle timeout, say).
///
/// Each error either prints its cause or returns it from [`source`](std::error::Error::source),
/// never both, so a reporter that walks the chain prints every message once: `Body` says what
/// failed and returns the body's error as its source; `Parse` is the [`ParseError`] itself
/// (same message, same source).
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError<E> {
    /// The underlying body failed; the stream may be resumed with a new connection from
    /// [`EventStream::last_event_id`].
    Body(E),
    /// A size limit was hit; the offending event was dropped and the stream goes on.
    Parse(ParseError),
}

impl<E> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The body's error is the source: printing it here too would show it twice.
            StreamError::Body(_) => f.write_str(
                "the event stream's body failed; reconnect with the Last-Event-ID from \
                 EventStream::last_event_id to resume",
            ),
            StreamError::Parse(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Body(e) => Some(e),
            // Transparent: the message is the parse error's, so its source comes next.
            StreamError::Parse(e) => std::error::Error::source(e),
        }
    }
}

impl<E> From<ParseError> for StreamError<E> {
    fn from(e: ParseError) -> Self {
        StreamError::Parse(e)
    }
}

/// Events parsed from a stream of chunks. The body must be `Unpin`; wrap others in
/// `Box::pin(body)`.
#[derive(Debug)]
pub struct EventStream<S> {
    body: S,
    parser: Parser,
    ready: VecDeque<Result<BytesEvent, ParseError>>,
    end: Option<EndOfStream>,
}

impl<S> EventStream<S> {
    /// Parses `body` with a default [`Parser`] (comments are not reported: only events come out).
    pub fn new(body: S) -> Self {
        Self::with_parser(body, Parser::new().report_comments(false))
    }

    /// Parses `body` with a configured parser (limits, a starting last event id).
    pub fn with_parser(body: S, parser: Parser) -> Self {
        EventStream {
            body,
            parser,
            ready: VecDeque::new(),
            end: None,
        }
    }

    /// The last event id: send it as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The server's last `retry` value in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.parser.retry()
    }

    /// Once the body has ended: what it left unfinished (an event without its blank line is
    /// discarded, as clients must).
    pub fn end_of_stream(&self) -> Option<EndOfStream> {
        self.end
    }
}

impl<S, B, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Into<Bytes>,
{
    type Item = Result<BytesEvent, StreamError<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(ready) = this.ready.pop_front() {
                return Poll::Ready(Some(ready.map_err(StreamError::Parse)));
            }
            if this.end.is_some() {
                return Poll::Ready(None);
            }
            let chunk = match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.end = Some(this.parser.finish());
                    continue;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(StreamError::Body(e)))),
                Poll::Ready(Some(Ok(chunk))) => chunk.into(),
            };
            let mut feed = this.parser.feed(&chunk);
            while let Some(frame) = feed.next_frame() {
                match frame {
                    Ok(Frame::Event(event)) => {
                        this.ready.push_back(Ok(event.to_bytes_event(&chunk)))
                    }
                    Err(e) => this.ready.push_back(Err(e)),
                    Ok(_) => {}
                }
            }
        }
    }
}
