//! The incremental parser: the WHATWG "event stream interpretation" algorithm as a state
//! machine over byte chunks.
//!
//! Every byte is looked at once: `memchr2` finds line ends in the new bytes only, and a line cut
//! by a chunk end is carried in one reused buffer, so a long line fed in tiny chunks costs
//! linear time. Text that lies inside the current chunk is lent out without copying.

use std::mem;
use std::ops::Range;

#[cfg(feature = "stream")]
use bytes::{Buf, Bytes};

use crate::decode::{as_str, push_lossy, BOM};
use crate::error::{Limit, ParseError};
use crate::event::{Event, Frame, IgnoreReason, Ignored, DEFAULT_EVENT_TYPE};
use crate::field::{classify, classify_head, parse_retry, LineKind, Name};
use crate::limits::Limits;
use crate::line::{self, Ending};

/// An incremental `text/event-stream` parser.
///
/// Feed it chunks with [`Parser::feed`] and pull frames from the returned [`Feed`]; call
/// [`Parser::finish`] at end of stream. Chunks may be cut anywhere (inside a CRLF, a BOM or a
/// UTF-8 sequence) and the output is the same.
///
/// ```
/// use ssekit_parser::{Frame, Parser};
///
/// let mut parser = Parser::new();
/// let mut out = Vec::new();
/// for chunk in [&b"retry: 3000\nevent: up"[..], b"date\ndata: {\"n\":1}\n\n: ping\n"] {
///     let mut feed = parser.feed(chunk);
///     while let Some(frame) = feed.next_frame() {
///         out.push(frame?.to_owned_frame());
///     }
/// }
/// assert_eq!(out.len(), 3); // retry, the event, the comment
/// assert_eq!(parser.retry(), Some(3000));
/// assert!(!parser.finish().incomplete_event);
/// # Ok::<(), ssekit_parser::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    bom: Bom,
    /// The previous chunk ended with CR: an LF opening the next chunk completes that line end.
    skip_lf: bool,
    /// Bytes of a line cut by a chunk end.
    partial: Vec<u8>,
    /// `partial` holds a line already handed out; clear it before the next use.
    partial_consumed: bool,
    /// Stream offset of the first byte of the current input.
    offset: u64,
    ev: EventState,
    /// Decoded text of a comment or ignored line that was not valid UTF-8.
    scratch: String,
    /// Bytes of a chunk not read because its [`Feed`] was dropped early.
    backlog: Vec<u8>,
}

/// Progress through the optional byte order mark at stream start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    /// This many BOM bytes matched so far.
    Start(usize),
    Done,
}

/// Recovery after a limit error: the offending event is skipped whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discard {
    Nothing,
    /// Skip to the end of the current line, then `Event`.
    Line,
    /// Skip lines up to and including the next blank line.
    Event,
}

/// Where the text of a buffer lives while its event is being built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Acc {
    Empty,
    /// One value inside the current input, not yet decoded.
    Input(Range<usize>),
    /// Decoded in the parser's own buffer.
    Buf,
}

/// The interpretation half: buffers of the block being built, the id, retry and the caps.
#[derive(Debug, Clone)]
struct EventState {
    limits: Limits,
    report_ignored: bool,
    report_comments: bool,
    discard: Discard,
    retry: Option<u64>,
    /// The data buffer's raw bytes, checked as UTF-8 once, at dispatch. A `data` line carried
    /// across chunks is taken over whole from the carry buffer (a swap, not a copy), so its
    /// value starts at `data_start`, after the field name.
    data: Vec<u8>,
    data_start: usize,
    /// `data` and the carry buffer are swapped (see above) until the block is cleared.
    data_taken: bool,
    data_acc: Acc,
    /// Raw bytes in the data buffer: values plus the LF between them.
    data_len: usize,
    data_lines: usize,
    /// Meaningful only while `type_acc` is `Buf`; otherwise it still holds an earlier block's
    /// type, kept so that a stream repeating one type does not decode it again per event.
    event_type: String,
    type_acc: Acc,
    type_len: usize,
    /// The last event ID buffer, meaningful only while `id_pending` (otherwise it equals
    /// `last_id`): committing is then a swap, not a copy.
    id_buf: String,
    id_pending: bool,
    /// The pending id is this range of the current input, not yet decoded (instead of
    /// `id_buf`): it is checked with the rest of its event, at dispatch.
    id_lent: Option<Range<usize>>,
    last_id: String,
    /// The last event id is this range of the current input, already checked as UTF-8 and
    /// inside the feed's checked text (instead of `last_id`). A stream that sends an id with
    /// every event then never copies one while the ids lie in the chunk being read.
    last_lent: Option<Range<usize>>,
    /// The buffers hold the event last handed out; clear them before reuse.
    dispatched: bool,
    /// The data of the event last handed out was not valid UTF-8: it lies in the scratch
    /// buffer, decoded (see [`Feed::take_event_data`]). Set on that cold path only, so the
    /// borrowed API pays nothing for it.
    decoded: bool,
    /// Size a data buffer for the rest of the input when lines are first joined, so that the
    /// buffer can be handed over whole ([`Feed::take_event_data`]) without regrowing.
    size_joins: bool,
    /// The length of the data last handed over with its buffer.
    last_handed: usize,
}

