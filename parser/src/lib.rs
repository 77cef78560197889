//! A zero-copy, incremental parser and an injection-proof serializer for the WHATWG
//! `text/event-stream` format (Server-Sent Events).
//!
//! The crate is sans-I/O: you hand it byte chunks of any size, cut anywhere, and it hands back
//! the same events, retry values and last event id however the bytes were cut. It needs no
//! async runtime and allocates nothing per event once its buffers are warm.
//!
//! # Map of the crate
//! - [`parser`]: [`Parser`], the incremental state machine (`feed`, `finish`), and [`Feed`],
//!   the lending iterator over the frames of one chunk.
//! - [`event`]: what comes out: borrowed [`Event`] / [`Frame`], owned [`OwnedEvent`] /
//!   [`OwnedFrame`], and [`BytesEvent`] for keeping events without copying (`bytes::Bytes`).
//! - [`encode`]: the serializer, [`Message`] plus comment / retry helpers. It cannot emit a frame
//!   that parses back differently from what was asked for.
//! - [`limits`] and [`error`]: caps on line and event size and the typed errors.
//! - `line`, `field`, `decode` (private): line ends, field rules, BOM and UTF-8 replacement.
//! - [`read`]: a blocking iterator of events over any `std::io::Read`.
//! - `stream` (feature `stream`): a `futures_core::Stream` of events over a stream of `Bytes`.
//! - `codec` (feature `codec`): a `tokio-util` decoder of events and encoder of messages.
//! - `oracle` (feature `oracle`): a deliberately literal `nom` grammar used to test the fast
//!   parser.
//!
//! # Example
//! ```
//! use ssekit_parser::{Frame, Parser};
//!
//! let mut parser = Parser::new();
//! let mut seen = Vec::new();
//! // The bytes may arrive cut anywhere, even inside a CRLF pair.
//! for chunk in [&b"id: 7\r"[..], b"\ndata: hel", b"lo\r\n\r\n"] {
//!     let mut feed = parser.feed(chunk);
//!     while let Some(frame) = feed.next_frame() {
//!         if let Frame::Event(event) = frame? {
//!             seen.push((event.event_type.to_owned(), event.data.to_owned(), event.id.to_owned()));
//!         }
//!     }
//! }
//! assert_eq!(seen, [("message".to_owned(), "hello".to_owned(), "7".to_owned())]);
//! # Ok::<(), ssekit_parser::ParseError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decode;
pub mod encode;
pub mod error;
pub mod event;
mod field;
pub mod limits;
mod line;
pub mod parser;
pub mod read;

#[cfg(feature = "codec")]
pub mod codec;
#[cfg(feature = "oracle")]
pub mod oracle;
#[cfg(feature = "stream")]
pub mod stream;

pub use encode::{encode_comment, encode_retry, Message};
pub use error::{EncodeError, Limit, ParseError};
pub use event::{BytesEvent, Event, Frame, IgnoreReason, Ignored, OwnedEvent, OwnedFrame};
pub use limits::Limits;
pub use parser::{EndOfStream, Feed, Parser};
