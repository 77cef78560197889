//! How a corpus is cut into the chunks a network read would hand a parser.

use std::ops::Range;
use std::sync::Arc;

/// A named way to cut a byte buffer into chunks. Cheap to clone; the ranges are computed on the
/// fly, so a 1-byte chunking of 8 MiB costs no memory.
#[derive(Debug, Clone)]
pub struct Chunking {
    /// Short name used in benchmark ids, e.g. `128B` or `line-aligned`.
    pub name: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// A first chunk of `first` bytes (0: none), then chunks of `size` bytes.
    Fixed { first: usize, size: usize },
    /// Explicit chunk end offsets, strictly increasing, the last one being the length.
    Cuts(Arc<[usize]>),
}

impl Chunking {
    /// The whole buffer as one chunk.
    pub fn whole() -> Self {
        Chunking {
            name: "whole".into(),
            kind: Kind::Fixed {
                first: 0,
                size: usize::MAX,
            },
        }
    }

    /// Chunks of `size` bytes.
    pub fn fixed(size: usize) -> Self {
        Chunking {
            name: size_name(size),
            kind: Kind::Fixed { first: 0, size },
        }
    }

    /// A first chunk of `first` bytes (to split a leading BOM), then chunks of `size` bytes.
    pub fn split_head(first: usize, size: usize) -> Self {
        let rest = if size == usize::MAX {
            "rest".to_owned()
        } else {
            size_name(size)
        };
        Chunking {
            name: format!("{first}B+{rest}"),
            kind: Kind::Fixed { first, size },
        }
    }

    /// Explicit chunk ends (each exclusive). Empty chunks are dropped.
    pub fn cuts(name: &str, mut ends: Vec<usize>, len: usize) -> Self {
        ends.retain(|&e| e > 0 && e < len);
        ends.dedup();
        ends.push(len);
        Chunking {
            name: name.into(),
            kind: Kind::Cuts(ends.into()),
        }
    }

    /// One chunk per line, each with its line end (LF, CRLF or CR).
    pub fn line_aligned(bytes: &[u8]) -> Self {
        let mut ends = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    ends.push(i + 2);
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => ends.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Self::cuts("line-aligned", ends, bytes.len())
    }

    /// One chunk per event: each cut falls just after a blank line (the line end that closes an
    /// empty line), as a server that flushes once per event and a client that reads as fast
    /// as it arrives see it.
    pub fn event_aligned(bytes: &[u8]) -> Self {
        let mut ends = Vec::new();
        // Whether the bytes since the last line end are empty: a line end then ends a blank line.
        let mut line_empty = true;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' | b'\n' => {
                    let end = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                        i + 2
                    } else {
                        i + 1
                    };
                    if line_empty {
                        ends.push(end);
                    }
                    line_empty = true;
                    i = end;
                    continue;
                }
                _ => line_empty = false,
            }
            i += 1;
        }
        Self::cuts("event-aligned", ends, bytes.len())
    }

    /// Chunks of about `size` bytes, each cut moved to fall between the CR and LF of a CRLF.
    pub fn crlf_split(bytes: &[u8], size: usize) -> Self {
        let mut ends = Vec::new();
        let mut at = size;
        while at < bytes.len() {
            let Some(off) = memchr_crlf(&bytes[at..]) else {
                break;
            };
            let cut = at + off + 1; // just after the CR
            ends.push(cut);
            at = cut + size;
        }
        Self::cuts(
            &format!("crlf-split-{}", size_name(size)),
            ends,
            bytes.len(),
        )
    }

    /// The chunk ranges over a buffer of `len` bytes.
    pub fn ranges(&self, len: usize) -> Ranges {
        Ranges {
            kind: self.kind.clone(),
            len,
            pos: 0,
            index: 0,
        }
    }

    /// How many chunks a buffer of `len` bytes is cut into.
    pub fn count(&self, len: usize) -> usize {
        match &self.kind {
            Kind::Fixed { first, size } => {
                let head = usize::from(*first > 0 && len > 0);
                let rest = len.saturating_sub(*first);
                head + rest.div_ceil(*size)
            }
            Kind::Cuts(ends) => ends.len(),
        }
    }
}

fn memchr_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

fn size_name(size: usize) -> String {
    match size {
        usize::MAX => "whole".into(),
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// Iterator over the chunk ranges of one buffer.
#[derive(Debug, Clone)]
pub struct Ranges {
    kind: Kind,
    len: usize,
    pos: usize,
    index: usize,
}

impl Iterator for Ranges {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.pos >= self.len {
            return None;
        }
        let end = match &self.kind {
            Kind::Fixed { first, size } => {
                let step = if self.index == 0 && *first > 0 {
                    *first
                } else {
                    *size
                };
                self.pos.saturating_add(step).min(self.len)
            }
            Kind::Cuts(ends) => ends[self.index].min(self.len),
        };
        self.index += 1;
        let range = self.pos..end;
        self.pos = end;
        Some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces<'a>(c: &Chunking, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        c.ranges(bytes.len()).map(|r| &bytes[r]).collect()
    }

    #[test]
    fn chunkings_cover_the_buffer() {
        let b = b"data: a\r\n\r\ndata: b\n\n";
        assert_eq!(pieces(&Chunking::whole(), b), [&b[..]]);
        assert_eq!(pieces(&Chunking::fixed(8), b).concat(), b);
        assert_eq!(Chunking::fixed(8).count(b.len()), 3);
        let head = Chunking::split_head(2, 8);
        assert_eq!(pieces(&head, b)[0], b"da");
        assert_eq!(pieces(&head, b).concat(), b);
        assert_eq!(head.count(b.len()), pieces(&head, b).len());
        let lines = Chunking::line_aligned(b);
        assert_eq!(
            pieces(&lines, b),
            [&b"data: a\r\n"[..], b"\r\n", b"data: b\n", b"\n"]
        );
        let events = Chunking::event_aligned(b);
        assert_eq!(
            pieces(&events, b),
            [&b"data: a\r\n\r\n"[..], b"data: b\n\n"]
        );
        let cr = b"data: a\r\rdata: b\r\r:tail";
        assert_eq!(
            pieces(&Chunking::event_aligned(cr), cr),
            [&b"data: a\r\r"[..], b"data: b\r\r", b":tail"]
        );
        let split = Chunking::crlf_split(b, 1);
        assert_eq!(
            pieces(&split, b),
            [&b"data: a\r"[..], b"\n\r", b"\ndata: b\n\n"]
        );
    }
}
