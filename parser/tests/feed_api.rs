//! The incremental API's contract beyond the grammar: early-dropped feeds lose nothing, limits
//! give typed errors with offsets and parsing resumes, zero-copy lending, `Bytes` events, and
//! the `Stream` adapter.

mod common;

use bytes::Bytes;
use common::{ev, msg};
use ssekit_parser::{Frame, Limit, Limits, OwnedFrame, ParseError, Parser};

#[test]
fn dropping_a_feed_early_keeps_the_unread_bytes() {
    let mut parser = Parser::new();
    {
        let mut feed = parser.feed(b"data: a\n\ndata: b\n\ndata: c");
        let first = feed.next_frame().map(|f| f.unwrap().to_owned_frame());
        assert_eq!(first, Some(msg("a")));
        assert_eq!(feed.remaining(), "data: b\n\ndata: c".len());
    }
    let (rest, end) = common::parse_chunks(&mut parser, [&b"\n\n"[..]]);
    assert_eq!(rest, [Ok(msg("b")), Ok(msg("c"))]);
    assert_eq!(end.unread_bytes, 0);
}

#[test]
fn finish_reports_bytes_left_unread_by_a_dropped_feed() {
    let mut parser = Parser::new();
    let mut feed = parser.feed(b"data: a\n\ndata: b\n\n");
    assert!(feed.next_frame().is_some());
    drop(feed);
    let end = parser.finish();
    assert_eq!(end.unread_bytes, "data: b\n\n".len());
}

#[test]
fn an_overlong_line_is_refused_with_its_offset_and_parsing_resumes() {
    let limits = Limits::new().with_max_line_bytes(16);
    let input =
        b"id: 1\ndata: ok\n\nid: 2\ndata: 0123456789abcdef\ndata: more\n\nid: 3\ndata: next\n\n";
    let (out, _) = common::frames_with(input, || Parser::new().with_limits(limits));
    assert_eq!(
        out,
        [
            Ok(ev("message", "ok", "1")),
            Err(ParseError::LimitExceeded {
                limit: Limit::LineBytes,
                max: 16,
                offset: 22,
            }),
            // The dropped event's id (2) was never committed.
            Ok(ev("message", "next", "3")),
        ]
    );
}

#[test]
fn an_oversized_event_is_refused_and_its_id_not_taken() {
    let limits = Limits::new().with_max_event_bytes(9);
    let input = b"data: 12345\ndata: 6789\nid: 9\n\ndata: small\n\n";
    let mut parser = Parser::new().with_limits(limits);
    let (out, _) = common::frames_with(input, || Parser::new().with_limits(limits));
    assert_eq!(
        out,
        [
            Err(ParseError::LimitExceeded {
                limit: Limit::EventBytes,
                max: 9,
                offset: 12,
            }),
            Ok(msg("small")),
        ]
    );
    common::parse_chunks(&mut parser, [&input[..]]);
    assert_eq!(parser.last_event_id(), "");
}

#[test]
fn the_error_message_names_the_limit_and_what_to_do() {
    let e = ParseError::LimitExceeded {
        limit: Limit::LineBytes,
        max: 16,
        offset: 22,
    };
    let text = e.to_string();
    assert!(
        text.contains("max_line_bytes") && text.contains("byte 22") && text.contains("with_limits"),
        "{text}"
    );
}

#[test]
fn events_inside_one_chunk_are_lent_without_copying() {
    let chunk = b"event: e\ndata: payload\n\n";
    let mut parser = Parser::new();
    let mut feed = parser.feed(chunk);
    let Some(Ok(Frame::Event(e))) = feed.next_frame() else {
        panic!("an event")
    };
    let range = chunk.as_ptr_range();
    assert!(range.contains(&e.data.as_ptr()), "data borrows the chunk");
    assert!(
        range.contains(&e.event_type.as_ptr()),
        "type borrows the chunk"
    );
}

