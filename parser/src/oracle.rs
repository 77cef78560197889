//! A deliberately literal reading of the spec, written with `nom`, used as a test oracle.
//!
//! It works on the whole stream at once and follows the WHATWG text step by step: strip one
//! BOM, decode all bytes as UTF-8 with replacement, cut lines with the ABNF's `end-of-line`,
//! then interpret each line with plain `String` buffers. It shares no code with the fast parser
//! (not even the retry rule), so the two can only agree by both being right. It is slow and
//! allocates freely: never use it for real streams.
//!
//! ```
//! use ssekit_parser::oracle;
//! use ssekit_parser::{OwnedEvent, OwnedFrame};
//!
//! let frames = oracle::parse(b"data: a\r\ndata: b\r\n\r\nretry: 10\n");
//! assert_eq!(frames, [
//!     OwnedFrame::Event(OwnedEvent { event_type: "message".into(), data: "a\nb".into(), id: "".into() }),
//!     OwnedFrame::Retry(10),
//! ]);
//! ```

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::char;
use nom::combinator::opt;
use nom::multi::many0;
use nom::sequence::{preceded, terminated};
use nom::{IResult, Parser as _};

use crate::event::{OwnedEvent, OwnedFrame};

/// `end-of-line = ( cr lf / cr / lf )`
fn end_of_line(input: &str) -> IResult<&str, &str> {
    alt((tag("\r\n"), tag("\r"), tag("\n"))).parse(input)
}

/// A line's text up to, not including, its end-of-line. A final line without one is not a line.
fn line(input: &str) -> IResult<&str, &str> {
    terminated(take_while(|c| c != '\r' && c != '\n'), end_of_line).parse(input)
}

/// `field = 1*name-char [ colon [ space ] *any-char ]`, as (name, value).
fn field(input: &str) -> IResult<&str, (&str, &str)> {
    let (rest, name) = take_while(|c| c != ':').parse(input)?;
    let (value, _) = opt(preceded(char(':'), opt(char(' ')))).parse(rest)?;
    Ok(("", (name, value)))
}

/// Parses a whole stream and returns its events and accepted retry values in order. Comments
/// and ignored lines are not reported.
pub fn parse(stream: &[u8]) -> Vec<OwnedFrame> {
    let stream = stream.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(stream);
    let text = String::from_utf8_lossy(stream);
    let lines = many0(line)
        .parse(&text)
        .map(|(_, lines)| lines)
        .unwrap_or_default();

    let mut out = Vec::new();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut id_buffer = String::new();
    for line in lines {
        if line.is_empty() {
            let last_event_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            out.push(OwnedFrame::Event(OwnedEvent {
                event_type: if event_type.is_empty() {
                    "message".to_owned()
                } else {
                    event_type.clone()
                },
                data: std::mem::take(&mut data),
                id: last_event_id,
            }));
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let Ok((_, (name, value))) = field(line) else {
            continue;
        };
        match name {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                // All digits, so the only failure is overflow: saturate as the fast parser does.
                out.push(OwnedFrame::Retry(value.parse().unwrap_or(u64::MAX)));
            }
            _ => {}
        }
    }
    out
}