impl EventState {
    fn new() -> Self {
        EventState {
            limits: Limits::default(),
            report_ignored: false,
            report_comments: true,
            discard: Discard::Nothing,
            retry: None,
            data: Vec::new(),
            data_start: 0,
            data_taken: false,
            data_acc: Acc::Empty,
            data_len: 0,
            data_lines: 0,
            event_type: String::new(),
            type_acc: Acc::Empty,
            type_len: 0,
            id_buf: String::new(),
            id_pending: false,
            id_lent: None,
            last_id: String::new(),
            last_lent: None,
            dispatched: false,
            decoded: false,
            size_joins: false,
            last_handed: 0,
        }
    }

    fn clear_block(&mut self) {
        self.data.clear();
        self.data_start = 0;
        self.data_taken = false;
        self.data_acc = Acc::Empty;
        self.data_len = 0;
        self.data_lines = 0;
        self.type_acc = Acc::Empty;
        self.type_len = 0;
        self.decoded = false;
    }

    /// Drops the block being built, including an `id` it set but never committed.
    fn drop_block(&mut self) {
        self.clear_block();
        self.id_pending = false;
        self.id_lent = None;
    }

    fn commit_id(&mut self, input: &[u8]) {
        if !self.id_pending {
            return;
        }
        self.id_pending = false;
        self.last_lent = None;
        match self.id_lent.take() {
            Some(r) => {
                self.last_id.clear();
                push_lossy(&mut self.last_id, &input[r]);
            }
            None => mem::swap(&mut self.last_id, &mut self.id_buf),
        }
    }

    fn pending(&self) -> bool {
        self.data_lines > 0 || self.type_acc != Acc::Empty || self.id_pending
    }

    /// Moves text still lent from the input into the parser's buffers. Runs at every chunk
    /// end, where usually nothing is lent: that check stays inline, the copies do not.
    #[inline]
    fn materialize(&mut self, input: &[u8]) {
        if matches!(self.data_acc, Acc::Input(_))
            || matches!(self.type_acc, Acc::Input(_))
            || self.id_lent.is_some()
        {
            self.materialize_lent(input);
        }
    }

    #[inline(never)]
    fn materialize_lent(&mut self, input: &[u8]) {
        if let Some(r) = self.id_lent.take() {
            self.id_buf.clear();
            push_lossy(&mut self.id_buf, &input[r]);
        }
        if let Acc::Input(r) = &self.data_acc {
            self.data.clear();
            self.data_start = 0;
            extend_capped(
                &mut self.data,
                &input[r.clone()],
                self.limits.max_event_bytes,
            );
            self.data_acc = Acc::Buf;
        }
        if let Acc::Input(r) = &self.type_acc {
            set_text(&mut self.event_type, &input[r.clone()]);
            self.type_acc = Acc::Buf;
        }
    }
}

