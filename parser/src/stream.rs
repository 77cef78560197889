//! A `futures_core::Stream` of events over a stream of byte chunks (feature `stream`).
//!
//! Works with any body that yields `Result<impl Into<Bytes>, E>`: reqwest's `bytes_stream()`,
//! `http_body_util::BodyDataStream` over a hyper body, a tokio channel. Events share the bytes
//! they were parsed from (see [`BytesEvent`]): the chunk, or the buffer small chunks are
//! gathered in.
//!
//! ```
//! use bytes::Bytes;
//! use futures_util::{stream, StreamExt};
//! use ssekit_parser::stream::EventStream;
//!
//! let body = stream::iter([Ok::<_, std::io::Error>(Bytes::from("data: a\n")), Ok(Bytes::from("\n"))]);
//! let events: Vec<_> = futures_executor::block_on(EventStream::new(body).collect());
//! assert_eq!(events[0].as_ref().unwrap().data_str(), "a");
//! ```
//!
//! # How chunks become events
//!
//! The parser is called once per few KiB of input, not once per chunk, and the values of an
//! event are slices of the bytes it was parsed from (a reference count, no copy) unless the
//! event was too large to gather or its data lines had to be joined:
//!
//! - A large chunk (4 KiB or more) is parsed in place. Its unfinished end is gathered when
//!   short (its last blank line lies within its last 1 KiB); a longer unfinished event is left
//!   to the parser, which carries it into the next chunk itself.
//! - Smaller chunks are appended to one reused carry buffer. It is parsed up to its last blank
//!   line when it holds 4 KiB, or when the body has nothing more ready (`Poll::Pending`), ends
//!   or fails: a complete event never waits for bytes that have not arrived yet. One event
//!   past 256 KiB is handed to the parser line by line instead.
//! - A line still unfinished after 4 KiB is kept aside in pieces (the chunks themselves, small
//!   reads in blocks) until its end arrives, then handed to the parser in one go: one copy,
//!   into a buffer of its size that a `data` line's event then takes over. Fed chunk by chunk,
//!   the parser would grow its buffer by doubling and copy the line again at each step. Such
//!   a line past `max_line_bytes` goes to the parser, which refuses it, as soon as it passes.
//! - Queued input is parsed about 16 KiB at a time: the parser stops after the first event
//!   past that, so few events wait in the queue.
//! - Data joined from several lines is built once, in the parser's buffer, and that buffer
//!   becomes the event's `Bytes` when the data fills most of it.
//!
//! So a byte is copied at most twice (gathered, then joined), and a body read in tiny pieces
//! costs one append per piece.

pub(crate) mod event_end;

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::{Stream, TryStream};

use crate::error::ParseError;
use crate::event::{BytesEvent, Frame, DEFAULT_EVENT_TYPE};
use crate::parser::{EndOfStream, Parser};
use event_end::Before;

/// An error from the body or the parser.
///
/// Non-exhaustive: the adapter may learn to report more (an idle timeout, say).
///
/// Each error either prints its cause or returns it from [`source`](std::error::Error::source),
/// never both, so a reporter that walks the chain prints every message once: `Body` says what
/// failed and returns the body's error as its source; `Parse` is the [`ParseError`] itself
/// (same message, same source).
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamError<E> {
    /// The underlying body failed; the stream may be resumed with a new connection from
    /// [`EventStream::last_event_id`].
    Body(E),
    /// A size limit was hit; the offending event was dropped and the stream goes on.
    Parse(ParseError),
}

impl<E> fmt::Display for StreamError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The body's error is the source: printing it here too would show it twice.
            StreamError::Body(_) => f.write_str(
                "the event stream's body failed; reconnect with the Last-Event-ID from \
                 EventStream::last_event_id to resume",
            ),
            StreamError::Parse(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StreamError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Body(e) => Some(e),
            // Transparent: the message is the parse error's, so its source comes next.
            StreamError::Parse(e) => std::error::Error::source(e),
        }
    }
}

impl<E> From<ParseError> for StreamError<E> {
    fn from(e: ParseError) -> Self {
        StreamError::Parse(e)
    }
}

/// Events parsed from a stream of chunks: any `Stream` of `Result<impl Into<Bytes>, E>`
/// (a [`TryStream`]). The body must be `Unpin`; wrap others in `Box::pin(body)`.
#[derive(Debug)]
pub struct EventStream<S: TryStream> {
    body: S,
    parser: Parser,
    /// Bytes received and not parsed yet. Only `carry[scanned..]` may hold a blank line.
    carry: BytesMut,
    scanned: usize,
    /// The two bytes of the stream before `carry` (before the next chunk when it is empty).
    carry_before: Before,
    /// The start of a long unfinished line, kept in pieces instead of in one growing buffer
    /// (see `extend_long`): none holds a line end, and `carry` holds what follows them.
    long: Vec<Bytes>,
    /// Bytes in `long`: while it is not zero, the stream is in the middle of a long line.
    long_len: usize,
    /// Runs of input to parse before anything newer, oldest first: each is cut at blank lines
    /// and parsed a window at a time, so the queue of events stays short.
    todo: VecDeque<Bytes>,
    ready: VecDeque<Result<BytesEvent, ParseError>>,
    /// The last id and event type that had to be copied: a stream that repeats them shares
    /// one copy instead of making one per event.
    kept: Kept,
    /// A body error, returned once the events before it are out.
    failed: Option<S::Error>,
    body_ended: bool,
    end: Option<EndOfStream>,
}

