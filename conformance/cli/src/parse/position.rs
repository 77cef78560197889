//! Where the stream stands at its end: the offset of the line still open and of the block
//! (the lines since the last blank line) still pending, so that the end-of-input report can
//! point at the bytes a client throws away. The parser knows *that* something was left
//! unfinished ([`ssekit_parser::EndOfStream`]) but not where it began.
//!
//! Only line ends matter here, and CR and LF end a line in every state of the parser, so this
//! scan agrees with it without repeating any field rule. A blank line is a line end right
//! after another line end: the byte pairs LF LF, LF CR and CR CR (CR LF is one line end). Each
//! chunk is searched backwards from its end for the last such pair and the last line end, so
//! a stream of short events costs a few bytes per read, not a second pass over every byte.
//! The one subtlety is the byte order mark: a first line holding only the BOM is blank once
//! the BOM is stripped.

/// How many bytes of the open line are kept to quote it.
const PREVIEW: usize = 40;
const BOM: &[u8] = b"\xEF\xBB\xBF";
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Line and block boundaries of one stream, fed the same chunks as the parser.
#[derive(Debug, Clone)]
pub(crate) struct Position {
    /// Bytes seen.
    offset: u64,
    /// Offset of the first byte of the line being read.
    line_start: u64,
    /// Offset of the first line after the last blank line.
    block_start: u64,
    /// The last byte seen; before the stream, a line end (so an empty first line is blank).
    last: u8,
    /// The stream's first bytes (up to one past the BOM), to see a BOM-only first line.
    first: Vec<u8>,
    /// The first bytes of the line being read.
    head: Vec<u8>,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            offset: 0,
            line_start: 0,
            block_start: 0,
            last: LF,
            first: Vec::new(),
            head: Vec::new(),
        }
    }
}

fn is_blank_pair(a: u8, b: u8) -> bool {
    matches!((a, b), (LF, LF | CR) | (CR, CR))
}

/// The line a stream ended in, without its line end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenLine {
    /// Offset of its first byte.
    pub start: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Its first bytes, as text (invalid UTF-8 replaced), cut to a preview.
    pub preview: String,
    /// The preview is shorter than the line.
    pub cut: bool,
}

impl Position {
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let (Some(&first), Some(&last)) = (chunk.first(), chunk.last()) else {
            return;
        };
        let base = self.offset;
        // One past the line end that starts at `i` (a CR followed by LF ends after the LF; an
        // LF in the next chunk is seen there, below).
        let after = |i: usize| {
            let lf = chunk[i] == CR && chunk.get(i + 1) == Some(&LF);
            base + i as u64 + 1 + u64::from(lf)
        };
        if self.last == CR && first == LF && self.block_start == base {
            self.block_start = base + 1;
        }
        if self.first.len() <= BOM.len() {
            let take = (BOM.len() + 1 - self.first.len()).min(chunk.len());
            self.first.extend_from_slice(&chunk[..take]);
            if self.first.len() > BOM.len()
                && self.first.starts_with(BOM)
                && matches!(self.first[BOM.len()], CR | LF)
            {
                // `first` fills from offset 0, so the byte after the BOM is in this chunk.
                self.block_start = after(BOM.len() - base as usize);
            }
        }
        let pair = chunk
            .windows(2)
            .rposition(|w| is_blank_pair(w[0], w[1]))
            .map(|i| i + 1)
            .or_else(|| is_blank_pair(self.last, first).then_some(0));
        if let Some(i) = pair {
            self.block_start = self.block_start.max(after(i));
        }
        match chunk.iter().rposition(|&b| b == CR || b == LF) {
            Some(i) => {
                self.line_start = base + i as u64 + 1;
                self.head.clear();
                self.keep(&chunk[i + 1..]);
            }
            None => self.keep(chunk),
        }
        self.last = last;
        self.offset += chunk.len() as u64;
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = PREVIEW.saturating_sub(self.head.len());
        self.head.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// Bytes seen so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the pending block began.
    pub(crate) fn block_start(&self) -> u64 {
        self.block_start
    }

