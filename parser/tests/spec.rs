//! One test per rule of the WHATWG event-stream algorithm (see docs/spec.md), each run
//! under every chunking in `common::chunkings` (1, 2, 3, 5, 7, 64 bytes, whole, and with empty
//! chunks in between).

mod common;

use common::{ev, frames, frames_with, msg};
use ssekit_parser::{IgnoreReason, OwnedFrame, Parser};

// --- Decoding -------------------------------------------------------------------------------

#[test]
fn multibyte_characters_split_across_chunks_decode_once() {
    assert_eq!(frames("data: é€😀\n\n".as_bytes()), [msg("é€😀")]);
}

#[test]
fn invalid_utf8_becomes_one_replacement_per_maximal_subpart() {
    assert_eq!(frames(b"data: a\xE2\x82b\n\n"), [msg("a\u{FFFD}b")]);
    assert_eq!(frames(b"data: \xFF\xFE\n\n"), [msg("\u{FFFD}\u{FFFD}")]);
    assert_eq!(frames(b"data: \xC0\xAF\n\n"), [msg("\u{FFFD}\u{FFFD}")]);
    assert_eq!(
        frames(b"data: \xED\xA0\x80\n\n"),
        [msg("\u{FFFD}\u{FFFD}\u{FFFD}")]
    );
    // An incomplete sequence right before the line end is one U+FFFD; the LF still ends the line.
    assert_eq!(frames(b"data: \xF0\x9F\x98\n\n"), [msg("\u{FFFD}")]);
}

#[test]
fn invalid_utf8_in_event_type_id_and_comment_is_replaced_too() {
    let (out, _) = frames_with(b":\xFF\nevent: \xFF\nid: \xFF\ndata: x\n\n", Parser::new);
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        out,
        [
            OwnedFrame::Comment("\u{FFFD}".into()),
            ev("\u{FFFD}", "x", "\u{FFFD}")
        ]
    );
}

#[test]
fn one_leading_bom_is_dropped() {
    assert_eq!(frames(b"\xEF\xBB\xBFdata: x\n\n"), [msg("x")]);
}