/// Chunks at least this large are parsed in place; smaller ones are gathered in the carry
/// buffer until it holds this much (one parser call per window instead of per chunk).
const BATCH: usize = 4 * 1024;

/// The carry buffer's first allocation. Later ones are at least as large (`BytesMut` keeps
/// its original capacity), so the events parsed from it share a few blocks.
const CARRY_BLOCK: usize = 8 * 1024;

/// Gathered bytes of one unfinished event past this size are not gathered further: the
/// complete lines go to the parser, which carries the event, and a long unfinished line is kept
/// in pieces (see `seal_lines`). Below it the event is gathered whole: its data is then joined
/// in one piece, in a buffer sized for it, and handed over without regrowing. (Tests use a
/// smaller size, so that the property test, whose streams are a few hundred KiB, reaches this
/// path too.)
const LONG: usize = if cfg!(test) { 6 * 1024 } else { 256 * 1024 };

/// An unfinished line at least this long is kept in pieces until its end arrives, then joined
/// once (see `extend_long`). Shorter ones are carried by the parser or gathered.
const LONG_LINE: usize = BATCH;

/// The blocks small reads of a long line are gathered in: as large as the line so far, within
/// these bounds (few pieces to join, and never more than twice the line's memory).
const LONG_BLOCK: (usize, usize) = (64 * 1024, 1024 * 1024);

/// How far from a large chunk's end its last blank line is looked for: a longer unfinished
/// event is parsed in place rather than gathered (see `take_large`).
const TAIL: usize = 1024;

/// Queued input is parsed about this much at a time (the parser stops at the first event or
/// error past it), so the queue of ready events stays bounded. Cutting windows at blank lines
/// found beforehand instead cost a scan of its own: a whole pass over an event longer than the
/// window (a quarter of the adapter's time on one 1 MiB line read whole).
const WINDOW: usize = 16 * 1024;

impl<S: TryStream> EventStream<S> {
    /// Parses `body` with a default [`Parser`] (comments are not reported: only events come out).
    pub fn new(body: S) -> Self {
        Self::with_parser(body, Parser::new().report_comments(false))
    }

    /// Parses `body` with a configured parser (limits, a starting last event id).
    pub fn with_parser(body: S, parser: Parser) -> Self {
        EventStream {
            body,
            parser: parser.size_joins(true),
            carry: BytesMut::new(),
            scanned: 0,
            carry_before: Before::default(),
            long: Vec::new(),
            long_len: 0,
            todo: VecDeque::new(),
            ready: VecDeque::new(),
            kept: Kept::default(),
            failed: None,
            body_ended: false,
            end: None,
        }
    }

    /// The last event id: send it as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The server's last `retry` value in milliseconds, among the lines parsed so far (bytes
    /// gathered from small chunks are parsed at the latest when the body has nothing more
    /// ready, ends or fails).
    pub fn retry(&self) -> Option<u64> {
        self.parser.retry()
    }

    /// Once the body has ended: what it left unfinished (an event without its blank line is
    /// discarded, as clients must).
    pub fn end_of_stream(&self) -> Option<EndOfStream> {
        self.end
    }

    /// Takes a chunk of `BATCH` bytes or more: parsed in place.
    ///
    /// An event cut by a chunk end is joined in the carry buffer only when the cut is near
    /// (within `BATCH` bytes of the chunk's start, `TAIL` of its end): then the join is a
    /// short copy and the event's values stay shared. A larger event is left to the parser,
    /// which carries it across the pieces itself: it copies its values once (multi-line data
    /// it joins anyway, and hands over), where joining would copy the whole event and then
    /// scan it again. A long unfinished line (`LONG_LINE` or more) is kept aside in pieces
    /// instead, and handed to the parser once it ends (see `extend_long`).
    fn take_large(&mut self, mut chunk: Bytes) {
        if self.long_len > 0 {
            let at = self.extend_long(&chunk);
            chunk.advance(at);
            if chunk.len() < BATCH {
                if !chunk.is_empty() {
                    self.take_small(&chunk);
                }
                return;
            }
        }
        // The stream's bytes before the chunk.
        let before = self.carry_before.at(&self.carry, self.carry.len());
        let mut from = 0;
        if !self.carry.is_empty() {
            let head = &chunk[..chunk.len().min(BATCH)];
            if let Some(end) = event_end::first(head, before) {
                self.carry.extend_from_slice(&chunk[..end]);
                from = end;
            }
            self.seal_all();
        }
        let start = chunk.len().saturating_sub(TAIL).max(from);
        match event_end::last(&chunk[start..], before.at(&chunk, start)) {
            Some(cut) => {
                let to = start + cut;
                if to > from {
                    self.todo.push_back(chunk.slice(from..to));
                }
                // The carry buffer is empty here: what precedes it is what precedes the
                // chunk's tail.
                self.carry_before = before.at(&chunk, to);
                self.gather(&chunk[to..]);
            }
            None => {
                // No event ends near the chunk's end. Its unfinished line, when long, is kept
                // aside in pieces rather than left to the parser (see `extend_long`).
                let cut =
                    memchr::memrchr2(b'\r', b'\n', &chunk[from..]).map_or(from, |at| from + at + 1);
                if chunk.len() - cut >= LONG_LINE {
                    if cut > from {
                        self.todo.push_back(chunk.slice(from..cut));
                    }
                    self.carry_before = Before::default();
                    self.long_len = chunk.len() - cut;
                    self.long.push(chunk.slice(cut..));
                    self.check_long_limit();
                } else {
                    self.carry_before = before.at(&chunk, chunk.len());
                    self.todo.push_back(chunk.slice(from..));
                }
            }
        }
    }

