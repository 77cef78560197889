//! The blocking reader: the same events as the borrowed API however the reader cuts its
//! reads, limit and io errors typed and survivable, and the end of input reported.

mod common;

use std::io::{self, Read};

use common::{reference, Adapted, ADAPTER_INPUT};
use ssekit_parser::read::{EventReader, ReadError};
use ssekit_parser::{Limit, Limits, OwnedEvent, ParseError, Parser};

/// A reader that hands out its script one step per `read`: bytes (at most what fits), or an
/// error.
struct Script {
    steps: std::collections::VecDeque<io::Result<Vec<u8>>>,
}

impl Script {
    fn new(steps: impl IntoIterator<Item = io::Result<Vec<u8>>>) -> Self {
        Script {
            steps: steps.into_iter().collect(),
        }
    }

    fn bytes(input: &[u8], piece: usize) -> Self {
        Script::new(input.chunks(piece).map(|c| Ok(c.to_vec())))
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.pop_front() {
            None => Ok(0),
            Some(Err(e)) => Err(e),
            Some(Ok(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    self.steps.push_front(Ok(bytes.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

/// Drains `reader` into the shape of [`reference`]; io errors are not expected here.
fn drain<R: Read>(mut reader: EventReader<R>) -> Adapted {
    let events = reader
        .by_ref()
        .map(|r| match r {
            Ok(e) => Ok(e.to_owned_event()),
            Err(ReadError::Parse(e)) => Err(e),
            Err(e) => panic!("unexpected error: {e}"),
        })
        .collect();
    Adapted {
        events,
        last_event_id: reader.last_event_id().to_owned(),
        retry: reader.retry(),
        end: reader.end_of_stream().expect("drained to the end"),
    }
}

fn quiet() -> Parser {
    Parser::new().report_comments(false)
}

#[test]
fn reads_of_any_size_give_the_borrowed_apis_events() {
    let expected = reference(ADAPTER_INPUT, quiet());
    assert_eq!(expected.events.len(), 4, "{expected:?}");
    assert!(expected.end.incomplete_event);
    for piece in [1, 2, 3, 7, 64, ADAPTER_INPUT.len()] {
        let got = drain(EventReader::new(Script::bytes(ADAPTER_INPUT, piece)));
        assert_eq!(got, expected, "reads of {piece} bytes");
    }
    // The reader's own buffer, not the source, can be what cuts the input.
    for size in [1, 2, 5] {
        let got = drain(EventReader::new(ADAPTER_INPUT).read_size(size));
        assert_eq!(got, expected, "read_size {size}");
    }
}

#[test]
fn an_io_error_is_typed_and_reading_can_go_on() {
    let reset = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset");
    let reader = Script::new([
        Ok(b"id: 5\ndata: before\n\ndata: spl".to_vec()),
        Err(reset),
        Ok(b"it\n\n".to_vec()),
    ]);
    let mut events = EventReader::new(reader);
    assert_eq!(events.next().unwrap().unwrap().data_str(), "before");
    match events.next() {
        Some(Err(ReadError::Io(e))) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected the io error, got {other:?}"),
    }
    assert_eq!(events.last_event_id(), "5", "where to resume from");
    assert_eq!(
        events.end_of_stream(),
        None,
        "an io error is not the end of input"
    );
    // The parser kept the half-read event: the next read completes it.
    let split = events.next().unwrap().unwrap();
    assert_eq!((split.data_str(), split.id_str()), ("split", "5"));
    assert!(events.next().is_none());
    assert!(events.next().is_none(), "fused after the end");
    assert!(!events.end_of_stream().unwrap().incomplete_event);
}

#[test]
fn interrupted_reads_are_retried() {
    let interrupted = || Err(io::Error::from(io::ErrorKind::Interrupted));
    let reader = Script::new([
        interrupted(),
        Ok(b"data: a\n".to_vec()),
        interrupted(),
        Ok(b"\n".to_vec()),
    ]);
    let events: Vec<_> = EventReader::new(reader)
        .map(|e| e.unwrap().to_owned_event())
        .collect();
    assert_eq!(
        events,
        [OwnedEvent {
            event_type: "message".into(),
            data: "a".into(),
            id: "".into()
        }]
    );
}

#[test]
fn limits_drop_one_event_and_the_stream_goes_on() {
    let parser = Parser::new().with_limits(Limits::new().with_max_event_bytes(8));
    let input = b"data: 0123456789\n\ndata: ok\n\n";
    let mut events = EventReader::with_parser(Script::bytes(input, 1), parser);
    match events.next() {
        Some(Err(ReadError::Parse(ParseError::LimitExceeded { limit, max, offset }))) => {
            assert_eq!((limit, max, offset), (Limit::EventBytes, 8, 0));
        }
        other => panic!("expected the limit error, got {other:?}"),
    }
    assert_eq!(events.next().unwrap().unwrap().data_str(), "ok");
    assert!(events.next().is_none());
}

#[test]
fn the_end_of_input_is_reported_only_once_reached() {
    let mut events = EventReader::new(&b"data: whole\n\ndata: half\nda"[..]);
    assert!(events.next().is_some());
    assert_eq!(events.end_of_stream(), None, "not read to the end yet");
    assert!(events.next().is_none());
    let end = events.end_of_stream().unwrap();
    assert!(end.incomplete_event && end.incomplete_line);

    let mut events = EventReader::new(&b"data: whole\n\n"[..]);
    assert_eq!(events.by_ref().count(), 1);
    assert_eq!(events.end_of_stream(), Some(Default::default()));
}

#[test]
fn a_resumed_stream_starts_from_its_last_event_id() {
    let parser = quiet().with_last_event_id("41");
    let mut events = EventReader::with_parser(&b"data: next\n\n"[..], parser);
    assert_eq!(events.next().unwrap().unwrap().id_str(), "41");
}
