//! The `tokio-util` codec: through `FramedRead` it gives the borrowed API's events however the
//! input is cut, keeps limit errors survivable, ends the stream in `decode_eof` as the spec
//! says; through `FramedWrite` it writes exactly the serializer's bytes.

mod common;

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use common::{reference, Adapted, ADAPTER_INPUT};
use futures_executor::block_on;
use futures_util::{SinkExt, StreamExt};
use ssekit_parser::codec::{SseCodec, WriteError};
use ssekit_parser::{EncodeError, Limit, Limits, Message, ParseError, Parser};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::{FramedRead, FramedWrite};

/// An `AsyncRead` that returns one piece per read (split further if the buffer is smaller).
struct Pieces(VecDeque<Vec<u8>>);

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut piece) = self.0.pop_front() {
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.0.push_front(piece.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` that takes at most one byte per write.
#[derive(Default)]
struct OneByte(Vec<u8>);

impl AsyncWrite for OneByte {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(&b) = buf.first() else {
            return Poll::Ready(Ok(0));
        };
        self.0.push(b);
        Poll::Ready(Ok(1))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn decode(pieces: Vec<Vec<u8>>, codec: SseCodec) -> Adapted {
    let mut framed = FramedRead::new(Pieces(pieces.into()), codec);
    let mut events = Vec::new();
    block_on(async {
        while let Some(item) = framed.next().await {
            let item = item.expect("the reader never fails here");
            events.push(item.map(|e| e.to_owned_event()));
        }
    });
    let codec = framed.decoder();
    Adapted {
        events,
        last_event_id: codec.last_event_id().to_owned(),
        retry: codec.retry(),
        end: codec.end_of_stream().expect("decode_eof ended the stream"),
    }
}

/// `input` cut in two at every byte, and one byte per read. (A read of 0 bytes means end of
/// input, so no piece is empty.)
fn cuts(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut all: Vec<_> = (1..input.len())
        .map(|k| vec![input[..k].to_vec(), input[k..].to_vec()])
        .collect();
    all.push(vec![input.to_vec()]);
    all.push(input.chunks(1).map(<[u8]>::to_vec).collect());
    all
}

#[test]
fn framed_read_gives_the_borrowed_apis_events_however_the_input_is_cut() {
    let expected = reference(ADAPTER_INPUT, Parser::new().report_comments(false));
    assert_eq!(expected.events.len(), 4, "{expected:?}");
    assert!(expected.end.incomplete_event);
    for (i, pieces) in cuts(ADAPTER_INPUT).into_iter().enumerate() {
        assert_eq!(decode(pieces, SseCodec::new()), expected, "cut {i}");
    }
}

#[test]
fn a_limit_error_is_an_item_and_decoding_goes_on() {
    let input = b"id: 1\ndata: 0123456789abcdef\n\nid: 2\ndata: ok\n\n";
    let limits = Limits::new().with_max_line_bytes(12);
    let parser = || Parser::new().report_comments(false).with_limits(limits);
    let expected = reference(input, parser());
    assert_eq!(
        expected.events[0],
        Err(ParseError::LimitExceeded {
            limit: Limit::LineBytes,
            max: 12,
            offset: 6
        })
    );
    assert_eq!(expected.events[1].as_ref().map(|e| &*e.data), Ok("ok"));
    for (i, pieces) in cuts(input).into_iter().enumerate() {
        let got = decode(pieces, SseCodec::with_parser(parser()));
        assert_eq!(got, expected, "cut {i}");
    }
}

#[test]
fn decode_eof_discards_an_unfinished_event_and_reports_it() {
    let got = decode(
        vec![b"data: done\n\ndata: unfinished\n".to_vec()],
        SseCodec::new(),
    );
    assert_eq!(got.events.len(), 1);
    assert!(got.end.incomplete_event && !got.end.incomplete_line);

    let got = decode(vec![b"data: done\n\n".to_vec()], SseCodec::new());
    assert_eq!(got.end, Default::default());
}

#[test]
fn framed_write_writes_the_serializers_bytes_even_one_byte_at_a_time() {
    let messages = [
        Message::empty().retry(2500).comment(" hello"),
        Message::new("line one\nline two").event("update").id("42"),
        Message::new(""),
    ];
    let mut expected = Vec::new();
    for m in &messages {
        m.encode(&mut expected).unwrap();
    }
    let mut wire = FramedWrite::new(OneByte::default(), SseCodec::new());
    block_on(async {
        for m in messages {
            wire.send(m).await.unwrap();
        }
    });
    assert_eq!(wire.get_ref().0, expected);

    // What was written reads back, cut anywhere.
    for pieces in cuts(&expected) {
        let got = decode(pieces, SseCodec::new());
        let got: Vec<_> = got.events.into_iter().map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((&*got[0].data, &*got[0].id), ("line one\nline two", "42"));
        assert_eq!((&*got[1].data, &*got[1].id), ("", "42"));
    }
}

#[test]
fn a_refused_message_writes_nothing_and_the_sink_goes_on() {
    let mut wire = FramedWrite::new(Vec::new(), SseCodec::new());
    block_on(async {
        let refused = wire.send(Message::new("x").id("1\ndata: forged")).await;
        assert!(
            matches!(refused, Err(WriteError::Encode(EncodeError::LineBreakInId))),
            "{refused:?}"
        );
        wire.send(Message::new("fine")).await.unwrap();
    });
    assert_eq!(wire.get_ref(), b"data: fine\n\n");
}