/// What the stream left unfinished, reported by [`Parser::finish`].
///
/// Non-exhaustive: more ways for a stream to end badly may be reported. Compare with
/// `EndOfStream::default()` (nothing unfinished) or read the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct EndOfStream {
    /// Bytes after the last line end were discarded (a line without its line end).
    pub incomplete_line: bool,
    /// A block had `data`, `event` or `id` lines but no closing blank line: clients discard
    /// such an event, so a server that ends its stream this way loses it.
    pub incomplete_event: bool,
    /// Bytes left unread because a [`Feed`] was dropped before it was exhausted.
    pub unread_bytes: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with default [`Limits`].
    pub fn new() -> Self {
        Parser {
            bom: Bom::Start(0),
            skip_lf: false,
            partial: Vec::new(),
            partial_consumed: false,
            offset: 0,
            ev: EventState::new(),
            scratch: String::new(),
            backlog: Vec::new(),
        }
    }

    /// Sets the size caps.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.ev.limits = limits;
        self
    }

    /// Starts with this last event id, as a client that reconnects with `Last-Event-ID` does:
    /// events carry it until the stream sets another.
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.ev.last_id.clear();
        self.ev.last_id.push_str(id);
        self.ev.id_pending = false;
        self.ev.id_lent = None;
        self.ev.last_lent = None;
        self
    }

    /// Also yield [`Frame::Ignored`] for unknown fields, bad `retry` values and ids with NUL
    /// (useful for linting a server; off by default).
    pub fn report_ignored(mut self, on: bool) -> Self {
        self.ev.report_ignored = on;
        self
    }

    /// Yield [`Frame::Comment`] for comment lines (on by default). Turn it off when only events
    /// matter: comment-heavy streams (heartbeats) then cost less.
    pub fn report_comments(mut self, on: bool) -> Self {
        self.ev.report_comments = on;
        self
    }

    /// For a caller that takes joined data with [`Feed::take_event_data`]: size a data
    /// buffer for the rest of the input when lines are first joined (see
    /// [`EventState::size_joins`]).
    #[cfg(feature = "stream")]
    pub(crate) fn size_joins(mut self, on: bool) -> Self {
        self.ev.size_joins = on;
        self
    }

    /// For a caller that keeps a long line in pieces until its end arrives: appends the
    /// pieces and then `last` (`total` bytes, no line end among them, text first, at least a
    /// byte order mark's length in the first one) to the line being carried,
    /// in one buffer reserved for all of them, as if they had been fed. Its end then comes
    /// with the next input, and a `data` line takes that buffer over as is (no copy, no
    /// regrowing: fed piece by piece, the carried line would grow by doubling and be copied
    /// at each step).
    ///
    /// Returns false, having taken nothing, when the pieces must be fed instead: the stream
    /// has not passed its byte order mark, the parser is skipping an event after a limit
    /// error, or the line would pass the line limit (feeding reports the error).
    #[cfg(feature = "stream")]
    pub(crate) fn extend_line(&mut self, pieces: &[Bytes], last: &[u8], total: usize) -> bool {
        let first = pieces.first().map_or(last, |piece| &piece[..]);
        let skip = match self.bom {
            Bom::Done => 0,
            Bom::Start(0) if first.len() >= BOM.len() => {
                usize::from(first.starts_with(&BOM)) * BOM.len()
            }
            _ => return false,
        };
        if !self.backlog.is_empty()
            || self.ev.discard != Discard::Nothing
            || self.partial.len() + total - skip > self.ev.limits.max_line_bytes
        {
            return false;
        }
        self.settle();
        self.bom = Bom::Done;
        // The pieces start with text: a CR that ended the last input ended its line alone.
        self.skip_lf = false;
        self.partial.reserve_exact(total - skip);
        let all = pieces.iter().map(|piece| &piece[..]).chain([last]);
        for (i, piece) in all.enumerate() {
            let from = if i == 0 { skip } else { 0 };
            self.partial.extend_from_slice(&piece[from..]);
        }
        self.offset += total as u64;
        true
    }

    /// The size caps in force.
    pub fn limits(&self) -> Limits {
        self.ev.limits
    }

    /// The stream's last event id: what a client sends as `Last-Event-ID` when it reconnects.
    /// It changes at blank lines only, as the spec says.
    pub fn last_event_id(&self) -> &str {
        &self.ev.last_id
    }

    /// The last accepted `retry` value in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.ev.retry
    }

    /// Bytes of the stream read so far.
    pub fn stream_offset(&self) -> u64 {
        self.offset
    }

    /// Starts parsing `chunk`. Pull frames with [`Feed::next_frame`] until it returns `None`.
    /// If the `Feed` is dropped before that, the unread bytes are kept and parsed first at the
    /// next `feed`, so nothing is lost.
    pub fn feed<'p, 'c>(&'p mut self, chunk: &'c [u8]) -> Feed<'p, 'c> {
        let input = if self.backlog.is_empty() {
            Input::Borrowed(chunk)
        } else {
            let mut owned = mem::take(&mut self.backlog);
            owned.extend_from_slice(chunk);
            Input::Owned(owned)
        };
        Feed {
            parser: self,
            input,
            pos: 0,
            done: false,
            checked: Checked { at: 0, text: "" },
        }
    }

    /// Ends the stream: a line without its line end and a block without its blank line are
    /// discarded, as the spec requires, and reported. The parser is then ready for a new
    /// stream (a reconnection); it keeps [`last_event_id`](Self::last_event_id) and
    /// [`retry`](Self::retry), as a reconnecting client does.
    pub fn finish(&mut self) -> EndOfStream {
        self.settle();
        let end = EndOfStream {
            incomplete_line: (!self.partial.is_empty()
                || matches!(self.bom, Bom::Start(n) if n > 0))
                && self.ev.discard == Discard::Nothing,
            incomplete_event: self.ev.discard == Discard::Nothing && self.ev.pending(),
            unread_bytes: self.backlog.len(),
        };
        self.return_carry();
        self.bom = Bom::Start(0);
        self.skip_lf = false;
        self.partial.clear();
        self.offset = 0;
        self.ev.discard = Discard::Nothing;
        self.ev.drop_block();
        self.backlog.clear();
        end
    }

    /// Gives a carry buffer taken over as the data buffer back to its role, so each buffer
    /// keeps the capacity its own use needs (steady-state parsing stays allocation-free) and
    /// the carry buffer stays within the line limit. Call only when the carry buffer holds no
    /// unread bytes.
    fn return_carry(&mut self) {
        if !self.ev.data_taken {
            return;
        }
        mem::swap(&mut self.ev.data, &mut self.partial);
        self.ev.data_taken = false;
        self.ev.data.clear();
        self.partial.clear();
        self.partial_consumed = false;
        // While it held data it may have grown to the event limit.
        self.partial.shrink_to(self.ev.limits.max_line_bytes);
    }

    /// Clears buffers whose contents were lent out by the previous frame.
    fn settle(&mut self) {
        if self.ev.dispatched {
            self.ev.dispatched = false;
            // After a dispatch the carry buffer holds no unread bytes: the blank line was
            // found in the input, so every carried line before it was applied.
            self.return_carry();
            self.ev.clear_block();
        }
        if self.partial_consumed {
            self.partial_consumed = false;
            self.partial.clear();
        }
    }
}

#[derive(Debug)]
enum Input<'c> {
    Borrowed(&'c [u8]),
    Owned(Vec<u8>),
}

impl Input<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Input::Borrowed(b) => b,
            Input::Owned(v) => v,
        }
    }
}

/// Where a line's bytes are: in the input or in the parser's carry-over buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Input(usize),
    Partial,
}

/// A frame to build once the state machine has stopped, described without borrows.
#[derive(Debug)]
enum Action {
    Dispatch,
    Retry(u64),
    /// Ranges are relative to the start of the line.
    Comment(Source, Range<usize>),
    Ignored(IgnoreReason, Source, Range<usize>),
}

/// The frames of one chunk: a lending iterator (each frame borrows the `Feed`), so use
/// `while let Some(frame) = feed.next_frame()`.
#[derive(Debug)]
pub struct Feed<'p, 'c> {
    parser: &'p mut Parser,
    input: Input<'c>,
    pos: usize,
    done: bool,
    checked: Checked<'c>,
}