    /// The line the input stops in, if it has bytes and no line end yet.
    pub(crate) fn open_line(&self) -> Option<OpenLine> {
        let len = self.offset - self.line_start;
        (len > 0).then(|| OpenLine {
            start: self.line_start,
            len,
            preview: String::from_utf8_lossy(&self.head).into_owned(),
            cut: len > self.head.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(chunks: &[&[u8]]) -> Position {
        let mut p = Position::default();
        for c in chunks {
            p.feed(c);
        }
        p
    }

    #[test]
    fn the_pending_block_starts_after_the_last_blank_line() {
        let p = fed(&[b"data: a\n\nid: 1\ndata: b\n"]);
        assert_eq!(p.block_start(), 9);
        assert_eq!(p.open_line(), None);
    }

    #[test]
    fn crlf_cut_between_chunks_is_one_line_end() {
        let whole = fed(&[b"data: a\r\n\r\ndata: b"]);
        let cut = fed(&[b"data: a\r", b"\n\r", b"\ndata: b"]);
        assert_eq!(whole.block_start(), 11);
        assert_eq!(cut.block_start(), 11);
        assert_eq!(cut.open_line(), whole.open_line());
        let open = cut.open_line().expect("an open line");
        assert_eq!(
            (open.start, open.len, open.preview.as_str()),
            (11, 7, "data: b")
        );
    }

    #[test]
    fn lone_crs_and_lf_cr_are_two_line_ends() {
        assert_eq!(fed(&[b"data: a\r\rdata"]).block_start(), 9);
        assert_eq!(fed(&[b"data: a\n\rdata"]).block_start(), 9);
    }

    #[test]
    fn a_line_of_only_the_leading_bom_is_blank() {
        assert_eq!(fed(&[b"\xEF\xBB", b"\xBF\ndata: x\n"]).block_start(), 4);
        // Anywhere else the BOM is text: a field name, not a blank line.
        assert_eq!(fed(&[b"\n\xEF\xBB\xBF\ndata: x\n"]).block_start(), 1);
    }

    /// The definition, byte by byte: (block start, line start).
    fn by_definition(input: &[u8]) -> (u64, u64) {
        let (mut block, mut line, mut after_cr) = (0usize, 0usize, false);
        for (at, &b) in input.iter().enumerate() {
            if after_cr && b == LF {
                after_cr = false;
                if block == at {
                    block = at + 1;
                }
                line = at + 1;
                continue;
            }
            after_cr = false;
            if b == CR || b == LF {
                let only_bom = line == 0 && at == 3 && input.starts_with(BOM);
                if at == line || only_bom {
                    block = at + 1;
                }
                line = at + 1;
                after_cr = b == CR;
            }
        }
        (block as u64, line as u64)
    }

    #[test]
    fn agrees_with_the_definition_under_any_chunking() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = [b'a', b':', CR, LF, 0xEF, 0xBB, 0xBF];
        for _ in 0..5000 {
            let len = (next() % 24) as usize;
            let mut input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 3 == 0 {
                input.splice(0..0, BOM.iter().copied());
            }
            let mut p = Position::default();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let take = ((next() % 5) as usize).min(rest.len());
                p.feed(&rest[..take]);
                rest = &rest[take..];
            }
            let line = p.open_line().map_or(input.len() as u64, |l| l.start);
            assert_eq!((p.block_start(), line), by_definition(&input), "{input:?}");
        }
    }

    #[test]
    fn a_long_open_line_is_quoted_in_part() {
        let line = [b'x'; 100];
        let p = fed(&[b"data: a\n\n", &line[..30], &line[30..]]);
        let open = p.open_line().expect("an open line");
        assert_eq!((open.start, open.len, open.cut), (9, 100, true));
        assert_eq!(open.preview, "x".repeat(PREVIEW));
    }
}
