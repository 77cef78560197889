//! The serializer. It validates before it writes, so a frame either goes out whole and parses
//! back to exactly what was asked for, or nothing is written and an [`EncodeError`] says why.
//!
//! Data may hold any text: each line break in it (LF, CR or CRLF) starts a new `data:` line,
//! and a client joins those lines with LF. So CR and CRLF in data arrive as LF: the wire format
//! has no way to carry a CR inside data. Event types and ids have no such escape: a line break
//! in them, or U+0000 in an id, is refused.
//!
//! Other C0 controls (tab excepted) and DEL in an id do round-trip, but Chromium's EventSource
//! will not reconnect with such a last event id (the stream ends in error), so they are refused
//! too unless the caller opts in with [`Message::allow_controls_in_id`].

use bytes::{BufMut, Bytes};

use crate::error::EncodeError;
use crate::line;

/// One frame to send: an event, or only `id` / `retry` / comment lines.
///
/// ```
/// use ssekit_parser::Message;
///
/// let mut out = Vec::new();
/// Message::new("line one\nline two").event("update").id("42").encode(&mut out)?;
/// assert_eq!(out, b"id: 42\nevent: update\ndata: line one\ndata: line two\n\n");
///
/// // A line break in an id would let the rest of it be read as another field: refused.
/// assert!(Message::new("x").id("1\ndata: forged").encode(&mut out).is_err());
/// # Ok::<(), ssekit_parser::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Message<'a> {
    data: Option<&'a str>,
    event: Option<&'a str>,
    id: Option<&'a str>,
    retry: Option<u64>,
    comment: Option<&'a str>,
    id_controls: IdControls,
}

/// Whether an id may hold C0 controls (other than tab, CR, LF, NUL) and DEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum IdControls {
    /// Refused: Chromium will not reconnect with such an id.
    #[default]
    Refused,
    /// Written as given ([`Message::allow_controls_in_id`]).
    Allowed,
}

impl<'a> Message<'a> {
    /// An event with this data (`""` is a real, empty event).
    pub fn new(data: &'a str) -> Self {
        Message {
            data: Some(data),
            ..Message::default()
        }
    }

    /// A frame without data: clients dispatch nothing, but its `id` and `retry` take effect.
    pub fn empty() -> Self {
        Message::default()
    }

    /// Sets the event type (`""` means the default, `message`, and writes no line).
    pub fn event(mut self, event_type: &'a str) -> Self {
        self.event = Some(event_type);
        self
    }

    /// Sets the id; `""` clears the client's last event id.
    ///
    /// An id must be one line without U+0000. It should also be free of other C0 controls
    /// (U+0001 to U+001F, tab excepted) and DEL: the format carries them, but Chromium's
    /// EventSource will not reconnect with such a last event id, so the serializer refuses them
    /// unless [`allow_controls_in_id`](Self::allow_controls_in_id) is called.
    ///
    /// ```
    /// use ssekit_parser::{EncodeError, Message};
    ///
    /// let mut out = Vec::new();
    /// Message::new("x").id("1700000000-7").encode(&mut out)?;
    /// let escape = Message::new("x").id("7\u{1b}[0m");
    /// assert_eq!(escape.encode(&mut out), Err(EncodeError::ControlInId(0x1b)));
    /// # Ok::<(), EncodeError>(())
    /// ```
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Lets the id hold C0 controls other than CR, LF and NUL, and DEL, which are refused by
    /// default because Chromium's EventSource ends the stream in error instead of reconnecting
    /// with such a last event id. For streams no browser reads (other clients keep such ids
    /// as the spec says). CR, LF and NUL stay refused: they cannot round-trip.
    ///
    /// ```
    /// use ssekit_parser::Message;
    ///
    /// let mut out = Vec::new();
    /// Message::new("x").id("a\u{1}b").allow_controls_in_id().encode(&mut out)?;
    /// assert_eq!(out, b"id: a\x01b\ndata: x\n\n");
    /// assert!(Message::new("x").id("a\0b").allow_controls_in_id().encode(&mut out).is_err());
    /// # Ok::<(), ssekit_parser::EncodeError>(())
    /// ```
    pub fn allow_controls_in_id(mut self) -> Self {
        self.id_controls = IdControls::Allowed;
        self
    }

