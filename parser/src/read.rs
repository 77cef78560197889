//! A blocking iterator of events over any [`std::io::Read`]: a file, a `TcpStream`, a
//! blocking HTTP client's response body, standard input.
//!
//! ```
//! use ssekit_parser::read::EventReader;
//!
//! let input = &b"id: 1\ndata: first\n\ndata: cut off\n"[..];
//! let mut events = EventReader::new(input);
//! let first = events.next().unwrap()?;
//! assert_eq!((first.data_str(), first.id_str()), ("first", "1"));
//! assert!(events.next().is_none());
//! // The input ended inside an event: clients discard it, and the reader says so.
//! assert!(events.end_of_stream().unwrap().incomplete_event);
//! # Ok::<(), ssekit_parser::read::ReadError>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::iter::FusedIterator;

use bytes::BytesMut;

use crate::error::ParseError;
use crate::event::{BytesEvent, Frame};
use crate::parser::{EndOfStream, Parser};

/// Bytes asked of the reader per `read` call unless [`EventReader::read_size`] says otherwise.
pub const DEFAULT_READ_SIZE: usize = 8 * 1024;

/// An error from the reader or the parser. The iterator can go on after either.
///
/// Non-exhaustive: more causes may be reported. `Io` says what failed and returns the
/// [`io::Error`] from [`source`](std::error::Error::source); `Parse` is the [`ParseError`]
/// itself (same message, same source), so a chain prints each message once.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed. The parser keeps its state: calling `next` again reads again (right after
    /// a read timeout), and [`EventReader::last_event_id`] is where to resume from on a new
    /// connection.
    Io(io::Error),
    /// A size limit was hit; the offending event was dropped and the stream goes on.
    Parse(ParseError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The io error is the source: printing it here too would show it twice.
            ReadError::Io(_) => f.write_str(
                "reading the event stream failed; reconnect with the Last-Event-ID from \
                 EventReader::last_event_id to resume",
            ),
            ReadError::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::Parse(e) => std::error::Error::source(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

impl From<ParseError> for ReadError {
    fn from(e: ParseError) -> Self {
        ReadError::Parse(e)
    }
}

/// Events read from `R`, in order, as [`BytesEvent`]s that share the buffer they were read
/// into. The buffer is reused once its events are dropped, so for events as servers usually
/// send them (one-line data, the id in the event) allocations follow the reads, not the
/// events; a field the parser had to build (data joined from several lines, replaced UTF-8,
/// a line cut by a read) is copied.
///
/// The iterator ends when the reader reports end of input (`Ok(0)`); then
/// [`end_of_stream`](Self::end_of_stream) tells whether the input stopped inside an unfinished
/// event, which the spec says to discard. Reads interrupted by a signal are retried.
#[derive(Debug)]
pub struct EventReader<R> {
    reader: R,
    parser: Parser,
    buf: BytesMut,
    read_size: usize,
    ready: VecDeque<Result<BytesEvent, ParseError>>,
    end: Option<EndOfStream>,
}

impl<R: Read> EventReader<R> {
    /// Reads `reader` with a default [`Parser`] (comments are not reported: only events come
    /// out).
    pub fn new(reader: R) -> Self {
        Self::with_parser(reader, Parser::new().report_comments(false))
    }

    /// Reads `reader` with a configured parser: its [`Limits`](crate::Limits) bound what a
    /// hostile stream can make this reader buffer, and
    /// [`with_last_event_id`](Parser::with_last_event_id) resumes a stream.
    pub fn with_parser(reader: R, parser: Parser) -> Self {
        EventReader {
            reader,
            parser,
            buf: BytesMut::new(),
            read_size: DEFAULT_READ_SIZE,
            ready: VecDeque::new(),
            end: None,
        }
    }

    /// Asks the reader for up to `bytes` bytes per read (at least 1; default
    /// [`DEFAULT_READ_SIZE`]). Larger reads mean fewer calls; events keep their read's buffer
    /// alive, so keeping many events from small streams favours smaller reads.
    #[must_use]
    pub fn read_size(mut self, bytes: usize) -> Self {
        self.read_size = bytes.max(1);
        self
    }

    /// Reads once and queues what the bytes complete. `Ok(false)` at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        // Zeroing costs a memset per read, far less than the read itself, and keeps the crate
        // free of `unsafe` (reading into uninitialized memory).
        self.buf.clear();
        self.buf.resize(self.read_size, 0);
        let n = loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(false);
        }
        self.buf.truncate(n);
        let chunk = self.buf.split().freeze();
        let mut feed = self.parser.feed(&chunk);
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(event)) => self.ready.push_back(Ok(event.to_bytes_event(&chunk))),
                Ok(_) => {}
                Err(e) => self.ready.push_back(Err(e)),
            }
        }
        Ok(true)
    }
}

impl<R> EventReader<R> {
    /// The last event id: send it as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The server's last `retry` value in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.parser.retry()
    }

    /// Once the input has ended (`next` returned `None`): what it left unfinished. An event
    /// without its closing blank line was discarded, as clients must, and shows here as
    /// [`incomplete_event`](EndOfStream::incomplete_event).
    pub fn end_of_stream(&self) -> Option<EndOfStream> {
        self.end
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying reader, e.g. to set a read timeout on a socket. Reading from it directly
    /// takes bytes away from the parser.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// The underlying reader. Events parsed but not yet returned are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read> Iterator for EventReader<R> {
    type Item = Result<BytesEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(ready) = self.ready.pop_front() {
                return Some(ready.map_err(ReadError::Parse));
            }
            if self.end.is_some() {
                return None;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => self.end = Some(self.parser.finish()),
                Err(e) => return Some(Err(ReadError::Io(e))),
            }
        }
    }
}

impl<R: Read> FusedIterator for EventReader<R> {}
