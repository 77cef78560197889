//! Caps on how much a hostile or broken stream can make the parser buffer.

/// Size caps applied while parsing. Exceeding one yields a [`ParseError`](crate::ParseError)
/// naming the limit and the stream offset; the offending event is dropped and parsing resumes
/// at the next event.
///
/// ```
/// use ssekit_parser::{Limits, Parser};
/// let parser = Parser::new().with_limits(Limits { max_line_bytes: 64 * 1024, ..Limits::default() });
/// assert_eq!(parser.limits().max_line_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line accepted, in bytes, not counting its line end. Default 1 MiB.
    pub max_line_bytes: usize,
    /// Largest event accepted: the bytes of its data buffer (values plus the LF between data
    /// lines) plus its event type. Default 4 MiB.
    pub max_event_bytes: usize,
}

impl Limits {
    /// Default line cap: 1 MiB.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
    /// Default event cap: 4 MiB.
    pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

    /// No practical cap (`usize::MAX`): only for trusted input.
    pub const fn unlimited() -> Self {
        Limits {
            max_line_bytes: usize::MAX,
            max_event_bytes: usize::MAX,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: Self::DEFAULT_MAX_EVENT_BYTES,
        }
    }
}