impl Feed<'_, '_> {
    /// The next frame, `Some(Err(_))` when a limit was hit (parsing can go on), or `None` once
    /// the chunk is used up.
    #[allow(clippy::should_implement_trait)]
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, ParseError>> {
        if self.done {
            return None;
        }
        self.parser.settle();
        match self.advance() {
            None => {
                self.end_input();
                None
            }
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(action)) => Some(Ok(self.build(action))),
        }
    }

    /// Bytes of this chunk not yet parsed.
    pub fn remaining(&self) -> usize {
        self.input.bytes().len() - self.pos
    }

    /// The data of the event just handed out, as `Bytes`, for a caller that found it outside
    /// its own shared input (joined lines, decoded text). Joined lines filling at least half
    /// of the data buffer are handed over with the buffer itself, which saves copying large
    /// multi-line events a second time; the parser then starts a new buffer. Otherwise a
    /// copy, and the buffer is kept for reuse.
    #[cfg(feature = "stream")]
    pub(crate) fn take_event_data(&mut self) -> Bytes {
        let ev = &mut self.parser.ev;
        if !ev.dispatched {
            return Bytes::new();
        }
        if ev.decoded {
            return Bytes::copy_from_slice(self.parser.scratch.as_bytes());
        }
        match &ev.data_acc {
            Acc::Empty => Bytes::new(),
            Acc::Input(r) => Bytes::copy_from_slice(&self.input.bytes()[r.clone()]),
            Acc::Buf => {
                let r = ev.data_start..ev.data_start + ev.data_len;
                if 2 * r.len() >= ev.data.capacity() {
                    // Only joins are sized from it: one long line taken over whole (see
                    // `Parser::extend_line`) says nothing of the next event's joined size.
                    if ev.data_lines > 1 {
                        ev.last_handed = r.end;
                    }
                    let mut data = mem::take(&mut ev.data);
                    // A vector that fills its allocation becomes `Bytes` as it is; otherwise
                    // `Bytes` allocates a header for it (one more allocation per event).
                    // Shrinking in place releases the slack instead.
                    data.truncate(r.end);
                    data.shrink_to_fit();
                    let mut data = Bytes::from(data);
                    data.advance(r.start);
                    data
                } else {
                    Bytes::copy_from_slice(&ev.data[r])
                }
            }
        }
    }

    /// For a caller that parses a long input a part at a time: ends the feed after the frames
    /// read so far and returns how many bytes of the input they took. The caller feeds the
    /// rest next, as a new chunk (the output does not depend on where chunks are cut). `None`
    /// when the unread bytes had to be kept, as when a feed is dropped early (the input
    /// started with bytes kept from an earlier feed): the caller then feeds what follows.
    #[cfg(feature = "stream")]
    pub(crate) fn stop(mut self) -> Option<usize> {
        if self.done || matches!(self.input, Input::Owned(_)) {
            return None;
        }
        self.parser.settle();
        let p = &mut *self.parser;
        let input = self.input.bytes();
        self.checked.keep_last_id(&mut p.ev);
        p.ev.materialize(input);
        p.offset += self.pos as u64;
        self.done = true;
        Some(self.pos)
    }

    fn end_input(&mut self) {
        let p = &mut *self.parser;
        let input = self.input.bytes();
        self.checked.keep_last_id(&mut p.ev);
        p.ev.materialize(input);
        p.offset += input.len() as u64;
        if let Input::Owned(v) = &mut self.input {
            v.clear();
            p.backlog = mem::take(v);
        }
        self.pos = 0;
        self.done = true;
    }

    /// Runs the state machine until it has something to hand out, an error, or no more input.
    fn advance(&mut self) -> Option<Result<Action, ParseError>> {
        let input = self.input.bytes();
        let p = &mut *self.parser;
        loop {
            // Nothing is lent while the machine runs, so a line used from `partial` can go.
            if p.partial_consumed {
                p.partial_consumed = false;
                p.partial.clear();
            }
            while let Bom::Start(matched) = p.bom {
                let &byte = input.get(self.pos)?;
                if byte == BOM[matched] {
                    self.pos += 1;
                    p.bom = if matched + 1 == BOM.len() {
                        Bom::Done
                    } else {
                        Bom::Start(matched + 1)
                    };
                } else {
                    // Not a BOM after all: the bytes taken so far start the first line.
                    p.partial.extend_from_slice(&BOM[..matched]);
                    p.bom = Bom::Done;
                }
            }
            if p.skip_lf {
                let &byte = input.get(self.pos)?;
                p.skip_lf = false;
                if byte == b'\n' {
                    self.pos += 1;
                }
            }
            let rest = input.get(self.pos..).filter(|r| !r.is_empty())?;
            let line_start = p.offset + self.pos as u64 - p.partial.len() as u64;
            let Some(found) = line::find(rest) else {
                self.pos = input.len();
                match p.ev.discard {
                    Discard::Nothing => {
                        if p.partial.len() + rest.len() > p.ev.limits.max_line_bytes {
                            p.partial.clear();
                            return Some(Err(p.ev.fail(
                                Limit::LineBytes,
                                line_start,
                                Discard::Line,
                            )));
                        }
                        extend_capped(&mut p.partial, rest, p.ev.limits.max_line_bytes);
                    }
                    // A non-empty line cannot be the blank line that ends the discard.
                    Discard::Event | Discard::Line => p.ev.discard = Discard::Line,
                }
                return None;
            };
            let start = self.pos;
            self.pos += found.consumed;
            if found.ending == Ending::Cr && found.consumed == rest.len() {
                p.skip_lf = true;
            }
            match p.ev.discard {
                Discard::Line => {
                    p.ev.discard = Discard::Event;
                    continue;
                }
                Discard::Event => {
                    if found.len == 0 {
                        p.ev.discard = Discard::Nothing;
                        p.ev.drop_block();
                    }
                    continue;
                }
                Discard::Nothing => {}
            }
            if p.partial.len() + found.len > p.ev.limits.max_line_bytes {
                p.partial.clear();
                return Some(Err(p.ev.fail(Limit::LineBytes, line_start, Discard::Event)));
            }
            let source = if p.partial.is_empty() {
                Source::Input(start)
            } else {
                extend_capped(
                    &mut p.partial,
                    &rest[..found.len],
                    p.ev.limits.max_line_bytes,
                );
                p.partial_consumed = true;
                Source::Partial
            };
            if let Some(result) =
                p.ev.apply(input, &mut p.partial, found.len, source, line_start)
            {
                return Some(result);
            }
        }
    }

    /// Turns an action into a frame that borrows the input or the parser's buffers.
    fn build(&mut self, action: Action) -> Frame<'_> {
        let input = self.input.bytes();
        let p = &mut *self.parser;
        match action {
            Action::Retry(ms) => Frame::Retry(ms),
            Action::Comment(source, range) => {
                let bytes = source_bytes(input, &p.partial, source, range);
                Frame::Comment(decode_into(bytes, &mut p.scratch, &mut false))
            }
            Action::Ignored(reason, source, range) => {
                let bytes = source_bytes(input, &p.partial, source, range);
                let line = decode_into(bytes, &mut p.scratch, &mut false);
                Frame::Ignored(Ignored { reason, line })
            }
            Action::Dispatch => {
                let ev = &mut p.ev;
                // Everything the event lends from the input is checked as UTF-8 in one go:
                // the values are cut from the checked text at ASCII bytes (line ends, `:`,
                // space), so each is valid exactly when it would be on its own.
                let text = match (&self.input, ev.lent_span()) {
                    (Input::Borrowed(chunk), Some(span)) => self.checked.covering(chunk, span, ev),
                    _ => None,
                };
                if let Some(r) = ev.id_lent.take() {
                    ev.id_pending = false;
                    if text.is_some() {
                        ev.last_lent = Some(r);
                    } else {
                        ev.last_lent = None;
                        ev.last_id.clear();
                        push_lossy(&mut ev.last_id, &input[r]);
                    }
                }
                let data = match &ev.data_acc {
                    Acc::Empty => "",
                    Acc::Input(r) => match text {
                        Some(t) => t.slice(r),
                        None => decode_into(&input[r.clone()], &mut p.scratch, &mut ev.decoded),
                    },
                    Acc::Buf => {
                        padded_text(&mut ev.data, ev.data_start, &mut p.scratch, &mut ev.decoded)
                    }
                };
                let event_type = match &ev.type_acc {
                    Acc::Empty => "",
                    Acc::Input(r) => match text {
                        Some(t) => t.slice(r),
                        None => decode_into(&input[r.clone()], &mut ev.event_type, &mut false),
                    },
                    Acc::Buf => &ev.event_type,
                };
                let event_type = match event_type {
                    "" => DEFAULT_EVENT_TYPE,
                    t => t,
                };
                let id = match &ev.last_lent {
                    Some(r) => self.checked.slice(r),
                    None => &ev.last_id,
                };
                Frame::Event(Event {
                    event_type,
                    data,
                    id,
                })
            }
        }
    }
}