    /// Takes a large chunk while a long line is open: a piece of the line, kept as it is,
    /// until the line ends. Returns where the line ends in the chunk, if it does (the rest is
    /// taken as usual), or the chunk's length.
    fn extend_long(&mut self, chunk: &Bytes) -> usize {
        if self.scan_long() {
            return 0;
        }
        self.freeze_block();
        let Some(at) = memchr::memchr2(b'\r', b'\n', chunk) else {
            self.long_len += chunk.len();
            self.long.push(chunk.clone());
            self.check_long_limit();
            return chunk.len();
        };
        if at > 0 {
            self.long_len += at;
            self.long.push(chunk.slice(..at));
        }
        self.end_long(0);
        at
    }

    /// Takes a small read while a long line is open and its block is full (see `take_small`):
    /// a new block is started once the full one is known to hold no line end.
    fn append_long(&mut self, bytes: &[u8]) {
        if self.carry.capacity() - self.carry.len() < bytes.len() {
            // The block is full: it becomes a piece only once known to hold no line end.
            if self.scan_long() {
                self.take_small(bytes);
                return;
            }
            self.freeze_block();
            // No more room than the line limit allows: past it, the line is refused.
            let limit = self.parser.limits().max_line_bytes;
            if self.long_len + bytes.len() > limit {
                self.seal_all();
                self.take_small(bytes);
                return;
            }
            let block = self
                .long_len
                .clamp(LONG_BLOCK.0, LONG_BLOCK.1)
                .min((limit + 1).saturating_sub(self.long_len));
            self.carry = BytesMut::with_capacity(block.max(bytes.len()));
        }
        self.carry.extend_from_slice(bytes);
        if self.carry.len() >= self.scanned + BATCH {
            self.look_at_batch();
        }
    }

    /// Looks for the long line's end in the bytes gathered since the last look and, when it
    /// is there, ends the line (see `end_long`). Returns whether it ended.
    fn scan_long(&mut self) -> bool {
        match memchr::memchr2(b'\r', b'\n', &self.carry[self.scanned..]) {
            Some(at) => {
                self.end_long(self.scanned + at);
                true
            }
            None => {
                self.scanned = self.carry.len();
                false
            }
        }
    }

    /// The long line ends at `carry[at]`: its pieces and `carry[..at]` go to the parser in one
    /// go (see [`Parser::extend_line`]); the bytes from its end on stay gathered, as usual.
    ///
    /// Fed piece by piece instead, the parser would grow its line buffer by doubling, copying
    /// it again at each step (an 8 MiB line in 4 KiB reads spent half its time there); joined
    /// here into a buffer the parser then reads, the line would be scanned twice.
    fn end_long(&mut self, at: usize) {
        // What was queued before the line must reach the parser first.
        while !self.todo.is_empty() {
            self.parse_window();
        }
        let mut pieces = mem::take(&mut self.long);
        let total = self.long_len + at;
        if self.parser.extend_line(&pieces, &self.carry[..at], total) {
            self.carry.advance(at);
        } else {
            self.todo.extend(pieces.drain(..));
            if at > 0 {
                self.todo.push_back(self.carry.split_to(at).freeze());
            }
        }
        pieces.clear();
        self.long = pieces;
        self.long_len = 0;
        // The line's text comes before its end: no blank line can end at the line end.
        self.carry_before = Before::default();
        self.scanned = 0;
    }

    /// Moves the long line's current block, known to hold no line end, to its pieces (its
    /// spare room stays in `carry`).
    fn freeze_block(&mut self) {
        if !self.carry.is_empty() {
            self.long_len += self.carry.len();
            self.long.push(self.carry.split().freeze());
        }
        self.scanned = 0;
    }

    /// A long line past the line limit goes to the parser, which refuses it: it is never held
    /// whole.
    fn check_long_limit(&mut self) {
        if self.long_len + self.carry.len() > self.parser.limits().max_line_bytes {
            self.seal_all();
        }
    }

    /// Takes a chunk smaller than `BATCH`: gathered (or appended to a long line's block).
    /// Looked at once per `BATCH` new bytes, not per read: a long event in tiny reads is not
    /// rescanned per read, and a read costs an append.
    #[inline]
    fn take_small(&mut self, chunk: &[u8]) {
        if self.carry.capacity() - self.carry.len() < chunk.len() {
            self.take_small_without_room(chunk);
            return;
        }
        self.carry.extend_from_slice(chunk);
        if self.carry.len() >= self.scanned + BATCH {
            self.look_at_batch();
        }
    }

    #[inline(never)]
    fn take_small_without_room(&mut self, chunk: &[u8]) {
        if self.long_len > 0 {
            self.append_long(chunk);
        } else {
            self.gather(chunk);
            if self.long_len == 0 && self.carry.len() >= self.scanned + BATCH {
                self.look_at_batch();
            }
        }
    }