    /// Sets the reconnection time in milliseconds.
    pub fn retry(mut self, ms: u64) -> Self {
        self.retry = Some(ms);
        self
    }

    /// Adds a comment, written before the fields (line breaks start new comment lines).
    pub fn comment(mut self, text: &'a str) -> Self {
        self.comment = Some(text);
        self
    }

    /// Checks that the frame can be written unchanged.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if self.event.is_some_and(|t| has_line_break(t.as_bytes())) {
            return Err(EncodeError::LineBreakInEventType);
        }
        match self.id {
            Some(id) => check_id(id.as_bytes(), self.id_controls),
            None => Ok(()),
        }
    }

    /// Validates, then appends the frame (ending with its blank line) to `buf`. Returns the
    /// number of bytes written; on error nothing is written.
    pub fn encode<B: BufMut>(&self, buf: &mut B) -> Result<usize, EncodeError> {
        self.validate()?;
        let mut w = Counted { buf, written: 0 };
        self.write(&mut w);
        Ok(w.written)
    }

    /// The exact number of bytes [`encode`](Self::encode) writes for a valid message.
    pub fn encoded_len(&self) -> usize {
        let mut w = Counted {
            buf: &mut LenOnly,
            written: 0,
        };
        self.write(&mut w);
        w.written
    }

    fn write<S: Sink>(&self, w: &mut Counted<'_, S>) {
        if let Some(text) = self.comment {
            for_each_line(text, |line| w.line(b":", line));
        }
        if let Some(ms) = self.retry {
            w.line(b"retry: ", decimal(ms, &mut [0; 20]));
        }
        if let Some(id) = self.id {
            w.field(b"id: ", id.as_bytes());
        }
        if let Some(t) = self.event.filter(|t| !t.is_empty()) {
            w.field(b"event: ", t.as_bytes());
        }
        if let Some(data) = self.data {
            for_each_line(data, |line| w.field(b"data: ", line));
        }
        w.put(b"\n");
    }

    /// Encodes into a new [`Bytes`], ready to share between many subscribers.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        self.validate()?;
        // A `Vec` filled to exactly its capacity becomes `Bytes` with no second allocation.
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.write(&mut Counted {
            buf: &mut buf,
            written: 0,
        });
        Ok(Bytes::from(buf))
    }
}

/// Appends a comment frame (`:text`, one line per line of `text`). Comments dispatch nothing;
/// servers send them as heartbeats. No blank line is added, so this never ends an event.
///
/// ```
/// let mut out = Vec::new();
/// ssekit_parser::encode_comment(&mut out, " keep-alive");
/// assert_eq!(out, b": keep-alive\n");
/// ```
pub fn encode_comment<B: BufMut>(buf: &mut B, text: &str) -> usize {
    let mut w = Counted { buf, written: 0 };
    for_each_line(text, |line| w.line(b":", line));
    w.written
}

/// Appends a lone `retry: MS` line followed by a blank line.
///
/// ```
/// let mut out = Vec::new();
/// ssekit_parser::encode_retry(&mut out, 2500);
/// assert_eq!(out, b"retry: 2500\n\n");
/// ```
pub fn encode_retry<B: BufMut>(buf: &mut B, ms: u64) -> usize {
    let mut w = Counted { buf, written: 0 };
    w.line(b"retry: ", decimal(ms, &mut [0; 20]));
    w.put(b"\n");
    w.written
}

/// Where encoded bytes go: a real buffer, or nowhere when only the length is wanted.
trait Sink {
    fn put_slice(&mut self, bytes: &[u8]);
}

impl<B: BufMut> Sink for B {
    fn put_slice(&mut self, bytes: &[u8]) {
        BufMut::put_slice(self, bytes);
    }
}

struct LenOnly;

impl Sink for LenOnly {
    fn put_slice(&mut self, _: &[u8]) {}
}

struct Counted<'b, S: ?Sized> {
    buf: &'b mut S,
    written: usize,
}

impl<S: Sink + ?Sized> Counted<'_, S> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
        self.written += bytes.len();
    }

    fn line(&mut self, prefix: &[u8], value: &[u8]) {
        self.put(prefix);
        self.put(value);
        self.put(b"\n");
    }

    /// `name: value` from a prefix `name: `. The space is always written when there is a
    /// value, so a value that starts with a space keeps it (the parser removes exactly one).
    fn field(&mut self, prefix: &[u8], value: &[u8]) {
        if value.is_empty() {
            self.put(&prefix[..prefix.len() - 1]);
            self.put(b"\n");
        } else {
            self.line(prefix, value);
        }
    }
}

