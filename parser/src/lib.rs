#![doc = include_str!("../README.md")]
// Map of the crate, for readers of the source (the docs above are the README):
// - `parser`: `Parser`, the incremental state machine (`feed`, `finish`), and `Feed`, the
//   lending iterator over the frames of one chunk.
// - `event`: what comes out: borrowed `Event` / `Frame`, owned `OwnedEvent` / `OwnedFrame`, and
//   `BytesEvent` for keeping events without copying (`bytes::Bytes`).
// - `encode`: the serializer, `Message` plus comment / retry helpers. It cannot emit a frame
//   that parses back differently from what was asked for.
// - `limits` and `error`: caps on line and event size and the typed errors.
// - `line`, `field`, `decode` (private): line ends, field rules, BOM and UTF-8 replacement.
// - `read`: a blocking iterator of events over any `std::io::Read`.
// - `stream` (feature `stream`): a `futures_core::Stream` of events over a stream of `Bytes`.
// - `codec` (feature `codec`): a `tokio-util` decoder of events and encoder of messages.
// - `oracle` (feature `oracle`): a deliberately literal `nom` grammar used to test the fast
//   parser.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
#[cfg_attr(docsrs, doc(cfg(feature = "codec")))]
pub mod codec;
#[cfg(feature = "oracle")]
#[cfg_attr(docsrs, doc(cfg(feature = "oracle")))]
pub mod oracle;
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub mod stream;

pub use encode::{encode_comment, encode_retry, Message};
pub use error::{EncodeError, Limit, ParseError};
pub use event::{BytesEvent, Event, Frame, IgnoreReason, Ignored, OwnedEvent, OwnedFrame};
pub use limits::Limits;
pub use parser::{EndOfStream, Feed, Parser};
