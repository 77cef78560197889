//! What the parser hands out: borrowed frames for speed, owned and `Bytes` forms for keeping.

use bytes::Bytes;

/// The event type used when a dispatched event had no (or an empty) `event` field.
pub const DEFAULT_EVENT_TYPE: &str = "message";

/// A dispatched event, borrowing from the chunk it was parsed from or from the parser's reused
/// buffers. Copy what you keep with [`Event::to_owned_event`] or [`Event::to_bytes_event`].
// Exhaustive on purpose: type, data and last event id are what the spec's dispatch step hands
// to the page (the origin belongs to the transport, not to the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Event<'a> {
    /// The event type: the last `event` field's value, or `"message"`.
    pub event_type: &'a str,
    /// The `data` lines' values joined with LF.
    pub data: &'a str,
    /// The stream's last event id when the event was dispatched (`""` when none was set). It
    /// persists across events until an `id` field changes it.
    pub id: &'a str,
}

impl Event<'_> {
    /// Copies the event into owned strings.
    pub fn to_owned_event(&self) -> OwnedEvent {
        OwnedEvent {
            event_type: self.event_type.to_owned(),
            data: self.data.to_owned(),
            id: self.id.to_owned(),
        }
    }

    /// Converts into a [`BytesEvent`], sharing `chunk`'s memory (a reference count, no copy)
    /// for every field that lies inside it and copying only the others.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use ssekit_parser::{Frame, Parser};
    ///
    /// let chunk = Bytes::from_static(b"data: shared\n\n");
    /// let mut parser = Parser::new();
    /// let mut feed = parser.feed(&chunk);
    /// let Some(Ok(Frame::Event(event))) = feed.next_frame() else { panic!() };
    /// let kept = event.to_bytes_event(&chunk);
    /// assert_eq!(kept.data_str(), "shared");
    /// assert_eq!(kept.data().as_ptr(), chunk[6..].as_ptr()); // no copy
    /// ```
    pub fn to_bytes_event(&self, chunk: &Bytes) -> BytesEvent {
        BytesEvent {
            event_type: share_or_copy(chunk, self.event_type),
            data: share_or_copy(chunk, self.data),
            id: share_or_copy(chunk, self.id),
        }
    }
}

fn share_or_copy(chunk: &Bytes, text: &str) -> Bytes {
    if text == DEFAULT_EVENT_TYPE && !within(chunk, text) {
        return Bytes::from_static(DEFAULT_EVENT_TYPE.as_bytes());
    }
    if text.is_empty() {
        return Bytes::new();
    }
    if within(chunk, text) {
        return chunk.slice_ref(text.as_bytes());
    }
    Bytes::copy_from_slice(text.as_bytes())
}

fn within(chunk: &Bytes, text: &str) -> bool {
    let outer = chunk.as_ptr_range();
    let inner = text.as_bytes().as_ptr_range();
    outer.start <= inner.start && inner.end <= outer.end
}

/// An event with owned strings.
// Exhaustive for the same reason as `Event`; callers build it to compare against.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct OwnedEvent {
    /// The event type (`"message"` by default).
    pub event_type: String,
    /// The data, lines joined with LF.
    pub data: String,
    /// The last event id at dispatch.
    pub id: String,
}

impl From<Event<'_>> for OwnedEvent {
    fn from(event: Event<'_>) -> Self {
        event.to_owned_event()
    }
}

/// An event kept as reference-counted [`Bytes`], typically sharing the chunk it came from.
///
/// Every field is valid UTF-8 by construction: they are built only from the parser's text, and
/// they are private so that nothing else can put bytes in them. Read them as text
/// ([`data_str`](Self::data_str)) or as `Bytes` ([`data`](Self::data)), which clone for a
/// reference count, e.g. to hand the payload to a JSON decoder or another task.
///
/// ```
/// use bytes::Bytes;
/// use ssekit_parser::{Frame, Parser};
///
/// let chunk = Bytes::from_static(b"event: note\ndata: hi\n\n");
/// let mut parser = Parser::new();
/// let mut feed = parser.feed(&chunk);
/// let Some(Ok(Frame::Event(event))) = feed.next_frame() else { panic!() };
/// let kept = event.to_bytes_event(&chunk);
/// assert_eq!((kept.event_type_str(), kept.data_str(), kept.id_str()), ("note", "hi", ""));
/// assert_eq!(kept.as_event(), event);
/// let payload: Bytes = kept.data().clone(); // shares the chunk
/// assert_eq!(payload, "hi");
/// ```
// Fields are `pub(crate)` so that the adapters (`stream`, `codec`, `read`) can build events.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BytesEvent {
    /// The event type, UTF-8.
    pub(crate) event_type: Bytes,
    /// The data, UTF-8.
    pub(crate) data: Bytes,
    /// The last event id, UTF-8.
    pub(crate) id: Bytes,
}