#[test]
fn a_second_bom_is_kept_and_spoils_the_field_name() {
    // After the first BOM, the next U+FEFF is part of the name "\u{FEFF}data": unknown field.
    assert_eq!(
        frames(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n"),
        [msg("y")]
    );
}

#[test]
fn a_bom_after_the_start_is_data() {
    assert_eq!(frames("data: \u{FEFF}x\n\n".as_bytes()), [msg("\u{FEFF}x")]);
}

#[test]
fn a_partial_bom_prefix_is_ordinary_bytes() {
    // EF BB then 'd': not a BOM, so the two bytes start the first line (one U+FFFD).
    let (out, _) = frames_with(b"\xEF\xBBdata: x\n\ndata: y\n\n", || {
        Parser::new().report_ignored(true)
    });
    assert_eq!(out.len(), 2);
    assert!(
        matches!(&out[0], Ok(OwnedFrame::Ignored(IgnoreReason::UnknownField, l)) if l == "\u{FFFD}data: x")
    );
    assert_eq!(out[1], Ok(msg("y")));
}

#[test]
fn bom_only_stream_and_empty_stream_give_nothing() {
    assert_eq!(frames(b"\xEF\xBB\xBF"), []);
    assert_eq!(frames(b""), []);
}

// --- Lines ----------------------------------------------------------------------------------

#[test]
fn lf_cr_and_crlf_all_end_lines() {
    let want = [msg("a"), msg("b"), msg("c")];
    assert_eq!(frames(b"data: a\n\ndata: b\r\rdata: c\r\n\r\n"), want);
    assert_eq!(
        frames(b"data: a\r\n\r\ndata: b\r\n\r\ndata: c\r\n\r\n"),
        want
    );
    assert_eq!(frames(b"data: a\r\rdata: b\r\rdata: c\r\r"), want);
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    let mut parser = Parser::new();
    let (out, _) = common::parse_chunks(
        &mut parser,
        [&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"],
    );
    assert_eq!(out, [Ok(msg("a\nb"))]);
}

#[test]
fn cr_cr_dispatches_without_waiting_for_the_next_chunk() {
    let mut parser = Parser::new();
    let mut feed = parser.feed(b"data: now\r\r");
    let first = feed.next_frame().map(|f| f.unwrap().to_owned_frame());
    assert_eq!(first, Some(msg("now")));
}

#[test]
fn lf_cr_is_two_line_ends() {
    // "\n\r" is LF then a lone CR: the second is a blank line, so the event dispatches.
    assert_eq!(frames(b"data: x\n\r"), [msg("x")]);
}

#[test]
fn unicode_line_separators_are_not_line_ends() {
    assert_eq!(
        frames("data: a\u{2028}b\u{85}c\u{2029}\n\n".as_bytes()),
        [msg("a\u{2028}b\u{85}c\u{2029}")]
    );
}

#[test]
fn blank_lines_without_fields_dispatch_nothing() {
    assert_eq!(frames(b"\n\n\r\n\r\r\n"), []);
}

#[test]
fn comments_are_ignored_and_reported_as_comments() {
    assert_eq!(
        frames(b": ping\ndata: a\n:\ndata: b\n: x\n\n"),
        [msg("a\nb")]
    );
    let (out, _) = frames_with(b":hb\n: hb\n\n", Parser::new);
    assert_eq!(
        out,
        [
            Ok(OwnedFrame::Comment("hb".into())),
            Ok(OwnedFrame::Comment(" hb".into()))
        ]
    );
}

#[test]
fn comments_can_be_left_out() {
    let (out, _) = frames_with(b": hb\ndata: x\n: hb\n\n", || {
        Parser::new().report_comments(false)
    });
    assert_eq!(out, [Ok(msg("x"))]);
}

// --- Fields ---------------------------------------------------------------------------------

#[test]
fn exactly_one_leading_space_is_removed() {
    assert_eq!(
        frames(b"data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\n"),
        [msg("x"), msg("x"), msg(" x"), msg("\tx")]
    );
}

#[test]
fn trailing_spaces_and_later_colons_are_kept() {
    assert_eq!(frames(b"data: a:b: c  \n\n"), [msg("a:b: c  ")]);
}

#[test]
fn a_line_without_colon_is_a_name_with_empty_value() {
    assert_eq!(frames(b"data\n\n"), [msg("")]);
    assert_eq!(frames(b"data\ndata\n\n"), [msg("\n")]);
    assert_eq!(frames(b"id: 1\nid\ndata: x\n\n"), [msg("x")]);
    assert_eq!(frames(b"event\ndata: x\n\n"), [msg("x")]);
}

#[test]
fn data_lines_join_with_lf_and_one_trailing_lf_goes() {
    assert_eq!(frames(b"data: a\ndata: b\ndata: c\n\n"), [msg("a\nb\nc")]);
    assert_eq!(frames(b"data: a\ndata:\n\n"), [msg("a\n")]);
    assert_eq!(frames(b"data:\n\n"), [msg("")]);
}

#[test]
fn event_sets_the_type_and_message_is_the_default() {
    assert_eq!(
        frames(b"event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"),
        [ev("add", "1", ""), msg("2"), msg("3")]
    );
    assert_eq!(
        frames(b"event: a\nevent: b\ndata: x\n\n"),
        [ev("b", "x", "")]
    );
}

#[test]
fn an_event_type_without_data_is_never_dispatched_and_does_not_leak() {
    assert_eq!(frames(b"event: ping\n\ndata: x\n\n"), [msg("x")]);
}

#[test]
fn id_persists_until_changed_and_empty_id_resets() {
    assert_eq!(
        frames(b"id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n"),
        [ev("message", "a", "1"), ev("message", "b", "1"), msg("c")]
    );
}

#[test]
fn id_with_nul_is_ignored() {
    assert_eq!(
        frames(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"),
        [ev("message", "a", "1"), ev("message", "b", "1")]
    );
    let (out, _) = frames_with(b"id: \x00\n", || Parser::new().report_ignored(true));
    assert!(matches!(
        &out[..],
        [Ok(OwnedFrame::Ignored(IgnoreReason::IdWithNul, _))]
    ));
}

#[test]
fn id_in_a_block_without_data_is_committed_at_the_blank_line() {
    let mut parser = Parser::new();
    let (out, _) = common::parse_chunks(&mut parser, [&b"id: 5\n\ndata: x\n\n"[..]]);
    assert_eq!(out, [Ok(ev("message", "x", "5"))]);
    let mut parser = Parser::new();
    common::parse_chunks(&mut parser, [&b"id: 5\n\n"[..]]);
    assert_eq!(parser.last_event_id(), "5");
}

#[test]
fn an_id_before_an_unfinished_block_is_not_committed() {
    let mut parser = Parser::new();
    let (_, end) = common::parse_chunks(&mut parser, [&b"id: 1\ndata: a\n\nid: 2\ndata: b\n"[..]]);
    assert_eq!(parser.last_event_id(), "1");
    assert!(end.incomplete_event);
}

#[test]
fn retry_accepts_ascii_digits_only() {
    assert_eq!(
        frames(b"retry: 1000\nretry: 03000\nretry: 0\n"),
        [
            OwnedFrame::Retry(1000),
            OwnedFrame::Retry(3000),
            OwnedFrame::Retry(0)
        ]
    );
    for bad in [
        &b"retry: 1e3\n"[..],
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 10 \n",
        b"retry:  10\n",
        b"retry: 1.5\n",
        b"retry:\n",
        b"retry\n",
        b"retry: abc\n",
    ] {
        assert_eq!(frames(bad), [], "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn retry_past_u64_saturates() {
    assert_eq!(
        frames(b"retry: 123456789012345678901234567890\n"),
        [OwnedFrame::Retry(u64::MAX)]
    );
}

#[test]
fn retry_takes_effect_when_read_even_without_data() {
    let mut parser = Parser::new();
    let (out, _) = common::parse_chunks(&mut parser, [&b"retry: 250\n"[..]]);
    assert_eq!(out, [Ok(OwnedFrame::Retry(250))]);
    assert_eq!(parser.retry(), Some(250));
}

#[test]
fn unknown_and_wrong_case_fields_are_ignored() {
    assert_eq!(
        frames(b"Data: no\nEVENT: no\nfoo: bar\ndata : no\ndata: yes\n\n"),
        [msg("yes")]
    );
    let (out, _) = frames_with(b"Data: no\nretry: x\n", || {
        Parser::new().report_ignored(true)
    });
    assert_eq!(
        out,
        [
            Ok(OwnedFrame::Ignored(
                IgnoreReason::UnknownField,
                "Data: no".into()
            )),
            Ok(OwnedFrame::Ignored(
                IgnoreReason::InvalidRetry,
                "retry: x".into()
            ))
        ]
    );
}

#[test]
fn nul_in_data_and_event_type_is_kept() {
    assert_eq!(
        frames(b"event: a\x00b\ndata: c\x00d\n\n"),
        [ev("a\0b", "c\0d", "")]
    );
}

// --- Dispatch and end of stream ----------------------------------------------------------

#[test]
fn fields_may_come_in_any_order() {
    assert_eq!(frames(b"data: d\nid: 9\nevent: e\n\n"), [ev("e", "d", "9")]);
}

#[test]
fn an_unfinished_event_at_end_of_stream_is_discarded() {
    let (out, end) = frames_with(b"data: a\n\ndata: b\n", Parser::new);
    assert_eq!(out, [Ok(msg("a"))]);
    assert!(end.incomplete_event && !end.incomplete_line);
    let (out, end) = frames_with(b"data: a\n\ndata: b", Parser::new);
    assert_eq!(out, [Ok(msg("a"))]);
    assert!(end.incomplete_line && !end.incomplete_event);
}

#[test]
fn a_retry_line_without_line_end_at_eof_is_not_processed() {
    assert_eq!(frames(b"retry: 100"), []);
}

#[test]
fn many_events_in_one_chunk() {
    let input: String = (0..100)
        .map(|i| format!("id: {i}\ndata: {i}\n\n"))
        .collect();
    let out = frames(input.as_bytes());
    assert_eq!(out.len(), 100);
    assert_eq!(out[99], ev("message", "99", "99"));
}

#[test]
fn finish_resets_for_a_new_stream_but_keeps_id_and_retry() {
    let mut parser = Parser::new();
    common::parse_chunks(&mut parser, [&b"retry: 9\nid: 3\ndata: a\n\ndata: cut"[..]]);
    // New stream: a BOM at its start is dropped again, the cut line is gone.
    let (out, _) = common::parse_chunks(&mut parser, [&b"\xEF\xBB\xBFdata: b\n\n"[..]]);
    assert_eq!(out, [Ok(ev("message", "b", "3"))]);
    assert_eq!(parser.retry(), Some(9));
}

#[test]
fn with_last_event_id_starts_a_resumed_stream() {
    let mut parser = Parser::new().with_last_event_id("41");
    let (out, _) = common::parse_chunks(&mut parser, [&b"data: a\n\nid: 42\ndata: b\n\n"[..]]);
    assert_eq!(
        out,
        [Ok(ev("message", "a", "41")), Ok(ev("message", "b", "42"))]
    );
}
