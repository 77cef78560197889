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
/// within a few bytes: a plain look at the first bytes skips the vectorised search's setup,
/// which profiles showed as the top cost on small events.
const SHORT: usize = 16;

fn position_of_line_end(rest: &[u8]) -> Option<usize> {
    let head = &rest[..rest.len().min(SHORT)];
    if let Some(i) = head.iter().position(|&b| b == b'\r' || b == b'\n') {
        return Some(i);
    }
    let tail = rest.get(SHORT..)?;
    memchr::memchr2(b'\r', b'\n', tail).map(|i| i + SHORT)
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
        let edge = [&[b'x'; 16][..], b"\n"].concat();
        assert_eq!(find(&edge).unwrap().len, 16);
    }
}
