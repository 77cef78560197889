//! The benchmark corpora, generated from a fixed seed, each with the answer it must give.
//!
//! The expected tally (events dispatched, data bytes) is computed while generating, from what
//! the generator wrote and the WHATWG rules, not by running any parser: the checks in
//! [`crate::verify`] then hold every parser to it.

use bytes::Bytes;

use crate::chunking::Chunking;
use crate::rng::SplitMix64;
use crate::tally::Tally;

/// Fixed seed: change it and every published figure is void.
pub const SEED: u64 = 0x55E_C17;

/// A generated stream, how to cut it, and what a correct parser gets out of it.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Short name used in benchmark group ids.
    pub name: &'static str,
    /// The whole stream.
    pub bytes: Bytes,
    /// Events a conforming parser dispatches, and the sum of their data lengths.
    pub expected: Tally,
    /// The chunkings benchmarked for this corpus.
    pub chunkings: Vec<Chunking>,
    /// Small enough to compare event by event with the `nom` oracle.
    pub oracle_checked: bool,
}

/// Line terminator used by a generated corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
    /// `\r`
    Cr,
}

impl Eol {
    fn bytes(self) -> &'static [u8] {
        match self {
            Eol::Lf => b"\n",
            Eol::CrLf => b"\r\n",
            Eol::Cr => b"\r",
        }
    }
}

/// Collects lines and keeps the expected tally in step with them.
struct Writer {
    out: Vec<u8>,
    eol: Eol,
    expected: Tally,
    /// Data lines seen in the current block, and their bytes joined with LF.
    block_lines: u64,
    block_bytes: u64,
}

impl Writer {
    fn new(eol: Eol, capacity: usize) -> Self {
        Writer {
            out: Vec::with_capacity(capacity),
            eol,
            expected: Tally::default(),
            block_lines: 0,
            block_bytes: 0,
        }
    }

    /// A line with no effect on dispatch (comment, id, event, retry, unknown field).
    fn line(&mut self, text: &[u8]) {
        self.out.extend_from_slice(text);
        self.out.extend_from_slice(self.eol.bytes());
    }

    /// `data: value` (or the bare `data` / `data:` forms, which add an empty line).
    fn data(&mut self, prefix: &[u8], value: &[u8]) {
        self.out.extend_from_slice(prefix);
        self.line(value);
        self.block_bytes += value.len() as u64 + u64::from(self.block_lines > 0);
        self.block_lines += 1;
    }

    /// The blank line: a block with at least one data line dispatches.
    fn blank(&mut self) {
        self.line(b"");
        if self.block_lines > 0 {
            self.expected.events += 1;
            self.expected.data_bytes += self.block_bytes;
        }
        self.block_lines = 0;
        self.block_bytes = 0;
    }

    fn finish(self) -> (Bytes, Tally) {
        assert_eq!(self.block_lines, 0, "corpus must end with a complete event");
        (Bytes::from(self.out), self.expected)
    }
}

const WORDS: &[&str] = &[
    "the", "model", "token", "stream", "event", "delta", "of", "and", "server", "client", "a",
    "chunk", "reply", "to", "is", "fast", "parser", "line", "data", "with", "JSON", "field",
    "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "in", "time",
];

const MULTIBYTE: &[&str] = &[
    "héllo",
    "naïve",
    "größe",
    "中文",
    "日本語",
    "🚀",
    "Ωmega",
    "café",
];

/// Appends space-separated words until `text` reaches `len` bytes (a little over is fine);
/// with `multibyte`, about one word in four is non-ASCII.
fn words(rng: &mut SplitMix64, text: &mut String, len: usize, multibyte: bool) {
    while text.len() < len {
        if !text.is_empty() {
            text.push(' ');
        }
        let word = if multibyte && rng.percent(25) {
            rng.pick(MULTIBYTE)
        } else {
            rng.pick(WORDS)
        };
        text.push_str(word);
    }
}

