//! `ssekit parse`: feeds bytes to the incremental parser as they arrive and prints one compact
//! JSON object per dispatched event (`{"event":…,"data":…,"id":…}`) and per accepted retry
//! (`{"retry":N}`), flushed after every read so that a pipe sees each event live. This output
//! is a contract that outside tools check the parser through: keep it exact (`docs/parse.md`).
//!
//! [`Session`] is the whole of it for one stream (or one run of reconnecting streams): the
//! parser, the JSON lines, the limit and end-of-input reports and the [`Status`] they lead to.
//! [`url`] is `ssekit parse URL`, which adds arrival times to the same lines.

mod position;
pub mod url;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ssekit_parser::{Event, Frame, Limit, Limits, ParseError, Parser};

use position::Position;

/// How each read is cut before it is fed, to show that chunking never changes the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// Each read whole.
    Whole,
    /// Pieces of this many bytes (the last piece of a read may be shorter).
    Fixed(usize),
}

impl Chunking {
    /// `bytes` cut into the pieces the parser is fed.
    pub fn pieces(self, bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
        let size = match self {
            Chunking::Whole => bytes.len().max(1),
            Chunking::Fixed(n) => n.max(1),
        };
        bytes.chunks(size)
    }
}

/// How `ssekit parse` ends, worst first wins; the exit status is the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// 0: every event was complete and printed.
    Clean,
    /// 1: the stream lost something a client would lose too: an event dropped by a limit, or
    /// the input ended inside an event or a line. Everything complete was printed.
    Lost,
    /// 2: a usage error, or the input could not be read or the output written.
    Local,
    /// 3: no connection to the URL, or it broke off (without `--follow`).
    Network,
    /// 4: the server answered, but not with an event stream (a status other than 200 or 204,
    /// another Content-Type, a Content-Encoding that cannot be decoded): EventSource fails
    /// such a connection for good.
    Refused,
    /// 130: stopped by Ctrl-C (SIGINT), as shells number it.
    Interrupted,
}

impl Status {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Status::Clean => 0,
            Status::Lost => 1,
            Status::Local => 2,
            Status::Network => 3,
            Status::Refused => 4,
            Status::Interrupted => 130,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        ExitCode::from(s.code())
    }
}

/// When the lines of a URL stream arrived: the extra keys `t_ms` (since the request of the
/// current connection was sent) and `gap_ms` (since the previous event of the run; for the
/// first event, since the first request).
#[derive(Debug, Clone, Copy)]
struct Clock {
    connected: Instant,
    previous: Instant,
}

/// One parse: the parser, where its stream stands, and where the lines and reports go.
///
/// ```
/// use ssekit::parse::Session;
/// use ssekit_parser::Limits;
///
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let mut session = Session::new(Limits::default(), &mut out, &mut err);
/// session.feed(b"id: 7\ndata: a\n\ndata: cut", None)?;
/// session.end()?;
/// drop(session);
/// assert_eq!(out, b"{\"event\":\"message\",\"data\":\"a\",\"id\":\"7\"}\n");
/// assert!(String::from_utf8_lossy(&err).contains("input ended inside a line at byte 15"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Session<W: Write, E: Write> {
    parser: Parser,
    position: Position,
    out: W,
    errors: E,
    clock: Option<Clock>,
    /// Which response of a URL run the offsets count in (0: not a URL).
    response: u32,
    lost: bool,
}

impl<W: Write, E: Write> Session<W, E> {
    /// A session with these parser limits, printing lines to `out` and reports to `errors`.
    pub fn new(limits: Limits, out: W, errors: E) -> Self {
        Session {
            parser: Parser::new().with_limits(limits).report_comments(false),
            position: Position::default(),
            out,
            errors,
            clock: None,
            response: 0,
            lost: false,
        }
    }

    /// A new response of a URL run begins, its request sent `at`: from now on each line
    /// carries its arrival times, and offsets count from this response's first byte.
    pub fn connected(&mut self, at: Instant) {
        let previous = self.clock.map_or(at, |c| c.previous);
        self.clock = Some(Clock {
            connected: at,
            previous,
        });
        self.response += 1;
    }