    /// Once `BATCH` bytes were gathered since the last look: a long line is looked at for its
    /// end; other gathered bytes past the line limit go to the parser, which refuses them (so
    /// the buffer never holds much more than the parser would), else their complete events go
    /// to the parse queue, and an event longer than `LONG` is left to the parser to carry.
    #[inline(never)]
    fn look_at_batch(&mut self) {
        if self.long_len > 0 {
            if !self.scan_long() {
                self.check_long_limit();
            }
        } else if self.carry.len() > self.parser.limits().max_line_bytes {
            self.seal_all();
        } else if !self.seal() && self.carry.len() >= LONG {
            self.seal_lines();
        }
    }

    /// Appends bytes to the carry buffer. Past the line limit they go to the parser, which
    /// then applies the limits exactly as if fed chunk by chunk: a hostile stream cannot make
    /// the buffer grow beyond what the parser would hold.
    #[inline]
    fn gather(&mut self, bytes: &[u8]) {
        if self.carry.capacity() - self.carry.len() < bytes.len() {
            self.make_room(bytes.len());
            if self.long_len > 0 {
                // Making room set a long line aside: the bytes continue it.
                self.append_long(bytes);
                return;
            }
        }
        self.carry.extend_from_slice(bytes);
        if self.carry.len() > self.parser.limits().max_line_bytes {
            self.seal_all();
        }
    }

    #[inline(never)]
    fn make_room(&mut self, more: usize) {
        if self.carry.is_empty() {
            self.carry = BytesMut::with_capacity(more.max(CARRY_BLOCK));
            return;
        }
        if self.carry.len() >= LONG {
            // Growing would copy all of it: its complete lines go to the parser instead, and a
            // long unfinished line is set aside.
            self.seal_lines();
            if self.long_len > 0 || self.carry.capacity() - self.carry.len() >= more {
                return;
            }
        }
        self.carry.reserve(more);
    }

    /// Moves the gathered complete events, up to the last blank line, to the parse queue.
    /// Returns whether there were any.
    fn seal(&mut self) -> bool {
        if self.long_len > 0 && !self.scan_long() {
            return false;
        }
        if self.carry.is_empty() {
            return false;
        }
        let from = self.scanned;
        self.scanned = self.carry.len();
        let before = self.carry_before.at(&self.carry, from);
        let Some(cut) = event_end::last(&self.carry[from..], before) else {
            return false;
        };
        let cut = from + cut;
        self.carry_before = self.carry_before.at(&self.carry, cut);
        self.todo.push_back(self.carry.split_to(cut).freeze());
        self.scanned = self.carry.len();
        true
    }

    /// Moves the gathered complete lines of an unfinished event to the parse queue: the
    /// parser carries the event, and no line is cut (a cut line would be copied once more,
    /// aside). An unfinished line of `LONG_LINE` bytes or more is set aside as the first piece
    /// of a long line (see `extend_long`); a shorter one stays gathered.
    fn seal_lines(&mut self) {
        let cut = memchr::memrchr2(b'\r', b'\n', &self.carry).map_or(0, |at| at + 1);
        if cut > 0 {
            self.carry_before = self.carry_before.at(&self.carry, cut);
            self.todo.push_back(self.carry.split_to(cut).freeze());
        }
        if self.carry.len() >= LONG_LINE {
            self.carry_before = Before::default();
            self.freeze_block();
            self.check_long_limit();
        } else if cut == 0 {
            self.seal_all();
        }
        self.scanned = self.carry.len();
    }

    /// Moves everything gathered to the parse queue, finished or not (the body is over, or
    /// the gathered bytes reached the line limit).
    fn seal_all(&mut self) {
        // A long line that ended in the bytes not looked at yet still goes in one go.
        if self.long_len > 0 && !self.scan_long() {
            self.todo.extend(self.long.drain(..));
            self.long_len = 0;
        }
        if !self.carry.is_empty() {
            self.carry_before = self.carry_before.at(&self.carry, self.carry.len());
            self.todo.push_back(self.carry.split().freeze());
        }
        self.scanned = 0;
    }

    /// Parses the next window of the oldest run in `todo`, queueing its events as slices of
    /// that run: up to the first event or error past `WINDOW` bytes, where the parser stops
    /// (the rest of the run is parsed next, as if it were a new chunk).
    fn parse_window(&mut self) {
        let Some(run) = self.todo.front_mut() else {
            return;
        };
        let mut feed = self.parser.feed(run);
        let mut full = false;
        while let Some(frame) = feed.next_frame() {
            match frame {
                Ok(Frame::Event(event)) => {
                    let event_type = share(run, event.event_type, &mut self.kept.event_type);
                    let id = share(run, event.id, &mut self.kept.id);
                    // Data not in the run was joined from several lines (or decoded): the
                    // parser hands over its buffer rather than have it copied.
                    let data = match slice(run, event.data) {
                        Some(data) => data,
                        None => feed.take_event_data(),
                    };
                    self.ready.push_back(Ok(BytesEvent {
                        event_type,
                        data,
                        id,
                    }));
                }
                Err(e) => self.ready.push_back(Err(e)),
                Ok(_) => continue,
            }
            if feed.remaining() + WINDOW <= run.len() {
                full = true;
                break;
            }
        }
        let read = if full {
            feed.stop()
        } else {
            drop(feed);
            None
        };
        match read {
            Some(read) if read < run.len() => run.advance(read),
            _ => {
                self.todo.pop_front();
            }
        }
    }
}

