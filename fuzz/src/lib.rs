//! Shared pieces of the fuzz targets.
//!
//! - [`props`]: the property checks, the very file `cargo test` runs as proptest cases
//!   (`parser/tests/props/mod.rs`), so stable and nightly check the same thing.
//! - [`Header`]: the first bytes of a `parse` or `differential` input, saying how to cut and
//!   feed the stream that follows (so seeds are a header plus a raw `.sse` file; see `seed.sh`).
#![forbid(unsafe_code)]

use arbitrary::Arbitrary;
use ssekit_parser::Limits;

#[path = "../../parser/tests/props/mod.rs"]
pub mod props;

/// How to feed the stream: 16 bytes in front of it.
#[derive(Debug, Clone, Arbitrary)]
pub struct Header {
    /// Bit 0: report ignored lines. Bit 1: small limits from the next fields instead of the
    /// defaults.
    pub flags: u8,
    /// Small `max_line_bytes`.
    pub max_line: u8,
    /// Small `max_event_bytes` (modulo 2048).
    pub max_event: u16,
    /// Chunk lengths, cycled; 0 feeds an empty chunk.
    pub lens: [u8; 6],
    /// Per chunk: 0 drains the feed, `n` > 0 drops it after `n - 1` frames.
    pub drops: [u8; 6],
}

impl Header {
    /// The feeding plan this header describes.
    pub fn plan(&self) -> props::FeedPlan {
        props::FeedPlan {
            chunk_lens: self.lens.iter().map(|&l| usize::from(l)).collect(),
            early_drop: self
                .drops
                .iter()
                .map(|&d| d.checked_sub(1).map(|n| usize::from(n % 8)))
                .collect(),
            report_ignored: self.flags & 1 != 0,
        }
    }

    /// The parser's limits: the defaults unless bit 1 of `flags` asks for small ones.
    pub fn limits(&self) -> Limits {
        if self.flags & 2 == 0 {
            return Limits::default();
        }
        Limits::new()
            .with_max_line_bytes(usize::from(self.max_line))
            .with_max_event_bytes(usize::from(self.max_event % 2048))
    }
}

/// A `parse` or `differential` input: the header, then the stream (all remaining bytes).
#[derive(Debug, Arbitrary)]
pub struct StreamInput {
    /// How to feed it.
    pub header: Header,
    /// The bytes of the event stream.
    pub stream: Vec<u8>,
}

/// A `roundtrip` input: frames to serialize and how to cut the result.
#[derive(Debug, Arbitrary)]
pub struct RoundtripInput {
    /// Chunk lengths for parsing the serialized stream.
    pub lens: [u8; 4],
    /// The frames.
    pub specs: Vec<SpecInput>,
}

/// An arbitrary [`props::Spec`].
#[derive(Debug, Arbitrary)]
pub struct SpecInput {
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    comment: Option<String>,
}

impl From<SpecInput> for props::Spec {
    fn from(s: SpecInput) -> Self {
        props::Spec {
            data: s.data,
            event: s.event,
            id: s.id,
            retry: s.retry,
            comment: s.comment,
        }
    }
}