    /// Parses `chunk` (which arrived `at`, for URL streams) and prints its lines.
    pub fn feed(&mut self, chunk: &[u8], at: Option<Instant>) -> io::Result<()> {
        self.position.feed(chunk);
        let mut feed = self.parser.feed(chunk);
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(e)) => {
                    let stamp = match (&mut self.clock, at) {
                        (Some(clock), Some(at)) => {
                            let stamp = (at - clock.connected, Some(at - clock.previous));
                            clock.previous = at;
                            Some(stamp)
                        }
                        _ => None,
                    };
                    write_event(&mut self.out, &e, stamp)?;
                }
                Ok(Frame::Retry(ms)) => {
                    let stamp = self
                        .clock
                        .zip(at)
                        .map(|(clock, at)| (at - clock.connected, None));
                    write_retry(&mut self.out, ms, stamp)?;
                }
                Ok(Frame::Comment(_) | Frame::Ignored(_)) => {}
                Err(e) => {
                    self.lost = true;
                    writeln!(
                        self.errors,
                        "ssekit parse: {}",
                        limit_message(&e, self.response)
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream (end of input, or the end of one response): what it left unfinished is
    /// discarded, as the WHATWG algorithm says, and reported. Returns whether anything was.
    /// The last event id and retry are kept for a reconnection.
    pub fn end(&mut self) -> io::Result<bool> {
        let end = self.parser.finish();
        let position = std::mem::take(&mut self.position);
        let open = position.open_line().filter(|_| end.incomplete_line);
        let at = where_in(self.response, position.offset());
        if end.incomplete_event {
            let block = where_in(self.response, position.block_start());
            writeln!(
                self.errors,
                "ssekit parse: input ended inside an event (its lines start at {block}, no \
                 blank line closes it by {at}): discarded, as EventSource does; end every \
                 event with a blank line"
            )?;
        }
        if let Some(line) = &open {
            let start = where_in(self.response, line.start);
            let more = if line.cut { "…" } else { "" };
            writeln!(
                self.errors,
                "ssekit parse: input ended inside a line at {start} ({} bytes, no line end: \
                 {:?}{more}): discarded, as EventSource does; end every line with \\n",
                line.len, line.preview
            )?;
        }
        let discarded = end.incomplete_event || open.is_some();
        self.lost |= discarded;
        Ok(discarded)
    }

    /// Writes out what the lines printed so far hold (the events of one read, live).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.errors.flush()
    }

    /// Says something on the report stream (`ssekit parse: …`).
    pub fn note(&mut self, message: std::fmt::Arguments<'_>) -> io::Result<()> {
        writeln!(self.errors, "ssekit parse: {message}")?;
        self.errors.flush()
    }

    /// Whether an event was dropped or discarded so far.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// The last event id: what a reconnection sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The last accepted `retry`, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.parser.retry()
    }

    /// The status the parse alone leads to: [`Status::Lost`] or [`Status::Clean`].
    pub fn status(&self) -> Status {
        if self.lost {
            Status::Lost
        } else {
            Status::Clean
        }
    }
}

/// `byte N`, or `byte N of response K` when a URL run has several.
fn where_in(response: u32, offset: u64) -> String {
    match response {
        0 | 1 => format!("byte {offset}"),
        k => format!("byte {offset} of response {k}"),
    }
}

/// A limit error in the command's words: which option and where.
fn limit_message(e: &ParseError, response: u32) -> String {
    // Both enums may grow: a kind this build does not know is still reported, with the
    // parser's own words.
    let ParseError::LimitExceeded { limit, max, offset } = e else {
        return e.to_string();
    };
    let where_ = where_in(response, *offset);
    match limit {
        Limit::LineBytes => format!(
            "the line starting at {where_} is longer than --max-line-bytes ({max} bytes): its \
             event was dropped; raise --max-line-bytes if such lines are expected"
        ),
        Limit::EventBytes => format!(
            "an event grew past --max-event-bytes ({max} bytes) in the line starting at \
             {where_}: it was dropped; raise --max-event-bytes if such events are expected"
        ),
        _ => format!("{e} (at {where_})"),
    }
}

/// `{"event":…,"data":…,"id":…}` plus, for URL streams, `"t_ms"` and `"gap_ms"`.
fn write_event(
    out: &mut impl Write,
    e: &Event<'_>,
    stamp: Option<(Duration, Option<Duration>)>,
) -> io::Result<()> {
    out.write_all(b"{\"event\":")?;
    serde_json::to_writer(&mut *out, e.event_type)?;
    out.write_all(b",\"data\":")?;
    serde_json::to_writer(&mut *out, e.data)?;
    out.write_all(b",\"id\":")?;
    serde_json::to_writer(&mut *out, e.id)?;
    write_stamp(out, stamp)?;
    out.write_all(b"}\n")
}

/// `{"retry":N}` plus, for URL streams, `"t_ms"`.
fn write_retry(
    out: &mut impl Write,
    ms: u64,
    stamp: Option<(Duration, Option<Duration>)>,
) -> io::Result<()> {
    write!(out, "{{\"retry\":{ms}")?;
    write_stamp(out, stamp)?;
    out.write_all(b"}\n")
}

fn write_stamp(
    out: &mut impl Write,
    stamp: Option<(Duration, Option<Duration>)>,
) -> io::Result<()> {
    // Milliseconds with microsecond digits: loopback gaps are well under a millisecond.
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    if let Some((t, gap)) = stamp {
        write!(out, ",\"t_ms\":{:.3}", ms(t))?;
        if let Some(gap) = gap {
            write!(out, ",\"gap_ms\":{:.3}", ms(gap))?;
        }
    }
    Ok(())
}

/// What stopped a file or standard input parse.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Reading the input failed.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The file's name, or `standard input`.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// Writing the lines (or the reports) failed.
    #[error("cannot write output: {0}")]
    Write(#[source] io::Error),
}

