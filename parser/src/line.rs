//! Line ends: CRLF, LF or a lone CR, possibly split across chunks.

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `\n`
    Lf,
    /// `\r` followed by `\n` in the same chunk.
    CrLf,
    /// `\r` not followed by `\n` in this chunk: the line has ended, and if the next chunk starts
    /// with `\n` that byte belongs to this line end.
    Cr,
}

/// A line found in `rest`: its length and how many bytes the line plus its end take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub len: usize,
    pub consumed: usize,
    pub ending: Ending,
}

/// Finds the first line end in `rest`. A CR ends the line at once, so an event closed by
/// `\r\r` dispatches without waiting for the next chunk.
// Inlined into the feed loop: once the word scan made it larger the compiler stopped doing so,
// and the call cost 5% per event on small events fed a line per chunk.
#[inline]
pub(crate) fn find(rest: &[u8]) -> Option<Found> {
    let len = position_of_line_end(rest)?;
    let (consumed, ending) = match (rest[len], rest.get(len + 1)) {
        (b'\n', _) => (len + 1, Ending::Lf),
        (_, Some(b'\n')) => (len + 2, Ending::CrLf),
        _ => (len + 1, Ending::Cr),
    };
    Some(Found {
        len,
        consumed,
        ending,
    })
}

/// Most lines of real streams (`id`, `event`, short `data`, blank lines, heartbeats) end
/// within a few bytes, and small chunks of a long line are a few dozen bytes: there a
/// word-at-a-time scan beats the vectorised search, whose set-up and dispatch profiles showed
/// as the top cost on small events and on a long line fed in 64-byte chunks. Inputs up to
/// `SHORT` bytes are scanned whole that way; longer ones for their first `HEAD` bytes, then
/// by the vectorised search.
const SHORT: usize = 64;
const HEAD: usize = 16;

fn position_of_line_end(rest: &[u8]) -> Option<usize> {
    let scanned = if rest.len() <= SHORT {
        rest.len()
    } else {
        HEAD
    };
    let mut pairs = rest[..scanned].chunks_exact(16);
    let mut at = 0;
    for pair in &mut pairs {
        let (lo, hi) = pair.split_at(8);
        let lo = line_ends(u64::from_le_bytes(lo.try_into().unwrap_or_default()));
        let hi = line_ends(u64::from_le_bytes(hi.try_into().unwrap_or_default()));
        if lo | hi != 0 {
            let first = if lo != 0 {
                lo.trailing_zeros()
            } else {
                64 + hi.trailing_zeros()
            };
            return Some(at + first as usize / 8);
        }
        at += 16;
    }
    if let Some(i) = pairs
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
    {
        return Some(at + i);
    }
    let tail = rest.get(scanned..).filter(|tail| !tail.is_empty())?;
    memchr::memchr2(b'\r', b'\n', tail).map(|i| i + scanned)
}

/// The high bit of each byte of `w` that may be CR or LF, read as little-endian: bits above
/// the lowest one may be false positives (a borrow), but the lowest set bit is always exact.
pub(crate) fn line_ends(w: u64) -> u64 {
    zero_bytes(w ^ CRS) | zero_bytes(w ^ LFS)
}

const CRS: u64 = u64::from_ne_bytes([b'\r'; 8]);
const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each zero byte of `w` (see [`line_ends`] for the false positives).
pub(crate) fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings() {
        assert_eq!(find(b"ab"), None);
        let f = find(b"ab\ncd").unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (2, 3, Ending::Lf));
        let f = find(b"ab\r\ncd").unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (2, 4, Ending::CrLf));
        let f = find(b"ab\rcd").unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (2, 3, Ending::Cr));
        let f = find(b"ab\r").unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (2, 3, Ending::Cr));
        let f = find(b"\r\r").unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (0, 1, Ending::Cr));
        // Past the short look-ahead, the vectorised search takes over at the right offset.
        let long = [&[b'x'; 40][..], b"\r\n"].concat();
        let f = find(&long).unwrap();
        assert_eq!((f.len, f.consumed, f.ending), (40, 42, Ending::CrLf));
        assert_eq!(find(&[b'x'; 40]), None);
        for at in 0..=SHORT + 1 {
            let mut line = vec![b'x'; SHORT + 8];
            line[at] = b'\r';
            assert_eq!(find(&line).unwrap().len, at);
            // A byte just above CR or LF, and a second line end further on (borrows).
            line[at] = b'\x0e';
            line[at.saturating_sub(1)] = b'\x01';
            line[SHORT + 7] = b'\n';
            let first = line.iter().position(|&b| b == b'\n').unwrap();
            assert_eq!(find(&line).unwrap().len, first);
        }
    }

    #[test]
    fn word_scan_agrees_with_a_plain_search() {
        // Bytes next to CR and LF (borrows in the word trick), high bytes, and line ends.
        const ALPHABET: [u8; 10] = [b'x', 0x00, 0x01, 0x09, 0x0b, 0x0c, 0x0e, 0x8a, 0x8d, 0xff];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 100) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| ALPHABET[(next() % 10) as usize]).collect();
            for _ in 0..next() % 3 {
                if len > 0 {
                    let at = (next() % len as u64) as usize;
                    bytes[at] = if next() % 2 == 0 { b'\r' } else { b'\n' };
                }
            }
            let plain = bytes.iter().position(|&b| b == b'\r' || b == b'\n');
            assert_eq!(position_of_line_end(&bytes), plain, "{bytes:?}");
        }
    }
}
