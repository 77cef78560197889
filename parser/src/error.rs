//! Typed errors for parsing and encoding.

use std::fmt;

/// Which size cap was hit.
///
/// Non-exhaustive: new caps (e.g. on the id's length) may be added to [`Limits`](crate::Limits),
/// each with its kind here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_line_bytes`](crate::Limits::max_line_bytes).
    LineBytes,
    /// [`Limits::max_event_bytes`](crate::Limits::max_event_bytes).
    EventBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::LineBytes => "max_line_bytes",
            Limit::EventBytes => "max_event_bytes",
        })
    }
}

/// An error while parsing. Parsing can go on after one: the event that hit the limit is
/// dropped, its uncommitted `id` is not taken, and the parser resumes at the next event.
///
/// Non-exhaustive: the format itself has no syntax errors (every byte sequence is a valid
/// stream), but a future check may refuse input for other reasons than size.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A line or an event grew past its cap.
    // The fields stay exhaustive: which cap, its value and where it was crossed say all there
    // is to say, and callers build this variant to compare against.
    LimitExceeded {
        /// Which cap.
        limit: Limit,
        /// The cap's value in bytes.
        max: usize,
        /// Stream offset (from the first byte fed, BOM included) of the line that crossed it.
        offset: u64,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LimitExceeded { limit, max, offset } => write!(
                f,
                "event stream exceeds {limit} ({max} bytes) in the line starting at byte {offset}; \
                 the event was dropped. Raise the limit with Parser::with_limits if such input is expected"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// A value the serializer refuses because the wire format cannot carry it unchanged.
///
/// Non-exhaustive: as clients are found to mishandle more values (as Chromium does with
/// control characters in ids), the serializer may refuse them too, each with its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event type holds CR or LF, which would end the `event:` line early and let the rest
    /// be read as other fields.
    LineBreakInEventType,
    /// The id holds CR or LF, which would end the `id:` line early.
    LineBreakInId,
    /// The id holds U+0000: clients ignore such an `id` field, so resuming would break.
    NulInId,
    /// The id holds this C0 control (other than tab, CR, LF and NUL, which have their own
    /// rules) or DEL. The format allows it, but Chromium's EventSource never sends the
    /// reconnect request with such a last event id: the stream ends in error instead.
    /// [`Message::allow_controls_in_id`](crate::Message::allow_controls_in_id) opts in.
    ControlInId(u8),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::LineBreakInEventType => {
                "event type contains CR or LF; remove line breaks from event names"
            }
            EncodeError::LineBreakInId => "id contains CR or LF; ids must be a single line",
            EncodeError::NulInId => {
                "id contains U+0000, which clients ignore; use an id without NUL characters"
            }
            EncodeError::ControlInId(byte) => {
                return write!(
                    f,
                    "id contains control byte {byte:#04x}, so Chromium will not reconnect after \
                     this event (the stream ends in error); use ids from a printable alphabet \
                     (e.g. EPOCH-SEQ), or call Message::allow_controls_in_id() if no browser \
                     reads this stream"
                );
            }
        })
    }
}

impl std::error::Error for EncodeError {}
