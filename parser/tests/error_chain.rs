//! Every error type either prints its cause or returns it from `source()`, never both: a
//! reporter that prints the whole chain (as anyhow or eyre do) shows each message once.

use std::error::Error;
use std::io;

use ssekit_parser::read::{EventReader, ReadError};
use ssekit_parser::{Limits, ParseError, Parser};

/// The messages of `error` and of each of its sources, outermost first.
fn chain(error: &dyn Error) -> Vec<String> {
    let mut out = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        out.push(e.to_string());
        next = e.source();
    }
    out
}

/// Walks the chain and checks that `cause` appears in exactly one of its messages, and that
/// the chain says more than `cause` alone when it has more than one link.
fn assert_said_once(error: &dyn Error, cause: &str) -> Vec<String> {
    let messages = chain(error);
    let hits = messages.iter().filter(|m| m.contains(cause)).count();
    assert_eq!(hits, 1, "{cause:?} should appear once in {messages:#?}");
    messages
}

fn limit_error() -> ParseError {
    let mut parser = Parser::new().with_limits(Limits::new().with_max_line_bytes(4));
    let mut feed = parser.feed(b"data: long\n\n");
    match feed.next_frame() {
        Some(Err(e)) => e,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn read_errors_chain_once() {
    let reset = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset the connection");
    let messages = assert_said_once(&ReadError::Io(reset), "peer reset the connection");
    assert_eq!(messages.len(), 2, "what failed, then why: {messages:#?}");
    assert!(messages[0].contains("last_event_id"), "says how to resume");

    let parse = limit_error();
    let text = parse.to_string();
    let messages = assert_said_once(&ReadError::Parse(parse), &text);
    assert_eq!(messages, [text]);
}

#[test]
fn an_io_error_from_a_real_reader_chains_once() {
    struct Failing;
    impl io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let error = EventReader::new(Failing).next().unwrap().unwrap_err();
    assert_said_once(&error, "disk on fire");
}

#[cfg(feature = "stream")]
#[test]
fn stream_errors_chain_once() {
    use bytes::Bytes;
    use futures_util::{stream, StreamExt};
    use ssekit_parser::stream::{EventStream, StreamError};

    // A real body failure, as the adapter reports it.
    let body = stream::iter([
        Ok(Bytes::from_static(b"data: a\n\n")),
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body cut short",
        )),
    ]);
    let items: Vec<_> = futures_executor::block_on(EventStream::new(body).collect());
    let Some(Err(error)) = items.last() else {
        panic!("expected the body error last: {items:?}");
    };
    assert!(matches!(error, StreamError::Body(_)));
    let messages = assert_said_once(error, "body cut short");
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(error
        .source()
        .unwrap()
        .downcast_ref::<io::Error>()
        .is_some());

    let parse = limit_error();
    let text = parse.to_string();
    let messages = assert_said_once(&StreamError::<io::Error>::Parse(parse), &text);
    assert_eq!(messages, [text]);
}

#[cfg(feature = "codec")]
#[test]
fn write_errors_chain_once() {
    use ssekit_parser::codec::WriteError;
    use ssekit_parser::EncodeError;

    let broken = io::Error::new(io::ErrorKind::BrokenPipe, "client went away");
    let messages = assert_said_once(&WriteError::Io(broken), "client went away");
    assert_eq!(messages.len(), 2, "{messages:#?}");

    let refused = EncodeError::LineBreakInId;
    let text = refused.to_string();
    assert_eq!(
        assert_said_once(&WriteError::Encode(refused), &text),
        [text]
    );
}