impl Drop for Feed<'_, '_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped early: keep what was not read so the next feed starts there.
        self.parser.settle();
        let p = &mut *self.parser;
        let input = self.input.bytes();
        self.checked.keep_last_id(&mut p.ev);
        p.ev.materialize(input);
        p.offset += self.pos as u64;
        match &mut self.input {
            Input::Borrowed(b) => p.backlog.extend_from_slice(&b[self.pos..]),
            Input::Owned(v) => {
                v.drain(..self.pos);
                p.backlog = mem::take(v);
            }
        }
    }
}

impl EventState {
    /// Records a limit error and starts skipping the offending event.
    fn fail(&mut self, limit: Limit, offset: u64, discard: Discard) -> ParseError {
        self.discard = discard;
        self.drop_block();
        let max = match limit {
            Limit::LineBytes => self.limits.max_line_bytes,
            Limit::EventBytes => self.limits.max_event_bytes,
        };
        ParseError::LimitExceeded { limit, max, offset }
    }

    /// Applies one complete line, `len` bytes at `source` (`partial` holds the whole line when
    /// it was carried). `None` means: nothing to hand out, go on.
    ///
    /// The lines of a small event (`id`, `event`, the first `data`, all inside the input) are
    /// handled here, inline in the feed loop; everything else by [`apply_any`]
    /// (`Self::apply_any`), which handles these too, the same way.
    #[inline]
    fn apply(
        &mut self,
        input: &[u8],
        partial: &mut Vec<u8>,
        len: usize,
        source: Source,
        line_start: u64,
    ) -> Option<Result<Action, ParseError>> {
        if let Source::Input(s) = source {
            if len == 0 {
                return self.blank_line(input).map(Ok);
            }
            if let Some(h) = input.get(s..s + 8) {
                let head = u64::from_le_bytes(h.try_into().unwrap_or_default());
                let end = s + len;
                let max = self.limits.max_event_bytes;
                match classify_head(head, len) {
                    Some((Name::Data, v))
                        if self.data_lines == 0 && len - v + self.type_len <= max =>
                    {
                        self.data_acc = Acc::Input(s + v..end);
                        self.data_len = len - v;
                        self.data_lines = 1;
                        return None;
                    }
                    // Lent only when more input follows: an id ending its chunk is copied at
                    // the chunk end anyway, and copying it now costs less.
                    Some((Name::Id, v))
                        if len - v <= 16
                            && end + 1 < input.len()
                            && !input[s + v..end].contains(&0) =>
                    {
                        self.id_lent = Some(s + v..end);
                        self.id_pending = true;
                        return None;
                    }
                    Some((Name::Event, v)) if self.data_len + len - v <= max => {
                        self.type_len = len - v;
                        self.type_acc = Acc::Input(s + v..end);
                        return None;
                    }
                    _ => {}
                }
            }
            // Heartbeats and padding: comment-heavy streams (corpus C is 80% comments) lost
            // a fifth of their instructions to the out-of-line path and a second classify.
            if input[s] == b':' && !self.report_comments {
                return None;
            }
        }
        self.apply_any(input, partial, len, source, line_start)
    }

