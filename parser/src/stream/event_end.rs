//! Where events end in raw bytes, found before parsing.
//!
//! [`EventStream`](super::EventStream) hands the parser whole runs of events in one contiguous
//! piece, so that every value of an event can be shared with the chunk it came from instead of
//! being copied. It cuts after a blank line: a line end that follows another line end. The
//! parser does not depend on where the cuts fall (its output is the same for any chunking), so
//! a cut missed or misplaced here costs a copy, never a wrong event.

use memchr::{memchr2_iter, memrchr2_iter};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// The two bytes of the stream before some position (NUL before the stream's start, which
/// reads as text: no blank line is found there, which only costs the chance of a cut).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Before([u8; 2]);

impl Before {
    /// The two bytes before `bytes[at..]`, where `self` is the two before `bytes`.
    pub(crate) fn at(self, bytes: &[u8], at: usize) -> Before {
        match at {
            0 => self,
            1 => Before([self.0[1], bytes[0]]),
            _ => Before([bytes[at - 2], bytes[at - 1]]),
        }
    }
}

fn is_line_end(byte: u8) -> bool {
    byte == CR || byte == LF
}

/// Whether the line end byte `bytes[at]` ends an empty line: the bytes before it end another
/// line. A CRLF pair is one line end, so `a\r\n` has one and `\n\r\n` or `\r\r\n` two.
fn ends_blank_line(bytes: &[u8], at: usize, before: Before) -> bool {
    let back = |n: usize| match at.checked_sub(n) {
        Some(i) => bytes[i],
        None => before.0[at + 2 - n],
    };
    let previous = back(1);
    if !is_line_end(previous) {
        return false;
    }
    if previous == CR && bytes[at] == LF {
        // The CR and this LF are one line end: blank only if another one comes before.
        return is_line_end(back(2));
    }
    true
}

/// The cut just after the line end at `at`, past the LF of a CRLF pair.
fn after(bytes: &[u8], at: usize) -> usize {
    if bytes[at] == CR && bytes.get(at + 1) == Some(&LF) {
        at + 2
    } else {
        at + 1
    }
}

/// The end of the first blank line in `bytes`, preceded in the stream by `before`.
pub(crate) fn first(bytes: &[u8], before: Before) -> Option<usize> {
    memchr2_iter(CR, LF, bytes)
        .find(|&at| ends_blank_line(bytes, at, before))
        .map(|at| after(bytes, at))
}

/// The end of the last blank line in `bytes`, preceded in the stream by `before`. Scans
/// backwards, so the cost is the unfinished event after the cut, not the whole chunk.
pub(super) fn last(bytes: &[u8], before: Before) -> Option<usize> {
    memrchr2_iter(CR, LF, bytes)
        .find(|&at| ends_blank_line(bytes, at, before))
        .map(|at| after(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: Before = Before([0, 0]);

    #[test]
    fn every_line_end_pair_is_a_blank_line_and_a_crlf_alone_is_not() {
        for (input, want) in [
            (&b"data: a\n\n"[..], Some(9)),
            (b"data: a\r\r", Some(9)),
            (b"data: a\r\n\r\n", Some(11)),
            (b"data: a\n\r\n", Some(10)),
            (b"data: a\r\r\n", Some(10)),
            (b"data: a\n\r", Some(9)),
            (b"data: a\r\n", None),
            (b"data: a\ndata: b\n", None),
            (b"no line end", None),
            (b"", None),
        ] {
            assert_eq!(
                last(input, START),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(
                first(input, START),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn first_and_last_pick_the_outermost_blank_lines() {
        let input = b"data: a\n\ndata: b\n\ndata: c\n";
        assert_eq!(first(input, START), Some(9));
        assert_eq!(last(input, START), Some(18));
    }

    #[test]
    fn a_blank_line_split_by_a_chunk_end_is_found_from_the_bytes_before() {
        // `data: a\r\n` | `\r\n`: the second chunk's CRLF ends an empty line.
        let before = START.at(b"data: a\r\n", 9);
        assert_eq!(before, Before([b'\r', b'\n']));
        assert_eq!(first(b"\r\ndata: b", before), Some(2));
        // `data: a\r` | `\n`: one CRLF, not a blank line.
        let before = START.at(b"data: a\r", 8);
        assert_eq!(first(b"\ndata: b\n", before), None);
        // A one-byte chunk shifts the bytes before along.
        let before = START.at(b"x", 1).at(b"\n", 1);
        assert_eq!(before, Before([b'x', b'\n']));
        assert_eq!(first(b"\n", before), Some(1));
    }
}
