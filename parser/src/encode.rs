//! The serializer. It validates before it writes, so a frame either goes out whole and parses
//! back to exactly what was asked for, or nothing is written and an [`EncodeError`] says why.
//!
//! Data may hold any text: each line break in it (LF, CR or CRLF) starts a new `data:` line,
//! and a client joins those lines with LF. So CR and CRLF in data arrive as LF: the wire format
//! has no way to carry a CR inside data. Event types and ids have no such escape: a line break
//! in them, or U+0000 in an id, is refused.

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
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
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
        if let Some(id) = self.id.map(str::as_bytes) {
            // One pass for the common, valid id; which error it is only when one is found.
            if has_forbidden(id, true) {
                return Err(if has_line_break(id) {
                    EncodeError::LineBreakInId
                } else {
                    EncodeError::NulInId
                });
            }
        }
        Ok(())
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
        ] {
            assert_eq!(m.encode(&mut out), Err(e));
        }
        assert!(out.is_empty(), "nothing is written on error");
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