/// Corpus A, "small-json": 10 000 LLM-token-shaped events (`id`, `event: delta`, one JSON
/// `data` line of 50-130 B), LF line ends, about 1 MiB.
pub fn small_json() -> Corpus {
    let mut rng = SplitMix64::new(SEED);
    let mut w = Writer::new(Eol::Lf, 1 << 20);
    for seq in 0..10_000u32 {
        let mut content = String::new();
        for _ in 0..rng.range(1, 12) {
            let len = content.len() + 1;
            words(&mut rng, &mut content, len, false);
        }
        w.line(format!("id: {seq}").as_bytes());
        w.line(b"event: delta");
        let data =
            format!(r#"{{"id":"c-{seq}","choices":[{{"delta":{{"content":"{content}"}}}}]}}"#);
        w.data(b"data: ", data.as_bytes());
        w.blank();
    }
    let (bytes, expected) = w.finish();
    // Besides whole, 128 B and line-aligned: the reads an async client sees. 1-32 B (a slow
    // link or a proxy that flushes per token fragment), one read per event (a server that
    // flushes each event, read as it arrives), one TCP segment's payload (1448 B: 1500 B MTU
    // less IP, TCP and timestamp headers) and a 16 KiB read buffer.
    let chunkings = vec![
        Chunking::whole(),
        Chunking::fixed(128),
        Chunking::line_aligned(&bytes),
        Chunking::fixed(1),
        Chunking::fixed(8),
        Chunking::fixed(32),
        Chunking::event_aligned(&bytes),
        Chunking::fixed(1448),
        Chunking::fixed(16 * 1024),
    ];
    Corpus {
        name: "A-small-json",
        bytes,
        expected,
        chunkings,
        oracle_checked: true,
    }
}

/// Size of the single long data lines in corpus B.
pub const MIB: usize = 1 << 20;

/// Corpus B, "large-multiline": 256 events of 4-28 `data` lines of 80-4000 B (log-like text,
/// multibyte UTF-8 in 10% of lines), CRLF line ends, plus 4 events made of one 1 MiB `data`
/// line; about 12 MiB.
pub fn large_multiline() -> Corpus {
    let mut rng = SplitMix64::new(SEED ^ 0xB);
    let mut w = Writer::new(Eol::CrLf, 13 * MIB);
    for n in 0..256u32 {
        if n % 64 == 63 {
            let line = long_line(&mut rng, MIB);
            w.data(b"data: ", &line);
            w.blank();
        }
        w.line(format!("id: b-{n}").as_bytes());
        w.line(b"event: log");
        for _ in 0..rng.range(4, 28) {
            let mut text = String::new();
            let len = rng.range(80, 4000);
            let multibyte = rng.percent(10);
            words(&mut rng, &mut text, len, multibyte);
            w.data(b"data: ", text.as_bytes());
        }
        w.blank();
    }
    let (bytes, expected) = w.finish();
    Corpus {
        name: "B-large-multiline",
        bytes,
        expected,
        chunkings: vec![
            Chunking::whole(),
            Chunking::fixed(16 * 1024),
            Chunking::fixed(1500),
        ],
        oracle_checked: false,
    }
}

/// One event of a single 1 MiB `data` line (CRLF): the long-line throughput case of corpus B.
pub fn one_mib_line() -> Corpus {
    let mut rng = SplitMix64::new(SEED ^ 0x1);
    let mut w = Writer::new(Eol::CrLf, MIB + 64);
    let line = long_line(&mut rng, MIB);
    w.data(b"data: ", &line);
    w.blank();
    let (bytes, expected) = w.finish();
    Corpus {
        name: "B-1MiB-line",
        bytes,
        expected,
        chunkings: vec![Chunking::whole(), Chunking::fixed(16 * 1024)],
        oracle_checked: false,
    }
}

/// `len` bytes of lowercase letters and spaces: no line end, no colon.
fn long_line(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz ";
    (0..len)
        .map(|_| ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize])
        .collect()
}