#[test]
fn bytes_events_share_the_chunk_and_copy_only_what_spans_chunks() {
    let first = Bytes::from_static(b"data: one\n\ndata: sp");
    let second = Bytes::from_static(b"an\n\n");
    let mut parser = Parser::new();
    let mut kept = Vec::new();
    for chunk in [&first, &second] {
        let mut feed = parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            if let Ok(Frame::Event(e)) = frame {
                kept.push(e.to_bytes_event(chunk));
            }
        }
    }
    assert_eq!(kept[0].data_str(), "one");
    assert_eq!(kept[0].data().as_ptr(), first[6..].as_ptr());
    assert_eq!(kept[1].data_str(), "span");
    assert_eq!(kept[1].event_type_str(), "message");
}

#[test]
fn owned_frames_keep_everything() {
    let (out, _) = common::frames_with(b"retry: 5\n:c\ndata: d\n\n", Parser::new);
    assert_eq!(
        out,
        [
            Ok(OwnedFrame::Retry(5)),
            Ok(OwnedFrame::Comment("c".into())),
            Ok(msg("d"))
        ]
    );
}

#[cfg(feature = "stream")]
mod stream {
    use super::*;
    use futures_util::{stream, StreamExt};
    use ssekit_parser::stream::{EventStream, StreamError};

    #[test]
    fn events_flow_from_a_stream_of_chunks() {
        let chunks = ["id: 1\nda", "ta: a\n", "\ndata: b\n\ndata: cut\n"];
        let body =
            stream::iter(chunks.map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c.as_bytes()))));
        let mut events = EventStream::new(body);
        let got: Vec<_> = futures_executor::block_on((&mut events).collect::<Vec<_>>());
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|e| {
                let e = e.expect("no error");
                (e.data_str().to_owned(), e.id_str().to_owned())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(events.last_event_id(), "1");
        assert!(events.end_of_stream().expect("ended").incomplete_event);
    }

    #[test]
    fn body_errors_are_passed_on() {
        let body = stream::iter([
            Ok(Bytes::from_static(b"data: a\n\n")),
            Err(std::io::Error::other("reset by peer")),
        ]);
        let got: Vec<_> = futures_executor::block_on(EventStream::new(body).collect::<Vec<_>>());
        assert!(got[0].is_ok());
        assert!(matches!(&got[1], Err(StreamError::Body(e)) if e.to_string() == "reset by peer"));
    }
}

/// A `data` line carried across chunks becomes the data buffer without a copy; what follows
/// it in the block, the next event, and the buffers' reuse must not notice.
#[test]
fn a_carried_data_line_taken_over_whole_gives_the_same_events() {
    let long = "x".repeat(300);
    let input = format!(
        "data:{long}\ndata: second\nid: 7\nevent: e\n\n\
         data: caf\u{e9} {long}#\n\n\
         data: {long}\n: comment\n\n\
         data: a\ndata: {long}\n\n"
    );
    let mut bytes = input.into_bytes();
    // Invalid UTF-8 inside and at the end of the second event's line, cut by most chunkings.
    let at = bytes.iter().position(|&b| b == 0xC3).unwrap() + 1;
    bytes[at] = 0xFF;
    let hash = bytes.iter().position(|&b| b == b'#').unwrap();
    bytes[hash] = 0xFF;
    let out = common::frames(&bytes);
    assert_eq!(
        out,
        [
            ev("e", &format!("{long}\nsecond"), "7"),
            ev(
                "message",
                &format!("caf\u{FFFD}\u{FFFD} {long}\u{FFFD}"),
                "7"
            ),
            ev("message", &long, "7"),
            ev("message", &format!("a\n{long}"), "7"),
        ]
    );
}

#[test]
fn a_carried_data_line_near_the_limits_is_handled_like_an_uncut_one() {
    let limits = Limits::new()
        .with_max_line_bytes(40)
        .with_max_event_bytes(40);
    let value = "v".repeat(30);
    // 36 bytes fit the line limit; the second line takes the event past 40 bytes.
    let input = format!("data: {value}\ndata: {value}\n\ndata: {value}\n\n");
    let (out, _) = common::frames_with(input.as_bytes(), || Parser::new().with_limits(limits));
    assert_eq!(
        out,
        [
            Err(ParseError::LimitExceeded {
                limit: Limit::EventBytes,
                max: 40,
                offset: 37,
            }),
            Ok(msg(&value)),
        ]
    );
}