impl<S> EventStream<S>
where
    S: TryStream + Unpin,
    S::Ok: Into<Bytes>,
{
    /// Reads the body until there is something to parse (or a failure or the end to report):
    /// small chunks are only appended, in a tight loop.
    fn read(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match Pin::new(&mut self.body).try_poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    let chunk: Bytes = chunk.into();
                    if chunk.len() < BATCH {
                        self.take_small(&chunk);
                    } else {
                        self.take_large(chunk);
                    }
                    if !self.todo.is_empty() {
                        return Poll::Ready(());
                    }
                }
                // Nothing more is ready now: what was gathered goes out, up to its last
                // complete event.
                Poll::Pending if self.seal() => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    // The parser gets everything gathered, so that `retry` and the events
                    // before the failure are up to date; the error follows them.
                    self.seal_all();
                    self.failed = Some(e);
                    return Poll::Ready(());
                }
                Poll::Ready(None) => {
                    self.seal_all();
                    self.body_ended = true;
                    return Poll::Ready(());
                }
            }
        }
    }
}

// Nothing is pinned structurally: the body is required to be `Unpin`, and a stored body error
// is only ever moved out, never pinned, so it need not be `Unpin` itself.
impl<S: TryStream + Unpin> Unpin for EventStream<S> {}

