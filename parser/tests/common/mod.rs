//! Shared by the parser's integration tests: parse under many chunkings and insist they agree.
#![allow(dead_code)]

use ssekit_parser::{EndOfStream, OwnedEvent, OwnedFrame, ParseError, Parser};

/// Chunk sizes every test input is cut into, besides one whole chunk and a byte-per-chunk
/// run with empty chunks in between (an empty chunk must not change any state).
pub const CHUNK_SIZES: [usize; 6] = [1, 2, 3, 5, 7, 64];

/// Parses `input` fed as `chunks`, collecting every frame (comments included) and errors.
pub fn parse_chunks<'a>(
    parser: &mut Parser,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Result<OwnedFrame, ParseError>>, EndOfStream) {
    let mut out = Vec::new();
    for chunk in chunks {
        let mut feed = parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            out.push(frame.map(|f| f.to_owned_frame()));
        }
    }
    let end = parser.finish();
    (out, end)
}

/// Every way of cutting `input` this suite uses.
pub fn chunkings(input: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut all = vec![vec![input]];
    for size in CHUNK_SIZES {
        all.push(input.chunks(size).collect());
    }
    let mut with_empties = vec![&input[..0]];
    for chunk in input.chunks(1) {
        with_empties.push(chunk);
        with_empties.push(&input[..0]);
    }
    all.push(with_empties);
    all
}

/// Frames of `input` with `parser_for`'s configuration, checked to be identical under every
/// chunking (including errors and the end-of-stream report).
pub fn frames_with(
    input: &[u8],
    parser_for: impl Fn() -> Parser,
) -> (Vec<Result<OwnedFrame, ParseError>>, EndOfStream) {
    let mut first: Option<(Vec<_>, EndOfStream, String)> = None;
    for chunks in chunkings(input) {
        let mut parser = parser_for();
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        let (frames, end) = parse_chunks(&mut parser, chunks);
        let last_id = parser.last_event_id().to_owned();
        match &first {
            None => first = Some((frames, end, last_id)),
            Some((f, e, id)) => {
                assert_eq!(&frames, f, "frames differ for chunk sizes {sizes:?}");
                assert_eq!(&end, e, "end of stream differs for chunk sizes {sizes:?}");
                assert_eq!(
                    &last_id, id,
                    "last event id differs for chunk sizes {sizes:?}"
                );
            }
        }
    }
    let (frames, end, _) = first.expect("at least one chunking");
    (frames, end)
}

/// Events and retries only (what `ssekit parse` prints), under every chunking.
pub fn frames(input: &[u8]) -> Vec<OwnedFrame> {
    frames_with(input, Parser::new)
        .0
        .into_iter()
        .map(|f| f.expect("no limit errors expected"))
        .filter(|f| matches!(f, OwnedFrame::Event(_) | OwnedFrame::Retry(_)))
        .collect()
}

pub fn ev(event_type: &str, data: &str, id: &str) -> OwnedFrame {
    OwnedFrame::Event(OwnedEvent {
        event_type: event_type.into(),
        data: data.into(),
        id: id.into(),
    })
}

pub fn msg(data: &str) -> OwnedFrame {
    ev("message", data, "")
}

/// A stream that exercises what adapters must not break: a BOM, every line end (a CRLF to be
/// cut in two), multibyte UTF-8, comments, `retry`, an id that persists, an event spanning
/// many bytes, an unknown field, and a final event cut off by the end of input.
pub const ADAPTER_INPUT: &[u8] = b"\xEF\xBB\xBF: hello\r\nretry: 1500\r\nid: 1\r\n\
    event: caf\xC3\xA9\r\ndata: \xE2\x82\xAC first\r\ndata: second line\r\n\r\n\
    data: no id change\n\nid: 2\rdata: cr\r\rfoo: bar\ndata: tail\n\ndata: cut off\nda";

/// What every adapter must report for `input` parsed with `parser`: the events and errors in
/// order, then the last event id, the retry value and the end-of-stream report.
#[derive(Debug, PartialEq, Eq)]
pub struct Adapted {
    pub events: Vec<Result<OwnedEvent, ParseError>>,
    pub last_event_id: String,
    pub retry: Option<u64>,
    pub end: EndOfStream,
}

/// The borrowed API's answer for `input` fed in one chunk: what adapters are compared with.
pub fn reference(input: &[u8], mut parser: Parser) -> Adapted {
    let (frames, end) = parse_chunks(&mut parser, [input]);
    let events = frames
        .into_iter()
        .filter_map(|f| match f {
            Ok(OwnedFrame::Event(e)) => Some(Ok(e)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect();
    Adapted {
        events,
        last_event_id: parser.last_event_id().to_owned(),
        retry: parser.retry(),
        end,
    }
}