    /// Applies any line (see [`apply`](Self::apply)).
    #[inline(never)]
    fn apply_any(
        &mut self,
        input: &[u8],
        partial: &mut Vec<u8>,
        len: usize,
        source: Source,
        line_start: u64,
    ) -> Option<Result<Action, ParseError>> {
        // The line with whatever follows it: the first eight bytes classify most lines.
        let (line, ahead) = match source {
            Source::Input(s) => (&input[s..s + len], &input[s..]),
            Source::Partial => (&partial[..], &partial[..]),
        };
        let head = ahead
            .get(..8)
            .and_then(|h| classify_head(u64::from_le_bytes(h.try_into().ok()?), line.len()));
        let (name, value) = match head {
            Some((name, start)) => (name, start..line.len()),
            None => match classify(line) {
                LineKind::Blank => return self.blank_line(input).map(Ok),
                LineKind::Comment(r) if self.report_comments => {
                    return Some(Ok(Action::Comment(source, r)))
                }
                LineKind::Comment(_) => return None,
                LineKind::Field(name, value) => (name, value),
            },
        };
        let bytes = &line[value.clone()];
        // Ranges lent from the input are absolute; from `partial`, relative to the line.
        let absolute = match source {
            Source::Input(s) => Some(s + value.start..s + value.end),
            Source::Partial => None,
        };
        let ev = self;
        match name {
            Name::Data => ev.push_data(input, partial, source, value, line_start),
            Name::Event => {
                if ev.data_len + bytes.len() > ev.limits.max_event_bytes {
                    return Some(Err(ev.fail(Limit::EventBytes, line_start, Discard::Event)));
                }
                ev.type_len = bytes.len();
                ev.type_acc = match absolute {
                    Some(r) => Acc::Input(r),
                    None => {
                        set_text(&mut ev.event_type, bytes);
                        Acc::Buf
                    }
                };
                None
            }
            Name::Id => {
                // Ids are short: a plain loop costs less than setting up a vectorised search.
                let nul = match bytes.len() {
                    0..=16 => bytes.contains(&0),
                    _ => memchr::memchr(0, bytes).is_some(),
                };
                if nul {
                    return ev.ignored(IgnoreReason::IdWithNul, source, line.len());
                }
                // Lent only when more input follows: an id ending its chunk is copied at
                // the chunk end anyway, and copying it now costs less.
                match absolute.filter(|r| r.end + 1 < input.len()) {
                    Some(r) => ev.id_lent = Some(r),
                    None => {
                        ev.id_lent = None;
                        ev.id_buf.clear();
                        push_lossy(&mut ev.id_buf, bytes);
                    }
                }
                ev.id_pending = true;
                None
            }
            Name::Retry => match parse_retry(bytes) {
                Some(ms) => {
                    ev.retry = Some(ms);
                    Some(Ok(Action::Retry(ms)))
                }
                None => ev.ignored(IgnoreReason::InvalidRetry, source, line.len()),
            },
            Name::Other => ev.ignored(IgnoreReason::UnknownField, source, line.len()),
        }
    }

    /// Adds a `data` line's value (`value`, relative to the line at `source`) to the event.
    fn push_data(
        &mut self,
        input: &[u8],
        partial: &mut Vec<u8>,
        source: Source,
        value: Range<usize>,
        line_start: u64,
    ) -> Option<Result<Action, ParseError>> {
        let len = value.len();
        let sep = usize::from(self.data_lines > 0);
        if self.data_len + sep + len + self.type_len > self.limits.max_event_bytes {
            return Some(Err(self.fail(
                Limit::EventBytes,
                line_start,
                Discard::Event,
            )));
        }
        self.data_acc = match (&self.data_acc, source) {
            (Acc::Empty, Source::Input(s)) => Acc::Input(s + value.start..s + value.end),
            (Acc::Empty, Source::Partial) => {
                // The carried line becomes the data buffer; the old data buffer (empty, its
                // capacity kept) becomes the carry buffer.
                mem::swap(&mut self.data, partial);
                partial.clear();
                self.data_start = value.start;
                self.data_taken = true;
                Acc::Buf
            }
            (Acc::Input(first), _) => {
                let first = first.clone();
                self.data.clear();
                self.data_start = 0;
                // The event's data cannot be longer than the input from its first value on.
                let mut want = first.len() + 1 + len;
                if self.size_joins {
                    // A guess: the last data handed over, or the next few KiB of input. A
                    // join that outgrows it is sized from its event's end (`size_join`).
                    let rest = (input.len() - first.start).min(JOIN_GUESS);
                    want = want.max(rest.max(self.last_handed).min(self.limits.max_event_bytes));
                }
                reserve_capped(&mut self.data, want, self.limits.max_event_bytes);
                self.data.extend_from_slice(&input[first]);
                self.data.push(b'\n');
                self.data
                    .extend_from_slice(source_bytes(input, partial, source, value));
                Acc::Buf
            }
            (Acc::Buf, _) => {
                if self.size_joins && self.data.len() + 1 + len > self.data.capacity() {
                    self.size_join(input, source);
                }
                reserve_capped(
                    &mut self.data,
                    1 + len,
                    self.limits.max_event_bytes.saturating_add(self.data_start),
                );
                self.data.push(b'\n');
                self.data
                    .extend_from_slice(source_bytes(input, partial, source, value));
                Acc::Buf
            }
        };
        self.data_len += sep + len;
        self.data_lines += 1;
        None
    }