/// Corpus C, "adversarial", with the given line end: a leading BOM (cut inside it by every
/// chunking), 80% comment lines of 0-64 B, and among the rest `data` lines, bare `data`, `event`
/// and `id` lines (some ids with NUL, which must be ignored), good and bad `retry` values,
/// unknown fields and lines without a colon; about 4 MiB. The CR and LF variants hold the same
/// lines, so their throughputs compare directly; CRLF, whose line ends are longer, holds a prefix
/// of them.
pub fn adversarial(eol: Eol) -> Corpus {
    let mut rng = SplitMix64::new(SEED ^ 0xC);
    let mut w = Writer::new(eol, 5 * MIB);
    w.out.extend_from_slice(b"\xEF\xBB\xBF");
    while w.out.len() < 4 * MIB {
        if rng.percent(80) {
            let mut comment = b":".to_vec();
            let len = rng.range(0, 64);
            comment.extend((0..len).map(|_| b' ' + (rng.next_u64() % 95) as u8));
            w.line(&comment);
            continue;
        }
        let roll = rng.range(0, 99);
        match roll {
            0..=44 => {
                let mut text = String::new();
                let len = rng.range(0, 120);
                let multibyte = rng.percent(10);
                words(&mut rng, &mut text, len, multibyte);
                w.data(b"data: ", text.as_bytes());
            }
            45..=49 => w.data(b"data", b""),
            50..=54 => w.line(b"event: tick"),
            55..=59 => w.line(b"event:"),
            60..=64 => w.line(format!("id: {}", rng.next_u64()).as_bytes()),
            65..=67 => w.line(b"id: bad\0id"),
            68..=70 => w.line(format!("retry: {}", rng.range(0, 60_000)).as_bytes()),
            71..=73 => w.line(b"retry: 12ms"),
            74..=78 => w.line(b"x-unknown: value"),
            79..=81 => w.line(b"no colon here"),
            _ => w.blank(),
        }
    }
    w.blank();
    let (bytes, expected) = w.finish();
    let mut chunkings = vec![
        Chunking::split_head(2, usize::MAX),
        Chunking::split_head(2, 64),
    ];
    if eol == Eol::CrLf {
        chunkings.push(Chunking::crlf_split(&bytes, 128));
    }
    let name = match eol {
        Eol::Lf => "C-adversarial-lf",
        Eol::CrLf => "C-adversarial-crlf",
        Eol::Cr => "C-adversarial-cr",
    };
    Corpus {
        name,
        bytes,
        expected,
        chunkings,
        oracle_checked: true,
    }
}

/// One event whose single `data` line holds `len` bytes (LF line ends), with its tally.
pub fn line_event(len: usize) -> (Bytes, Tally) {
    let mut rng = SplitMix64::new(SEED ^ 0x8);
    let mut w = Writer::new(Eol::Lf, len + 64);
    let line = long_line(&mut rng, len);
    w.data(b"data: ", &line);
    w.blank();
    w.finish()
}

/// Corpus C's long-line case: one event whose single `data` line is 8 MiB, fed whole and in
/// 4 KiB, 64 B and 1 B chunks (the eventsource-stream #11 regression case).
pub fn huge_line() -> Corpus {
    let (bytes, expected) = line_event(8 * MIB);
    Corpus {
        name: "C-8MiB-line",
        bytes,
        expected,
        chunkings: vec![
            Chunking::whole(),
            Chunking::fixed(4096),
            Chunking::fixed(64),
            Chunking::fixed(1),
        ],
        oracle_checked: false,
    }
}

/// Every corpus, in report order.
pub fn all() -> Vec<Corpus> {
    vec![
        small_json(),
        large_multiline(),
        one_mib_line(),
        adversarial(Eol::Cr),
        adversarial(Eol::Lf),
        adversarial(Eol::CrLf),
        huge_line(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = small_json();
        let b = small_json();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.expected, b.expected);
        assert_eq!(a.expected.events, 10_000);
        assert!(
            (700_000..1_500_000).contains(&a.bytes.len()),
            "{}",
            a.bytes.len()
        );
    }

    #[test]
    fn adversarial_variants_hold_the_same_lines() {
        let cr = adversarial(Eol::Cr);
        let lf = adversarial(Eol::Lf);
        assert_eq!(cr.expected, lf.expected);
        assert_eq!(cr.bytes.len(), lf.bytes.len());
        assert!(cr.bytes.starts_with(b"\xEF\xBB\xBF"));
        assert!(!cr.bytes.contains(&b'\n'));
        assert!(cr.expected.events > 1000);
    }
}
