//! A `tokio-util` codec (feature `codec`): [`SseCodec`] decodes events out of the bytes a
//! `FramedRead` reads, and encodes [`Message`]s for a `FramedWrite`.
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//! use ssekit_parser::codec::SseCodec;
//! use ssekit_parser::Message;
//! use tokio_util::codec::{FramedRead, FramedWrite};
//!
//! # futures_executor::block_on(async {
//! // Write two events into a buffer (any `AsyncWrite`: a socket, a pipe)...
//! let mut wire = FramedWrite::new(Vec::new(), SseCodec::new());
//! wire.send(Message::new("hello").id("1")).await?;
//! wire.send(Message::new("world").event("greeting").id("2")).await?;
//! let bytes = wire.into_inner();
//!
//! // ...and read them back from any `AsyncRead`.
//! let mut events = FramedRead::new(&bytes[..], SseCodec::new());
//! while let Some(event) = events.next().await {
//!     // The outer error is the reader's (it ends the stream); the inner one is a limit
//!     // error, after which the stream goes on.
//!     let event = event??;
//!     println!("{}: {}", event.event_type_str(), event.data_str());
//! }
//! assert_eq!(events.decoder().last_event_id(), "2");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::encode::Message;
use crate::error::{EncodeError, ParseError};
use crate::event::{BytesEvent, Frame};
use crate::parser::{EndOfStream, Parser};

/// Decodes events and encodes [`Message`]s.
///
/// Decoding takes every byte `FramedRead` has buffered at each call (the parser carries an
/// unfinished line itself, within its [`Limits`](crate::Limits)), so the read buffer never
/// grows with the stream, and events share the bytes they were read into.
///
/// Items are `Result<BytesEvent, ParseError>`: a limit error is an item, not the decoder's
/// error, because the parser drops only the offending event and goes on, while a decoder
/// error ends a `FramedRead`. The decoder's error is the reader's [`io::Error`].
///
/// At end of input, [`decode_eof`](Decoder::decode_eof) ends the stream as the spec says: an
/// event without its closing blank line is not dispatched but discarded, and
/// [`end_of_stream`](Self::end_of_stream) reports it. Bytes read after that (a file that grew)
/// start a new stream, as a reconnection does, keeping the last event id.
#[derive(Debug, Clone)]
pub struct SseCodec {
    parser: Parser,
    ready: VecDeque<Result<BytesEvent, ParseError>>,
    end: Option<EndOfStream>,
}

impl SseCodec {
    /// A codec with a default [`Parser`] (comments are not reported: only events come out).
    pub fn new() -> Self {
        Self::with_parser(Parser::new().report_comments(false))
    }

    /// A codec that decodes with a configured parser (limits, a starting last event id).
    pub fn with_parser(parser: Parser) -> Self {
        SseCodec {
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

    /// Once the input has ended: what it left unfinished (see [`EndOfStream`]). `None` while
    /// the stream is open.
    pub fn end_of_stream(&self) -> Option<EndOfStream> {
        self.end
    }
}

impl Default for SseCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder for SseCodec {
    type Item = Result<BytesEvent, ParseError>;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        if let Some(ready) = self.ready.pop_front() {
            return Ok(Some(ready));
        }
        if src.is_empty() {
            return Ok(None);
        }
        self.end = None;
        let chunk = src.split().freeze();
        let mut feed = self.parser.feed(&chunk);
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(event)) => self.ready.push_back(Ok(event.to_bytes_event(&chunk))),
                Ok(_) => {}
                Err(e) => self.ready.push_back(Err(e)),
            }
        }
        Ok(self.ready.pop_front())
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, io::Error> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        // `FramedRead` calls this until it returns `None`, and again after every later read
        // of 0 bytes: the stream ends once per run of input.
        if self.end.is_none() {
            self.end = Some(self.parser.finish());
        }
        Ok(None)
    }
}

/// Why [`SseCodec`] could not write a [`Message`].
///
/// Non-exhaustive: more causes may be reported. `Io` says what failed and returns the
/// [`io::Error`] from [`source`](std::error::Error::source); `Encode` is the [`EncodeError`]
/// itself, so a chain prints each message once.
#[derive(Debug)]
#[non_exhaustive]
pub enum WriteError {
    /// The message cannot be written unchanged; nothing of it was written and the sink can
    /// take the next message.
    Encode(EncodeError),
    /// Writing to the underlying writer failed.
    Io(io::Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Encode(e) => e.fmt(f),
            WriteError::Io(_) => f.write_str(
                "writing the event stream failed; the client will reconnect with the last id \
                 it received",
            ),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Encode(e) => std::error::Error::source(e),
            WriteError::Io(e) => Some(e),
        }
    }
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<EncodeError> for WriteError {
    fn from(e: EncodeError) -> Self {
        WriteError::Encode(e)
    }
}

impl Encoder<Message<'_>> for SseCodec {
    type Error = WriteError;

    fn encode(&mut self, message: Message<'_>, dst: &mut BytesMut) -> Result<(), WriteError> {
        dst.reserve(message.encoded_len());
        message.encode(dst)?;
        Ok(())
    }
}