impl BytesEvent {
    /// The event type as text.
    pub fn event_type_str(&self) -> &str {
        utf8(&self.event_type)
    }
    /// The data as text.
    pub fn data_str(&self) -> &str {
        utf8(&self.data)
    }
    /// The id as text.
    pub fn id_str(&self) -> &str {
        utf8(&self.id)
    }
    /// The event type's bytes (UTF-8).
    pub fn event_type(&self) -> &Bytes {
        &self.event_type
    }
    /// The data's bytes (UTF-8).
    pub fn data(&self) -> &Bytes {
        &self.data
    }
    /// The id's bytes (UTF-8).
    pub fn id(&self) -> &Bytes {
        &self.id
    }
    /// The event as a borrowed [`Event`], e.g. to share code with the borrowed API.
    pub fn as_event(&self) -> Event<'_> {
        Event {
            event_type: self.event_type_str(),
            data: self.data_str(),
            id: self.id_str(),
        }
    }
    /// Copies the event into owned strings.
    pub fn to_owned_event(&self) -> OwnedEvent {
        self.as_event().to_owned_event()
    }
}

impl From<BytesEvent> for OwnedEvent {
    fn from(event: BytesEvent) -> Self {
        event.to_owned_event()
    }
}

// The fields are built only from `&str`, so this never falls back; validating keeps the crate
// free of `unsafe` at the cost of one fast (SIMD) scan.
fn utf8(bytes: &Bytes) -> &str {
    crate::decode::as_str(bytes).unwrap_or_default()
}

/// Why a line had no effect. Reported only when
/// [`Parser::report_ignored`](crate::Parser::report_ignored) is on.
///
/// Non-exhaustive: this is where the parser reports more of what a linter wants to know
/// about lines without effect (the [`Frame`] kinds themselves are fixed by the spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// A field name other than `event`, `data`, `id`, `retry` (names are case-sensitive).
    UnknownField,
    /// A `retry` value that is not one or more ASCII digits.
    InvalidRetry,
    /// An `id` value containing U+0000.
    IdWithNul,
}

/// A line the spec says to ignore, with its text.
///
/// Non-exhaustive: more about the line (such as its stream offset) may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Ignored<'a> {
    /// Why it was ignored.
    pub reason: IgnoreReason,
    /// The whole line, decoded.
    pub line: &'a str,
}

/// One thing the parser observed, in stream order.
// Exhaustive on purpose: these are the spec's observable outcomes of a line (a blank line
// dispatches, `retry` sets the reconnection time, a comment, a line without effect). The
// format grows through new field names, which this already reports as `Ignored`; new kinds of
// report go into `IgnoreReason`, which is non-exhaustive. So `match` without a `_` arm is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frame<'a> {
    /// A dispatched event (a blank line ended a block with at least one `data` line).
    Event(Event<'a>),
    /// An accepted `retry` field: the reconnection time in milliseconds. Values past
    /// `u64::MAX` saturate to `u64::MAX`.
    Retry(u64),
    /// A comment line (`:` and what follows it), e.g. a heartbeat.
    Comment(&'a str),
    /// A line without effect; only with [`Parser::report_ignored`](crate::Parser::report_ignored).
    Ignored(Ignored<'a>),
}

impl Frame<'_> {
    /// Copies the frame into an owned form.
    pub fn to_owned_frame(&self) -> OwnedFrame {
        match *self {
            Frame::Event(e) => OwnedFrame::Event(e.to_owned_event()),
            Frame::Retry(ms) => OwnedFrame::Retry(ms),
            Frame::Comment(c) => OwnedFrame::Comment(c.to_owned()),
            Frame::Ignored(i) => OwnedFrame::Ignored(i.reason, i.line.to_owned()),
        }
    }
}

/// An owned [`Frame`].
// Exhaustive for the same reason as `Frame`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnedFrame {
    /// A dispatched event.
    Event(OwnedEvent),
    /// An accepted `retry` value in milliseconds.
    Retry(u64),
    /// A comment's text after the colon.
    Comment(String),
    /// An ignored line and why.
    Ignored(IgnoreReason, String),
}
