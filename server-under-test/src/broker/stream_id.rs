//! Redis stream ids (`MS-SEQ`), which are the SSE event ids in `--redis` mode.

use std::fmt;

/// A Redis stream entry id: milliseconds and a sequence number, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StreamId {
    ms: u64,
    seq: u64,
}

impl StreamId {
    /// `0-0`: before every entry (the position of an empty stream).
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Parses `MS-SEQ` (both plain ASCII digits, as Redis writes them). Anything else,
    /// including ids of the single-node `EPOCH-SEQ` scheme with hex letters, is `None`.
    pub fn parse(raw: &[u8]) -> Option<StreamId> {
        let text = std::str::from_utf8(raw).ok()?;
        let (ms, seq) = text.split_once('-')?;
        let number = |s: &str| {
            let digits = !s.is_empty() && s.len() <= 20 && s.bytes().all(|c| c.is_ascii_digit());
            digits.then(|| s.parse::<u64>().ok()).flatten()
        };
        Some(StreamId {
            ms: number(ms)?,
            seq: number(seq)?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_like_redis() {
        let a = StreamId::parse(b"1700000000000-0").unwrap();
        let b = StreamId::parse(b"1700000000000-10").unwrap();
        let c = StreamId::parse(b"1700000000001-2").unwrap();
        assert!(StreamId::ZERO < a && a < b && b < c);
        assert_eq!(b.to_string(), "1700000000000-10");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            &b""[..],
            b"1",
            b"-1",
            b"1-",
            b"1-2-3",
            b"3f9a1c02d4e8-41",
            b"+1-2",
            b"1 -2",
            b"99999999999999999999999-1",
            b"\xff-1",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad:?}");
        }
    }
}