/// Whether `value` holds CR or LF (or, with `nul`, U+0000). Event types and ids are short:
/// a few word loads (the last one overlapping) cover up to 32 bytes, where a vectorised search
/// would cost more in set-up than the whole check.
fn has_forbidden(value: &[u8], nul: bool) -> bool {
    let hit = |w: u64| line::line_ends(w) != 0 || (nul && line::zero_bytes(w) != 0);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let half = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().unwrap_or_default()));
    match value.len() {
        0..=3 => value
            .iter()
            .any(|&b| b == b'\r' || b == b'\n' || (nul && b == 0)),
        // First and last four bytes (overlapping when shorter than 8), both halves real.
        4..=8 => {
            let n = value.len();
            hit(half(&value[..4]) | half(&value[n - 4..]) << 32)
        }
        9..=32 => {
            let n = value.len();
            let mut words = value.chunks_exact(8).map(word);
            words.any(hit) || hit(word(&value[n - 8..]))
        }
        _ => {
            memchr::memchr2(b'\r', b'\n', value).is_some()
                || (nul && memchr::memchr(0, value).is_some())
        }
    }
}

fn has_line_break(value: &[u8]) -> bool {
    has_forbidden(value, false)
}

/// CR and LF, then NUL, then (unless allowed) the other controls Chromium will not reconnect
/// with. One pass over the common, valid id; which error it is only when a control is found.
fn check_id(id: &[u8], controls: IdControls) -> Result<(), EncodeError> {
    if !has_control(id) {
        return Ok(());
    }
    if has_line_break(id) {
        return Err(EncodeError::LineBreakInId);
    }
    if memchr::memchr(0, id).is_some() {
        return Err(EncodeError::NulInId);
    }
    if controls == IdControls::Allowed {
        return Ok(());
    }
    match id.iter().find(|&&b| is_browser_unsafe(b)) {
        Some(&byte) => Err(EncodeError::ControlInId(byte)),
        None => Ok(()),
    }
}

/// A byte Chromium will not send back in `Last-Event-ID`: a C0 control other than tab, or DEL.
/// (CR, LF and NUL are in this set too, but never reach it: they are refused first.)
fn is_browser_unsafe(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Whether `value` holds a byte below 0x20 or DEL (tab included: the exact check runs only on
/// a hit). Word loads as in [`has_forbidden`], whatever the length: ids are short.
fn has_control(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const DELS: u64 = u64::from_ne_bytes([0x7f; 8]);
    // "Has a byte less than n" (n <= 128) and "has a zero byte" are exact as to whether any
    // byte matches, which is all that is asked here.
    let hit = |w: u64| {
        let below = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        below | line::zero_bytes(w ^ DELS) != 0
    };
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    let half = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().unwrap_or_default()));
    let n = value.len();
    match n {
        0..=3 => value.iter().any(|&b| b < 0x20 || b == 0x7f),
        4..=8 => hit(half(&value[..4]) | half(&value[n - 4..]) << 32),
        _ => value.chunks_exact(8).map(word).any(hit) || hit(word(&value[n - 8..])),
    }
}

/// Calls `f` with each line of `text`, splitting at LF, CR and CRLF as a parser would.
fn for_each_line(text: &str, mut f: impl FnMut(&[u8])) {
    let mut rest = text.as_bytes();
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        f(&rest[..i]);
        let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[i + skip..];
    }
    f(rest);
}

fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: Message<'_>) -> String {
        let mut out = Vec::new();
        m.encode(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn splits_every_line_break_style() {
        assert_eq!(
            enc(Message::new("a\nb\rc\r\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(enc(Message::new("")), "data:\n\n");
        assert_eq!(enc(Message::new("x\n")), "data: x\ndata:\n\n");
        assert_eq!(enc(Message::new(" lead")), "data:  lead\n\n");
    }

    #[test]
    fn writes_fields_in_order() {
        assert_eq!(
            enc(Message::new("d").comment("c").retry(0).id("").event("")),
            ":c\nretry: 0\nid:\ndata: d\n\n"
        );
        assert_eq!(
            enc(Message::empty().retry(u64::MAX)),
            "retry: 18446744073709551615\n\n"
        );
    }

    #[test]
    fn encoded_len_is_exact_and_to_bytes_matches_encode() {
        for m in [
            Message::new("a\r\nb")
                .event("e")
                .id("1")
                .retry(5)
                .comment("x\ny"),
            Message::new(""),
            Message::empty().id(""),
        ] {
            let bytes = m.to_bytes().unwrap();
            assert_eq!(m.encoded_len(), bytes.len());
            assert_eq!(enc(m).as_bytes(), &bytes[..]);
        }
    }

    #[test]
    fn refuses_what_cannot_round_trip() {
        let mut out = Vec::new();
        for (m, e) in [
            (
                Message::new("x").event("a\nb"),
                EncodeError::LineBreakInEventType,
            ),
            (
                Message::new("x").event("a\rb"),
                EncodeError::LineBreakInEventType,
            ),
            (Message::new("x").id("1\r"), EncodeError::LineBreakInId),
            (Message::new("x").id("1\0"), EncodeError::NulInId),
            (Message::new("x").id("\0\n"), EncodeError::LineBreakInId),
            (Message::new("x").id("a\u{1}b"), EncodeError::ControlInId(1)),
            (
                Message::new("x").id("\u{7f}"),
                EncodeError::ControlInId(0x7f),
            ),
            (
                Message::new("x").id("long-id-with-escape-\u{1b}-at-21"),
                EncodeError::ControlInId(0x1b),
            ),
            (
                Message::new("x").id("\u{1}\0").allow_controls_in_id(),
                EncodeError::NulInId,
            ),
            (
                Message::new("x").id("\u{1}\r").allow_controls_in_id(),
                EncodeError::LineBreakInId,
            ),
        ] {
            assert_eq!(m.encode(&mut out), Err(e));
        }
        assert!(out.is_empty(), "nothing is written on error");
    }

    #[test]
    fn controls_in_ids_are_allowed_only_when_asked() {
        assert_eq!(enc(Message::new("x").id("a\tb")), "id: a\tb\ndata: x\n\n");
        assert_eq!(
            enc(Message::new("x").id("é\u{80}")),
            "id: é\u{80}\ndata: x\n\n"
        );
        let m = Message::new("x").id("a\u{1f}\u{7f}").allow_controls_in_id();
        assert_eq!(enc(m), "id: a\u{1f}\u{7f}\ndata: x\n\n");
        let refused = Message::new("x").id("a\u{1f}").to_bytes();
        assert_eq!(refused, Err(EncodeError::ControlInId(0x1f)));
        let text = EncodeError::ControlInId(0x1f).to_string();
        assert!(
            text.contains("0x1f") && text.contains("allow_controls_in_id"),
            "{text}"
        );
    }

    #[test]
    fn the_control_check_is_exact() {
        let plain = |v: &[u8]| v.iter().any(|&b| b < 0x20 || b == 0x7f);
        for len in 0..=40 {
            for at in 0..len {
                for byte in [
                    0, 0x01, 0x09, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0x9f, 0xff, b'x',
                ] {
                    let mut v = vec![b'a'; len];
                    v[at] = byte;
                    assert_eq!(has_control(&v), plain(&v), "{v:?}");
                    // Neighbours that could borrow into a clean byte.
                    v.iter_mut().filter(|b| **b == b'a').for_each(|b| *b = 0x20);
                    assert_eq!(has_control(&v), plain(&v), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn the_short_value_check_is_exact() {
        let plain = |v: &[u8], nul: bool| {
            v.iter()
                .any(|&b| b == b'\r' || b == b'\n' || (nul && b == 0))
        };
        for len in 0..=40 {
            for at in 0..len {
                for byte in [b'\r', b'\n', 0, 0x01, 0x0b, 0x0e, 0x8a, 0x8d, 0xff, b'x'] {
                    let mut v = vec![b'a'; len];
                    v[at] = byte;
                    for nul in [false, true] {
                        assert_eq!(has_forbidden(&v, nul), plain(&v, nul), "{v:?} {nul}");
                    }
                }
            }
        }
    }
}
