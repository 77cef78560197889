//! Caps on how much a hostile or broken stream can make the parser buffer.

/// Size caps applied while parsing. Exceeding one yields a [`ParseError`](crate::ParseError)
/// naming the limit and the stream offset; the offending event is dropped and parsing resumes
/// at the next event.
///
/// Non-exhaustive so that new caps can be added: start from [`Limits::new`] (the defaults),
/// [`Limits::default`] or [`Limits::unlimited`] and change what you need, with the `with_*`
/// methods (usable in `const` items) or by assigning the public fields.
///
/// ```
/// use ssekit_parser::{Limits, Parser};
///
/// const LIMITS: Limits = Limits::new().with_max_line_bytes(64 * 1024);
/// let parser = Parser::new().with_limits(LIMITS);
/// assert_eq!(parser.limits().max_line_bytes, 64 * 1024);
/// assert_eq!(parser.limits().max_event_bytes, Limits::DEFAULT_MAX_EVENT_BYTES);
///
/// let mut limits = Limits::default();
/// limits.max_event_bytes = 1 << 16;
/// assert_eq!(limits, Limits::new().with_max_event_bytes(1 << 16));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

    /// The default caps, as a `const fn` (the same as [`Limits::default`]).
    pub const fn new() -> Self {
        Limits {
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            max_event_bytes: Self::DEFAULT_MAX_EVENT_BYTES,
        }
    }

    /// No practical cap (`usize::MAX`): only for trusted input.
    pub const fn unlimited() -> Self {
        Limits {
            max_line_bytes: usize::MAX,
            max_event_bytes: usize::MAX,
        }
    }

    /// Sets [`max_line_bytes`](Self::max_line_bytes).
    #[must_use]
    pub const fn with_max_line_bytes(mut self, bytes: usize) -> Self {
        self.max_line_bytes = bytes;
        self
    }

    /// Sets [`max_event_bytes`](Self::max_event_bytes).
    #[must_use]
    pub const fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}