    /// Grows a join that outgrew its buffer to what its event's data can still take: the input
    /// up to the event's blank line, when the event ends in this input, so that the buffer is
    /// handed over without growing again. Only for the stream adapter (`size_joins`); looked
    /// for only then, since the scan costs a pass over the event (on comment-heavy streams,
    /// sizing every join this way cost a seventh of the adapter's instructions).
    #[cold]
    fn size_join(&mut self, input: &[u8], source: Source) {
        let Source::Input(line) = source else {
            return;
        };
        if let Some(end) = event_end(input, line) {
            let cap = self.limits.max_event_bytes.saturating_add(self.data_start);
            let want = (self.data.len() + 1 + (end - line)).min(cap);
            self.data
                .reserve_exact(want.saturating_sub(self.data.len()));
        }
    }

    fn ignored(
        &self,
        reason: IgnoreReason,
        source: Source,
        len: usize,
    ) -> Option<Result<Action, ParseError>> {
        if !self.report_ignored {
            return None;
        }
        Some(Ok(Action::Ignored(reason, source, 0..len)))
    }

    /// The blank line: commit the id, then dispatch if any `data` line was seen.
    fn blank_line(&mut self, input: &[u8]) -> Option<Action> {
        if self.data_lines == 0 {
            self.commit_id(input);
            self.clear_block();
            return None;
        }
        // A lent id is committed when the event is built, checked with the event's text.
        if self.id_lent.is_none() {
            self.commit_id(input);
        }
        self.dispatched = true;
        Some(Action::Dispatch)
    }

    /// The smallest range of the input holding every value the block lends from it.
    fn lent_span(&self) -> Option<Range<usize>> {
        let join = |span: Option<Range<usize>>, r: &Range<usize>| match span {
            None => Some(r.clone()),
            Some(s) => Some(s.start.min(r.start)..s.end.max(r.end)),
        };
        let mut span = None;
        if let Acc::Input(r) = &self.data_acc {
            span = join(span, r);
        }
        if let Acc::Input(r) = &self.type_acc {
            span = join(span, r);
        }
        if let Some(r) = &self.id_lent {
            span = join(span, r);
        }
        span
    }
}

/// How much of the input a join's first buffer is sized for (see `push_data`).
const JOIN_GUESS: usize = 16 * 1024;

/// Where the event with a line starting at `input[line]` ends in `input` (just after its
/// blank line), if it does. Only the stream adapter sizes joins (`size_joins`).
#[cfg(feature = "stream")]
fn event_end(input: &[u8], line: usize) -> Option<usize> {
    use crate::stream::event_end::{first, Before};
    // The line holds text before its end, so the bytes before it do not matter.
    first(&input[line..], Before::default()).map(|end| line + end)
}

#[cfg(not(feature = "stream"))]
fn event_end(_: &[u8], _: usize) -> Option<usize> {
    None
}

/// The bytes of `range`, relative to the start of a line found in `source`.
fn source_bytes<'a>(
    input: &'a [u8],
    partial: &'a [u8],
    source: Source,
    range: Range<usize>,
) -> &'a [u8] {
    match source {
        Source::Input(start) => &input[start + range.start..start + range.end],
        Source::Partial => &partial[range],
    }
}

/// Decodes `bytes` into `buf` unless it already holds them: bytes equal to a `String`'s are
/// valid UTF-8 and decode to themselves.
fn set_text(buf: &mut String, bytes: &[u8]) {
    if buf.as_bytes() != bytes {
        buf.clear();
        push_lossy(buf, bytes);
    }
}

/// The validator checks whole 64-byte blocks fast but copies a shorter tail aside first
/// (90 bytes cost it 11 ns, 128 bytes 3 ns): the length to check instead of `want`, a
/// multiple of 64 when one holding at least `need` bytes fits in `avail`.
fn whole_blocks(want: usize, need: usize, avail: usize) -> usize {
    let up = want.div_ceil(64) * 64;
    let down = want - want % 64;
    if up <= avail {
        up
    } else if down >= need && down > 0 {
        down
    } else {
        want
    }
}

/// The data buffer's text from `start`, checked padded with NUL bytes to whole 64-byte
/// blocks when the buffer has room (see [`whole_blocks`]): NUL is valid UTF-8 and cannot
/// complete a sequence, so the answer is the same. The padding is dropped with the block.
fn padded_text<'a>(
    data: &'a mut Vec<u8>,
    start: usize,
    scratch: &'a mut String,
    decoded: &mut bool,
) -> &'a str {
    let len = data.len();
    let pad = (len - start).div_ceil(64) * 64 - (len - start);
    if pad > 0 && data.capacity() - len >= pad {
        data.resize(len + pad, 0);
    }
    match as_str(&data[start..]) {
        Some(text) => text.get(..len - start).unwrap_or_default(),
        None => decode_into(&data[start..len], scratch, decoded),
    }
}