/// Parses `reader` (a file or standard input) as it is read: each read is fed (cut as
/// `chunking` says), its lines printed and flushed before the next read, and the end of input
/// reported. `name` names the input in errors.
pub fn stream_reader<W: Write, E: Write>(
    mut reader: impl Read,
    name: &str,
    chunking: Chunking,
    session: &mut Session<W, E>,
) -> Result<(), InputError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(InputError::Read {
                    name: name.to_owned(),
                    source,
                })
            }
        };
        for piece in chunking.pieces(&buf[..n]) {
            session.feed(piece, None).map_err(InputError::Write)?;
        }
        session.flush().map_err(InputError::Write)?;
    }
    session.end().map_err(InputError::Write)?;
    session.flush().map_err(InputError::Write)
}

/// Parses `input` cut as `chunking` and writes the contract's JSON lines to `out`, limit and
/// end-of-input reports to `errors`; returns the [`Status`] the stream leads to.
pub fn parse_to_json_lines(
    input: &[u8],
    chunking: Chunking,
    out: &mut impl Write,
    errors: &mut impl Write,
) -> io::Result<Status> {
    let mut session = Session::new(Limits::default(), out, errors);
    for piece in chunking.pieces(input) {
        session.feed(piece, None)?;
    }
    session.end()?;
    Ok(session.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], chunking: Chunking) -> (String, String, Status) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = parse_to_json_lines(input, chunking, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            status,
        )
    }

    #[test]
    fn contract_example() {
        let input = b"id: 7\ndata: a\ndata: b\n\nretry: 100\n";
        let expected = "{\"event\":\"message\",\"data\":\"a\\nb\",\"id\":\"7\"}\n{\"retry\":100}\n";
        for chunking in [Chunking::Whole, Chunking::Fixed(1)] {
            assert_eq!(
                run(input, chunking),
                (expected.into(), String::new(), Status::Clean)
            );
        }
    }

    #[test]
    fn escapes_only_what_json_requires() {
        let (out, _, _) = run("data: \"\\\t\u{1}é\u{2028}\n\n".as_bytes(), Chunking::Whole);
        assert_eq!(
            out,
            "{\"event\":\"message\",\"data\":\"\\\"\\\\\\t\\u0001é\u{2028}\",\"id\":\"\"}\n"
        );
    }

    #[test]
    fn an_unfinished_event_is_reported_with_where_it_began() {
        let (out, err, status) = run(b"data: a\n\nid: 2\ndata: b\n", Chunking::Fixed(3));
        assert_eq!(out, "{\"event\":\"message\",\"data\":\"a\",\"id\":\"\"}\n");
        assert_eq!(status, Status::Lost);
        assert_eq!(
            err,
            "ssekit parse: input ended inside an event (its lines start at byte 9, no blank \
             line closes it by byte 23): discarded, as EventSource does; end every event with \
             a blank line\n"
        );
    }

    #[test]
    fn a_last_line_without_its_line_end_is_quoted() {
        let (out, err, status) = run(b"data: x", Chunking::Whole);
        assert_eq!((out.as_str(), status), ("", Status::Lost));
        assert_eq!(
            err,
            "ssekit parse: input ended inside a line at byte 0 (7 bytes, no line end: \
             \"data: x\"): discarded, as EventSource does; end every line with \\n\n"
        );
    }

    #[test]
    fn a_limit_names_the_option_and_the_offset() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let limits = Limits::new().with_max_line_bytes(8);
        let mut s = Session::new(limits, &mut out, &mut err);
        s.feed(b"data: a\n\ndata: 0123456789\n\ndata: b\n\n", None)
            .unwrap();
        s.end().unwrap();
        assert_eq!(s.status(), Status::Lost);
        drop(s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"event\":\"message\",\"data\":\"a\",\"id\":\"\"}\n\
             {\"event\":\"message\",\"data\":\"b\",\"id\":\"\"}\n"
        );
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.starts_with(
                "ssekit parse: the line starting at byte 9 is longer than --max-line-bytes \
                 (8 bytes)"
            ),
            "{err}"
        );
    }

    #[test]
    fn url_lines_carry_arrival_times() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut s = Session::new(Limits::default(), &mut out, &mut err);
        let t0 = Instant::now();
        s.connected(t0);
        s.feed(
            b"retry: 5\ndata: a\n\n",
            Some(t0 + Duration::from_millis(2)),
        )
        .unwrap();
        s.feed(b"data: b\n\n", Some(t0 + Duration::from_micros(7500)))
            .unwrap();
        s.end().unwrap();
        drop(s);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"retry\":5,\"t_ms\":2.000}\n\
             {\"event\":\"message\",\"data\":\"a\",\"id\":\"\",\"t_ms\":2.000,\"gap_ms\":2.000}\n\
             {\"event\":\"message\",\"data\":\"b\",\"id\":\"\",\"t_ms\":7.500,\"gap_ms\":5.500}\n"
        );
    }
}