impl<S> Stream for EventStream<S>
where
    S: TryStream + Unpin,
    S::Ok: Into<Bytes>,
{
    type Item = Result<BytesEvent, StreamError<S::Error>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(ready) = this.ready.pop_front() {
                return Poll::Ready(Some(ready.map_err(StreamError::Parse)));
            }
            if !this.todo.is_empty() {
                this.parse_window();
                continue;
            }
            if let Some(e) = this.failed.take() {
                return Poll::Ready(Some(Err(StreamError::Body(e))));
            }
            if this.end.is_some() {
                return Poll::Ready(None);
            }
            if this.body_ended {
                this.end = Some(this.parser.finish());
                continue;
            }
            if this.read(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

/// Copies of values that did not lie in the piece parsed (see [`EventStream`]'s `kept`).
#[derive(Debug)]
struct Kept {
    id: Bytes,
    event_type: Bytes,
}

impl Default for Kept {
    fn default() -> Self {
        Kept {
            id: Bytes::new(),
            event_type: Bytes::from_static(DEFAULT_EVENT_TYPE.as_bytes()),
        }
    }
}

/// `text` as a slice of `chunk` when it lies there, else `kept` when equal, else a new copy,
/// which `kept` then holds.
fn share(chunk: &Bytes, text: &str, kept: &mut Bytes) -> Bytes {
    if let Some(shared) = slice(chunk, text) {
        return shared;
    }
    if kept.as_ref() != text.as_bytes() {
        *kept = Bytes::copy_from_slice(text.as_bytes());
    }
    kept.clone()
}

/// `text` as a slice of `chunk` if it lies there (empty text: an empty `Bytes`).
#[inline]
fn slice(chunk: &Bytes, text: &str) -> Option<Bytes> {
    if text.is_empty() {
        return Some(Bytes::new());
    }
    // Wraps to a huge offset when `text` starts before the chunk.
    let offset = (text.as_ptr() as usize).wrapping_sub(chunk.as_ptr() as usize);
    (offset <= chunk.len() && text.len() <= chunk.len() - offset)
        .then(|| chunk.slice(offset..offset + text.len()))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::fmt;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use futures_core::Stream;
    use proptest::prelude::*;

    use super::{EventStream, StreamError, BATCH, LONG_LINE};
    use crate::error::ParseError;
    use crate::event::Frame;
    use crate::limits::Limits;
    use crate::parser::Parser;

    /// What a test body does when polled.
    #[derive(Debug, Clone)]
    enum Step {
        Chunk(Bytes),
        /// Nothing ready now (it wakes the task at once, so `block_on` polls again).
        Pending,
        Fail,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Failed;

    impl fmt::Display for Failed {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }

    struct Body(VecDeque<Step>);

    impl Stream for Body {
        type Item = Result<Bytes, Failed>;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            match self.0.pop_front() {
                None => Poll::Ready(None),
                Some(Step::Chunk(chunk)) => Poll::Ready(Some(Ok(chunk))),
                Some(Step::Fail) => Poll::Ready(Some(Err(Failed))),
                Some(Step::Pending) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }
    }

    /// An event or an error, owned, as both sides of a comparison report it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Item {
        Event(String, String, String),
        Parse(ParseError),
        Body,
    }

    fn parser(limits: Limits) -> Parser {
        Parser::new().with_limits(limits).report_comments(false)
    }

    /// The borrowed parser's answer for `input` fed in the given pieces: its items, with a
    /// `Body` item after each piece marked as failing.
    fn expected(input: &[u8], pieces: &[(usize, bool)], limits: Limits) -> Vec<Item> {
        let mut parser = parser(limits);
        let mut out = Vec::new();
        let mut at = 0;
        for &(len, fails) in pieces {
            let mut feed = parser.feed(&input[at..at + len]);
            while let Some(frame) = feed.next_frame() {
                match frame {
                    Ok(Frame::Event(e)) => out.push(Item::Event(
                        e.event_type.to_owned(),
                        e.data.to_owned(),
                        e.id.to_owned(),
                    )),
                    Ok(_) => {}
                    Err(e) => out.push(Item::Parse(e)),
                }
            }
            at += len;
            if fails {
                out.push(Item::Body);
            }
        }
        out
    }

    /// The stream's answer for `steps`, with the stream for its end state.
    fn streamed(steps: Vec<Step>, limits: Limits) -> (Vec<Item>, EventStream<Body>) {
        let mut events = EventStream::with_parser(Body(steps.into()), parser(limits));
        let mut out = Vec::new();
        futures_executor::block_on(async {
            use futures_util::StreamExt;
            while let Some(item) = events.next().await {
                out.push(match item {
                    Ok(e) => Item::Event(
                        e.event_type_str().to_owned(),
                        e.data_str().to_owned(),
                        e.id_str().to_owned(),
                    ),
                    Err(StreamError::Parse(e)) => Item::Parse(e),
                    Err(StreamError::Body(Failed)) => Item::Body,
                });
            }
        });
        (out, events)
    }

    /// One line of a generated stream: its text and its line end.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let value = prop_oneof![
            "[a-z :]{0,12}".prop_map(String::into_bytes),
            Just("caf\u{e9} \u{1F680}".as_bytes().to_vec()),
            Just(b"bad \xFF byte".to_vec()),
            Just(b"nul\0here".to_vec()),
            (1usize..6000).prop_map(|n| vec![b'x'; n]),
            // Past `LONG_LINE`: set aside in pieces.
            (LONG_LINE..3 * LONG_LINE).prop_map(|n| vec![b'z'; n]),
        ];
        let text = prop_oneof![
            4 => value.clone().prop_map(|v| [&b"data: "[..], &v].concat()),
            1 => value.clone().prop_map(|v| [&b"data:"[..], &v].concat()),
            1 => Just(b"data".to_vec()),
            2 => "[0-9a-z]{0,6}".prop_map(|v| format!("id: {v}").into_bytes()),
            1 => value.clone().prop_map(|v| [&b"event: "[..], &v].concat()),
            1 => "[0-9]{1,5}x?".prop_map(|v| format!("retry: {v}").into_bytes()),
            1 => value.clone().prop_map(|v| [&b":"[..], &v].concat()),
            1 => Just(b"unknown: field".to_vec()),
            4 => Just(Vec::new()),
        ];
        let end = prop_oneof![Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"\r\n"[..])];
        (text, end).prop_map(|(text, end)| [&text[..], end].concat())
    }

    /// A stream: an optional BOM, lines, and maybe an unfinished last line.
    fn input() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<bool>(),
            prop::collection::vec(line(), 0..60),
            "[a-z:]{0,5}",
        )
            .prop_map(|(bom, lines, tail)| {
                let mut out = if bom {
                    b"\xEF\xBB\xBF".to_vec()
                } else {
                    Vec::new()
                };
                out.extend(lines.concat());
                out.extend(tail.as_bytes());
                out
            })
    }

    /// Chunk sizes from one byte to past the in-place threshold, and what comes after each.
    fn plan() -> impl Strategy<Value = Vec<(usize, u8)>> {
        let size = prop_oneof![
            4 => 1usize..8,
            4 => 1usize..200,
            1 => BATCH - 8..3 * BATCH,
        ];
        // 0-6: nothing; 7-8: `Pending`; 9: a body failure.
        prop::collection::vec((size, 0u8..10), 1..400)
    }

    fn limits() -> impl Strategy<Value = Limits> {
        prop_oneof![
            3 => Just(Limits::default()),
            1 => (16usize..3000, 16usize..9000).prop_map(|(line, event)| Limits {
                max_line_bytes: line,
                max_event_bytes: event,
            }),
            // Past `LONG_LINE`: long lines are set aside in pieces, then refused or joined.
            1 => (LONG_LINE..7000, 16usize..20_000).prop_map(|(line, event)| Limits {
                max_line_bytes: line,
                max_event_bytes: event,
            }),
        ]
    }

    /// Cuts `input` as `plan` says (repeating it as needed), into body steps and the pieces
    /// the expected answer is computed from.
    fn steps(input: &[u8], plan: &[(usize, u8)]) -> (Vec<Step>, Vec<(usize, bool)>) {
        let bytes = Bytes::copy_from_slice(input);
        let (mut steps, mut pieces) = (Vec::new(), Vec::new());
        let mut at = 0;
        for &(size, then) in plan.iter().cycle() {
            if at == input.len() {
                break;
            }
            let len = size.min(input.len() - at);
            steps.push(Step::Chunk(bytes.slice(at..at + len)));
            at += len;
            match then {
                7 | 8 => steps.push(Step::Pending),
                9 => steps.push(Step::Fail),
                _ => {}
            }
            pieces.push((len, then == 9));
        }
        (steps, pieces)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// However the body cuts the stream, pauses or fails, the stream hands out what the
        /// borrowed parser gives for the same bytes, in the same order, with each body
        /// failure after exactly the events completed before it, and ends in the same state.
        #[test]
        fn any_chunking_gives_the_borrowed_parsers_events(
            input in input(),
            plan in plan(),
            limits in limits(),
        ) {
            let (steps, pieces) = steps(&input, &plan);
            let want = expected(&input, &pieces, limits);
            let (got, events) = streamed(steps, limits);
            prop_assert_eq!(&got, &want);
            let mut whole = parser(limits);
            let mut feed = whole.feed(&input);
            while feed.next_frame().is_some() {}
            drop(feed);
            prop_assert_eq!(events.last_event_id(), whole.last_event_id());
            prop_assert_eq!(events.retry(), whole.retry());
            prop_assert_eq!(events.end_of_stream(), Some(whole.finish()));
        }
    }

    fn chunks(pieces: &[&'static [u8]]) -> Vec<Step> {
        pieces
            .iter()
            .map(|&p| Step::Chunk(Bytes::from_static(p)))
            .collect()
    }

    fn data(items: &[Item]) -> Vec<&str> {
        items
            .iter()
            .map(|item| match item {
                Item::Event(_, data, _) => data.as_str(),
                Item::Parse(_) => "<parse error>",
                Item::Body => "<body error>",
            })
            .collect()
    }

    #[test]
    fn blank_lines_split_across_chunks_in_every_line_end() {
        for pieces in [
            &[&b"data: a\r"[..], b"\n", b"\r", b"\ndata: b\r\n\r\n"][..],
            &[b"data: a\n", b"\n", b"data: b\n\n"],
            &[b"data: a\r", b"\r", b"data: b\r\r"],
            &[b"data: a\r\n\r", b"\ndata: b\n\r"],
            &[b"\xEF", b"\xBB", b"\xBF", b"data: a\n\ndata: b\n\n"],
        ] {
            let (got, _) = streamed(chunks(pieces), Limits::default());
            assert_eq!(data(&got), ["a", "b"], "{pieces:?}");
        }
    }

    #[test]
    fn a_complete_event_goes_out_when_the_body_has_nothing_more_ready() {
        let mut events = EventStream::new(Body(
            [
                Step::Chunk(Bytes::from_static(b"data: a\n")),
                Step::Chunk(Bytes::from_static(b"\ndata: b")),
                Step::Pending,
            ]
            .into(),
        ));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        // The second chunk completes `a`; the body then pauses (and would never wake a real
        // task): `a` must not wait for it.
        match Pin::new(&mut events).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(event))) => assert_eq!(event.data_str(), "a"),
            other => panic!("expected the event, got {other:?}"),
        }
        assert!(
            Pin::new(&mut events).poll_next(&mut cx).is_ready(),
            "then the end"
        );
    }

    #[test]
    fn events_gathered_before_a_body_failure_come_before_it() {
        let mut steps = chunks(&[b"data: a\n\n", b"data: b\n\ndata: c"]);
        steps.extend([Step::Fail, Step::Chunk(Bytes::from_static(b"\n\n"))]);
        let (got, events) = streamed(steps, Limits::default());
        assert_eq!(data(&got), ["a", "b", "<body error>", "c"]);
        assert!(!events.end_of_stream().expect("ended").incomplete_event);
    }

    #[test]
    fn events_in_a_large_chunk_share_its_memory() {
        let mut text = Vec::new();
        while text.len() < 3 * BATCH {
            text.extend_from_slice(b"id: 1\nevent: delta\ndata: {\"token\": \"hello\"}\n\n");
        }
        let chunk = Bytes::from(text);
        let whole = chunk.as_ptr_range();
        let (events, _) = futures_executor::block_on(async {
            use futures_util::StreamExt;
            let body = Body([Step::Chunk(chunk.clone())].into());
            let events: Vec<_> = EventStream::new(body).collect().await;
            (events, ())
        });
        assert!(events.len() > 100);
        for event in events {
            let event = event.expect("no error");
            for field in [&event.data, &event.id, &event.event_type] {
                assert!(whole.contains(&field.as_ptr()), "a copy: {field:?}");
            }
        }
    }

    /// Two cases the property test found: a pause right after the gathered bytes reached the
    /// line limit (and went to the parser), and one after a large chunk that ended a gathered
    /// event.
    #[test]
    fn pauses_after_the_carry_buffer_was_handed_over_are_harmless() {
        let long = [&b"data: "[..], &[b'x'; 6000], b"\n\n"].concat();
        let small = Limits {
            max_line_bytes: 16,
            max_event_bytes: 16,
        };
        let bytes = Bytes::from(long.clone());
        let mut steps = Vec::new();
        for at in 0..4 {
            steps.push(Step::Chunk(bytes.slice(at..at + 1)));
            steps.push(Step::Pending);
        }
        steps.push(Step::Chunk(bytes.slice(4..)));
        steps.push(Step::Pending);
        for limits in [small, Limits::default()] {
            let pieces = [(4, false), (long.len() - 4, false)];
            let (got, _) = streamed(steps.clone(), limits);
            assert_eq!(got, expected(&long, &pieces, limits));
        }
    }

    /// Joined data is handed over from the parser's buffer when it fills it, copied when it
    /// does not, and taken from the decoded text when it was not UTF-8: each way, the text
    /// is the borrowed parser's.
    #[test]
    fn joined_data_comes_out_whole_whichever_way_it_leaves_the_parser() {
        let big = [b'y'; 3000];
        let mut input = [
            &b"data: "[..],
            &big,
            b"\ndata: ",
            &big,
            b"\n\ndata: a\ndata: b\n\ndata: bad \xFF\ndata: \xFF\n\n",
        ]
        .concat();
        input.extend(std::iter::repeat_n(b'\n', BATCH));
        let want = expected(&input, &[(input.len(), false)], Limits::default());
        assert_eq!(want.len(), 3);
        for size in [1, 100, BATCH, input.len()] {
            let bytes = Bytes::from(input.clone());
            let steps = (0..input.len())
                .step_by(size)
                .map(|at| Step::Chunk(bytes.slice(at..(at + size).min(input.len()))))
                .collect();
            let (got, _) = streamed(steps, Limits::default());
            assert_eq!(got, want, "chunks of {size}");
        }
    }

    #[test]
    fn a_line_past_the_limit_in_small_chunks_is_refused_in_bounded_memory() {
        let limits = Limits {
            max_line_bytes: 1000,
            ..Limits::default()
        };
        let endless = Bytes::from(vec![b'x'; 7]);
        let mut steps: Vec<Step> = (0..20_000).map(|_| Step::Chunk(endless.clone())).collect();
        steps.extend(chunks(&[b"\n\ndata: after\n\n"]));
        let mut events = EventStream::with_parser(Body(steps.into()), parser(limits));
        let mut got = Vec::new();
        futures_executor::block_on(async {
            use futures_util::StreamExt;
            while let Some(item) = events.next().await {
                assert!(
                    events.carry.capacity() <= 16 * 1024,
                    "the carry buffer grew"
                );
                got.push(match item {
                    Ok(e) => e.data_str().to_owned(),
                    Err(e) => e.to_string(),
                });
            }
        });
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("max_line_bytes"), "{}", got[0]);
        assert_eq!(got[1], "after");
    }

    /// A line set aside in pieces is refused once it passes the limit, whatever the reads:
    /// the pieces never hold much more than the limit, and the stream goes on after it.
    #[test]
    fn a_long_line_past_the_limit_is_refused_while_it_arrives() {
        let limits = Limits {
            max_line_bytes: 40_000,
            ..Limits::default()
        };
        for size in [7, 100, BATCH, 3 * BATCH] {
            let endless = Bytes::from(vec![b'x'; size]);
            let mut steps = chunks(&[b"data: ok\n\ndata: "]);
            for _ in 0..200_000 / size {
                // A pause after each read, so that the test sees the buffers in between.
                steps.extend([Step::Chunk(endless.clone()), Step::Pending]);
            }
            steps.extend(chunks(&[b"\n\ndata: after\n\n"]));
            let mut events = EventStream::with_parser(Body(steps.into()), parser(limits));
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let mut got = Vec::new();
            loop {
                let held = events.long_len + events.carry.capacity();
                assert!(
                    held <= 40_000 + 2 * size,
                    "{held} bytes held in reads of {size}"
                );
                match Pin::new(&mut events).poll_next(&mut cx) {
                    Poll::Ready(Some(item)) => got.push(match item {
                        Ok(e) => e.data_str().to_owned(),
                        Err(e) => e.to_string(),
                    }),
                    Poll::Ready(None) => break,
                    Poll::Pending => {}
                }
            }
            assert_eq!(got.len(), 3, "reads of {size}: {got:?}");
            assert_eq!(got[0], "ok");
            assert!(got[1].contains("max_line_bytes"), "{}", got[1]);
            assert_eq!(got[2], "after");
        }
    }

    /// A long line comes out whole however it is read, with the events around it, and nothing
    /// of it is left aside afterwards: first in the stream after a byte order mark, after a
    /// line ended by a lone CR, and in events the parser is skipping after a limit error.
    #[test]
    fn a_long_line_in_reads_of_any_size_comes_out_whole() {
        let line = vec![b'y'; 70_000];
        let long = |prefix: &[u8], end: &[u8]| [prefix, &line[..], end].concat();
        let cases = [
            [
                &b"data: a\n\nid: 7\ndata: "[..],
                &line,
                b"\r\n\r\ndata: b\n\n",
            ]
            .concat(),
            long(b"\xEF\xBB\xBFdata: ", b"\n\n"),
            long(b"\xEF\xBB\xBF", b"\n\n"),
            long(b"data: a\r", b"\r\rdata: b\r\r"),
            // Too long for the limits below: refused, and the next long line, in the same
            // event, skipped with it.
            [
                long(b"data: ", b"yy\n"),
                long(b"data: ", b"\n\ndata: c\n\n"),
            ]
            .concat(),
        ];
        let tight = Limits {
            max_line_bytes: 70_004,
            max_event_bytes: 100_000,
        };
        for input in &cases {
            for limits in [Limits::default(), tight] {
                let want = expected(input, &[(input.len(), false)], limits);
                let bytes = Bytes::from(input.clone());
                for size in [1, 64, 1500, BATCH, BATCH + 1, 16 * 1024, 50_000] {
                    let steps = (0..input.len())
                        .step_by(size)
                        .flat_map(|at| {
                            let chunk = bytes.slice(at..(at + size).min(input.len()));
                            [Step::Chunk(chunk), Step::Pending]
                        })
                        .collect();
                    let (got, events) = streamed(steps, limits);
                    assert_eq!(got, want, "reads of {size}: {:?}", &input[..12]);
                    assert!(events.long.is_empty() && events.long_len == 0);
                }
            }
        }
    }
}
