//! Where the stream stands at its end: the offset of the line still open and of the block
//! (the lines since the last blank line) still pending, so that the end-of-input report can
//! point at the bytes a client throws away. The parser knows *that* something was left
//! unfinished ([`ssekit_parser::EndOfStream`]) but not where it began.
//!
//! Only line ends matter here, and CR and LF end a line in every state of the parser, so this
//! scan agrees with it without repeating any field rule. The one subtlety is the byte order
//! mark: a line holding only the stream's leading BOM is blank once the BOM is stripped.

/// How many bytes of the open line are kept to quote it.
const PREVIEW: usize = 40;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Line and block boundaries of one stream, fed the same chunks as the parser.
#[derive(Debug, Clone, Default)]
pub(crate) struct Position {
    /// Bytes seen.
    offset: u64,
    /// Offset of the first byte of the line being read.
    line_start: u64,
    /// Offset of the first line after the last blank line.
    block_start: u64,
    /// The last byte was a CR: an LF now completes the same line end.
    after_cr: bool,
    /// The first bytes of the line being read.
    head: Vec<u8>,
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
        let mut rest = chunk;
        let mut at = self.offset;
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                // The LF of a CRLF: the line end was counted at its CR.
                self.after_cr = false;
                if self.block_start == at {
                    self.block_start = at + 1;
                }
                self.line_start = at + 1;
                rest = &rest[1..];
                at += 1;
                continue;
            }
            self.after_cr = false;
            let Some(i) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
                self.keep(rest);
                break;
            };
            self.keep(&rest[..i]);
            let end = at + i as u64;
            let blank = end == self.line_start
                || (self.line_start == 0 && end == BOM.len() as u64 && self.head == BOM);
            if blank {
                self.block_start = end + 1;
            }
            self.after_cr = rest[i] == b'\r';
            self.line_start = end + 1;
            self.head.clear();
            rest = &rest[i + 1..];
            at = end + 1;
        }
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

    #[test]
    fn a_long_open_line_is_quoted_in_part() {
        let line = [b'x'; 100];
        let p = fed(&[b"data: a\n\n", &line[..30], &line[30..]]);
        let open = p.open_line().expect("an open line");
        assert_eq!((open.start, open.len, open.cut), (9, 100, true));
        assert_eq!(open.preview, "x".repeat(PREVIEW));
    }
}