/// Lends `bytes` as text when they are valid UTF-8, else decodes them into `scratch` and
/// says so in `decoded`.
fn decode_into<'a>(bytes: &'a [u8], scratch: &'a mut String, decoded: &mut bool) -> &'a str {
    match as_str(bytes) {
        Some(text) => text,
        None => {
            *decoded = true;
            scratch.clear();
            push_lossy(scratch, bytes);
            scratch
        }
    }
}

/// A stretch of the current (borrowed) input known to be valid UTF-8, starting at input
/// offset `at`. Checking a few KiB at once, instead of each event's values on their own,
/// replaces three short-input checks per small event (data, type, id) by a share of one long
/// one.
#[derive(Debug, Clone, Copy)]
struct Checked<'c> {
    at: usize,
    text: &'c str,
}

/// How far past an event a new checked stretch reaches, when the event lent its data (small
/// events come in runs). Bounded, and not taken for events built in the parser's buffers
/// (many-line data, which is large): there the next lent value may be far off, and checking
/// ahead would check the bytes between twice (B whole lost 6% that way).
const CHECK_AHEAD: usize = 4096;

impl<'c> Checked<'c> {
    fn contains(&self, span: &Range<usize>) -> bool {
        self.at <= span.start && span.end <= self.at + self.text.len()
    }

    /// The text of a range inside the stretch (every lent range is cut at ASCII bytes, so
    /// at character boundaries).
    fn slice(&self, r: &Range<usize>) -> &'c str {
        self.text
            .get(r.start - self.at..r.end - self.at)
            .unwrap_or_default()
    }

    /// A stretch holding `span`, if its bytes are valid UTF-8: this one, or a new one from
    /// `span.start`. Moving on copies the last event id out of the old stretch first.
    fn covering(
        &mut self,
        chunk: &'c [u8],
        span: Range<usize>,
        ev: &mut EventState,
    ) -> Option<Checked<'c>> {
        if self.contains(&span) {
            return Some(*self);
        }
        self.renew(chunk, span, ev)
    }

    // Out of line: once per few KiB of input, and it keeps the per-line loop small.
    #[inline(never)]
    fn renew(
        &mut self,
        chunk: &'c [u8],
        span: Range<usize>,
        ev: &mut EventState,
    ) -> Option<Checked<'c>> {
        self.keep_last_id(ev);
        let avail = chunk.len() - span.start;
        let want = match ev.data_acc {
            Acc::Input(_) => avail.min(CHECK_AHEAD).max(span.len()),
            _ => span.len(),
        };
        let mut end = span.start + whole_blocks(want, span.len(), avail);
        // Do not cut a character: back off over continuation bytes (three at most in valid
        // text; if the stretch is invalid anyway, only the span is checked below).
        for _ in 0..3 {
            match chunk.get(end) {
                Some(&b) if end > span.end && (0x80..0xC0).contains(&b) => end -= 1,
                _ => break,
            }
        }
        let end = end.max(span.end);
        let text = match as_str(&chunk[span.start..end]) {
            None if end > span.end => as_str(&chunk[span.clone()]),
            text => text,
        };
        *self = Checked {
            at: span.start,
            text: text.unwrap_or_default(),
        };
        text.map(|_| *self)
    }

    /// Copies a last event id lent from this stretch into the parser's buffer, before the
    /// stretch goes away.
    #[inline]
    fn keep_last_id(&self, ev: &mut EventState) {
        if ev.last_lent.is_some() {
            self.copy_last_id(ev);
        }
    }

    #[inline(never)]
    fn copy_last_id(&self, ev: &mut EventState) {
        if let Some(r) = ev.last_lent.take() {
            ev.last_id.clear();
            ev.last_id.push_str(self.slice(&r));
        }
    }
}

/// Appends to a buffer that never needs more than `cap` bytes: it grows by doubling as usual,
/// but not past the cap, so a hostile stream costs about the limit in memory, not twice it.
fn extend_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    reserve_capped(buf, bytes.len(), cap);
    buf.extend_from_slice(bytes);
}

/// Makes room for `more` bytes the same way.
fn reserve_capped(buf: &mut Vec<u8>, more: usize, cap: usize) {
    let needed = buf.len() + more;
    if needed > buf.capacity() {
        let target = buf
            .capacity()
            .saturating_mul(2)
            .clamp(needed, cap.max(needed));
        buf.reserve_exact(target - buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_blocks_prefers_multiples_of_64_that_fit() {
        assert_eq!(whole_blocks(90, 90, 200), 128);
        assert_eq!(whole_blocks(90, 90, 100), 90);
        assert_eq!(whole_blocks(4096, 30, 4096), 4096);
        assert_eq!(whole_blocks(100, 30, 100), 64);
        assert_eq!(whole_blocks(30, 30, 40), 30);
        assert_eq!(whole_blocks(0, 0, 0), 0);
    }

    #[test]
    fn padding_does_not_change_the_text() {
        let cases: [&[u8]; 6] = [
            b"",
            b"plain",
            b"\xC3\xA9t\xC3\xA9",
            b"cut \xE2\x82",
            b"bad \xFF byte",
            &[b'x'; 130],
        ];
        for value in cases {
            for start in [0, 6] {
                let mut data = Vec::with_capacity(512);
                data.extend_from_slice(&b"data: "[..start]);
                data.extend_from_slice(value);
                let mut scratch = String::new();
                let text = padded_text(&mut data, start, &mut scratch, &mut false).to_owned();
                assert_eq!(text, String::from_utf8_lossy(value), "{value:?}");
            }
        }
    }
}
