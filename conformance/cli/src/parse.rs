//! `ssekit parse`: feeds raw bytes to the incremental parser and prints one compact JSON object
//! per dispatched event (`{"event":…,"data":…,"id":…}`) and per accepted retry (`{"retry":N}`).
//! This output is a contract that outside tools check the parser through: keep it exact.

use std::io::{self, Read, Write};

use ssekit_parser::{Frame, ParseError, Parser};

/// How the input is cut before it is fed, to show that chunking never changes the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// One chunk holding everything.
    Whole,
    /// Chunks of this many bytes (the last may be shorter).
    Fixed(usize),
}

/// Parses `input` cut as `chunking` and writes the contract's JSON lines to `out`.
///
/// Limit errors do not stop parsing: the dropped event is reported on `errors` and the stream
/// goes on, as a client would.
pub fn parse_to_json_lines(
    input: &[u8],
    chunking: Chunking,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<()> {
    let mut parser = Parser::new().report_comments(false);
    let size = match chunking {
        Chunking::Whole => input.len().max(1),
        Chunking::Fixed(n) => n.max(1),
    };
    for chunk in input.chunks(size) {
        let mut feed = parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            write_frame(frame, out, errors)?;
        }
    }
    parser.finish();
    Ok(())
}

/// Writes one frame in the contract's format; comments and ignored lines print nothing.
pub fn write_frame(
    frame: Result<Frame<'_>, ParseError>,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<()> {
    match frame {
        Ok(Frame::Event(e)) => {
            out.write_all(b"{\"event\":")?;
            serde_json::to_writer(&mut *out, e.event_type)?;
            out.write_all(b",\"data\":")?;
            serde_json::to_writer(&mut *out, e.data)?;
            out.write_all(b",\"id\":")?;
            serde_json::to_writer(&mut *out, e.id)?;
            out.write_all(b"}\n")
        }
        Ok(Frame::Retry(ms)) => writeln!(out, "{{\"retry\":{ms}}}"),
        Ok(Frame::Comment(_) | Frame::Ignored(_)) => Ok(()),
        Err(e) => writeln!(errors, "ssekit parse: {e}"),
    }
}

/// Reads all of `reader` (a file or standard input).
pub fn read_input(mut reader: impl Read) -> io::Result<Vec<u8>> {
    let mut input = Vec::new();
    reader.read_to_end(&mut input)?;
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], chunking: Chunking) -> String {
        let mut out = Vec::new();
        parse_to_json_lines(input, chunking, &mut out, &mut io::sink()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn contract_example() {
        let input = b"id: 7\ndata: a\ndata: b\n\nretry: 100\n";
        let expected = "{\"event\":\"message\",\"data\":\"a\\nb\",\"id\":\"7\"}\n{\"retry\":100}\n";
        assert_eq!(run(input, Chunking::Whole), expected);
        assert_eq!(run(input, Chunking::Fixed(1)), expected);
    }

    #[test]
    fn escapes_only_what_json_requires() {
        let out = run("data: \"\\\t\u{1}é\u{2028}\n\n".as_bytes(), Chunking::Whole);
        assert_eq!(
            out,
            "{\"event\":\"message\",\"data\":\"\\\"\\\\\\t\\u0001é\u{2028}\",\"id\":\"\"}\n"
        );
    }
}
