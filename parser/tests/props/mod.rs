//! Parser and serializer properties, written once and checked twice: as proptest cases under
//! `cargo test` on stable (`tests/hostile.rs`) and as cargo-fuzz targets on nightly (`fuzz/`,
//! which includes this file by path). Each check panics with a description when it fails, which
//! both proptest and libFuzzer report as a failing input.
//!
//! - [`check_chunking`]: cutting a stream into chunks (empty ones included), and dropping a
//!   [`Feed`](ssekit_parser::Feed) before it is exhausted, changes nothing observable; what
//!   comes out stays within the limits.
//! - [`check_against_oracle`]: the fast parser and the literal nom oracle agree.
//! - [`check_roundtrip`]: a [`Message`] either encodes and parses back to itself or is refused
//!   for exactly the documented reasons.

// Each includer uses only some of these checks.
#![allow(dead_code)]

use ssekit_parser::{
    EncodeError, EndOfStream, Limits, Message, OwnedEvent, OwnedFrame, ParseError, Parser,
};

/// How a stream is handed to the parser.
#[derive(Debug, Clone, Default)]
pub struct FeedPlan {
    /// Chunk lengths, used in turn and cycled; `0` feeds an empty chunk.
    pub chunk_lens: Vec<usize>,
    /// For chunk `i`, `early_drop[i % len]`: `Some(n)` pulls at most `n` frames, then drops the
    /// feed with bytes unread (they must be parsed at the next feed); `None` drains it.
    pub early_drop: Vec<Option<usize>>,
    /// Turn on [`Parser::report_ignored`].
    pub report_ignored: bool,
}

/// Everything one parser run shows to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Every frame and error, in order.
    pub frames: Vec<Result<OwnedFrame, ParseError>>,
    /// [`Parser::last_event_id`] at the end.
    pub last_event_id: String,
    /// [`Parser::retry`] at the end.
    pub retry: Option<u64>,
    /// [`Parser::stream_offset`] at the end.
    pub offset: u64,
    /// What [`Parser::finish`] reported.
    pub end: EndOfStream,
}

/// Cuts `input` into chunks of the lengths in `lens`, cycled. A whole cycle that takes no byte
/// ends the cutting (the rest is one chunk), so all-zero lengths still terminate.
pub fn split<'a>(input: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = input;
    if lens.is_empty() {
        return vec![input];
    }
    loop {
        let before = rest.len();
        for &len in lens {
            let (chunk, tail) = rest.split_at(len.min(rest.len()));
            chunks.push(chunk);
            rest = tail;
        }
        if rest.is_empty() {
            return chunks;
        }
        if rest.len() == before {
            chunks.push(rest);
            return chunks;
        }
    }
}

/// Feeds `chunks` to `parser` as `early_drop` says, then an empty chunk to drain what early
/// drops left unread, then finishes the stream.
pub fn run(mut parser: Parser, chunks: &[&[u8]], early_drop: &[Option<usize>]) -> Observed {
    let mut frames = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let stop = match early_drop {
            [] => None,
            drops => drops[i % drops.len()],
        };
        let mut feed = parser.feed(chunk);
        let mut taken = 0;
        while stop != Some(taken) {
            let Some(frame) = feed.next_frame() else {
                break;
            };
            frames.push(frame.map(|f| f.to_owned_frame()));
            taken += 1;
        }
    }
    let mut feed = parser.feed(&[]);
    while let Some(frame) = feed.next_frame() {
        frames.push(frame.map(|f| f.to_owned_frame()));
    }
    drop(feed);
    let (last_event_id, retry) = (parser.last_event_id().to_owned(), parser.retry());
    let offset = parser.stream_offset();
    Observed {
        frames,
        last_event_id,
        retry,
        offset,
        end: parser.finish(),
    }
}

fn parser(limits: Limits, plan: &FeedPlan) -> Parser {
    Parser::new()
        .with_limits(limits)
        .report_ignored(plan.report_ignored)
}

/// Parsing `input` cut and fed as `plan` says gives exactly what parsing it in one chunk gives:
/// same frames, errors (with offsets), last event id, retry, offset and end-of-stream report.
/// Nothing that comes out is larger than `limits` allow, and no panic happens on the way.
pub fn check_chunking(input: &[u8], plan: &FeedPlan, limits: Limits) {
    let whole = run(parser(limits, plan), &[input], &[]);
    let chunks = split(input, &plan.chunk_lens);
    let cut = run(parser(limits, plan), &chunks, &plan.early_drop);
    assert_eq!(
        cut,
        whole,
        "chunking changed the output\ninput: {input:?}\nchunks: {chunks:?}\nplan: {plan:?}\nlimits: {limits:?}"
    );
    check_within_limits(input, &whole, limits);
}

/// What a parser hands out stays within its limits. Limits count raw bytes and each invalid
/// byte may decode to a 3-byte U+FFFD, hence the factor 3; an empty type reads as `message`.
fn check_within_limits(input: &[u8], observed: &Observed, limits: Limits) {
    assert_eq!(
        observed.offset,
        input.len() as u64,
        "not every byte counted"
    );
    assert_eq!(
        observed.end.unread_bytes, 0,
        "the drain feed left bytes unread"
    );
    let max_event = limits.max_event_bytes.saturating_mul(3).saturating_add(7);
    let max_line = limits.max_line_bytes.saturating_mul(3);
    for frame in &observed.frames {
        match frame {
            Ok(OwnedFrame::Event(e)) => assert!(
                e.data.len() + e.event_type.len() <= max_event,
                "event over max_event_bytes: {limits:?}, {e:?}"
            ),
            Ok(OwnedFrame::Comment(line)) | Ok(OwnedFrame::Ignored(_, line)) => assert!(
                line.len() <= max_line,
                "line over max_line_bytes: {limits:?}, {line:?}"
            ),
            Ok(OwnedFrame::Retry(_)) => {}
            Err(ParseError::LimitExceeded { limit, max, offset }) => {
                let expected = match limit {
                    ssekit_parser::Limit::LineBytes => limits.max_line_bytes,
                    ssekit_parser::Limit::EventBytes => limits.max_event_bytes,
                    other => panic!("a cap this check does not know: {other:?}"),
                };
                assert_eq!(*max, expected, "error names the wrong cap");
                assert!(*offset < input.len() as u64, "error offset past the input");
            }
            Err(other) => panic!("only limit errors are expected: {other:?}"),
        }
    }
}

/// The fast parser, with no limits and `input` fed as `plan` says, reports the same events and
/// retry values as `oracle` (the nom reference, `ssekit_parser::oracle::parse`, passed in so
/// this file builds without the `oracle` feature).
pub fn check_against_oracle(input: &[u8], plan: &FeedPlan, oracle: fn(&[u8]) -> Vec<OwnedFrame>) {
    let chunks = split(input, &plan.chunk_lens);
    let observed = run(parser(Limits::unlimited(), plan), &chunks, &plan.early_drop);
    let fast: Vec<OwnedFrame> = observed
        .frames
        .into_iter()
        .map(|f| f.expect("an unlimited parser reported a limit"))
        .filter(|f| matches!(f, OwnedFrame::Event(_) | OwnedFrame::Retry(_)))
        .collect();
    assert_eq!(
        fast,
        oracle(input),
        "fast parser and oracle disagree\ninput: {input:?}\nchunks: {chunks:?}"
    );
}

/// One frame to serialize; `None` leaves that part of the [`Message`] unset.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// `Some` makes it an event ([`Message::new`]); `None` is [`Message::empty`].
    pub data: Option<String>,
    /// The event type.
    pub event: Option<String>,
    /// The id.
    pub id: Option<String>,
    /// The retry value.
    pub retry: Option<u64>,
    /// A comment.
    pub comment: Option<String>,
}

impl Spec {
    fn message(&self) -> Message<'_> {
        let mut m = match &self.data {
            Some(data) => Message::new(data),
            None => Message::empty(),
        };
        if let Some(t) = &self.event {
            m = m.event(t);
        }
        if let Some(id) = &self.id {
            m = m.id(id);
        }
        if let Some(ms) = self.retry {
            m = m.retry(ms);
        }
        if let Some(c) = &self.comment {
            m = m.comment(c);
        }
        m
    }

    /// Why the serializer must refuse this frame, worked out independently of it.
    fn refusal(&self) -> Option<EncodeError> {
        let breaks = |s: &str| s.contains(['\r', '\n']);
        if self.event.as_deref().is_some_and(breaks) {
            return Some(EncodeError::LineBreakInEventType);
        }
        match self.id.as_deref() {
            Some(id) if breaks(id) => Some(EncodeError::LineBreakInId),
            Some(id) if id.contains('\0') => Some(EncodeError::NulInId),
            // Chromium will not reconnect with these (the serializer refuses them by default).
            Some(id) => id
                .bytes()
                .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
                .map(EncodeError::ControlInId),
            None => None,
        }
    }

    /// The frames a client sees for this spec, given the last event id before it.
    fn expected(&self, last_id: &mut String) -> Vec<OwnedFrame> {
        let mut frames: Vec<OwnedFrame> = self
            .comment
            .as_deref()
            .map(|c| {
                lines(c)
                    .map(|l| OwnedFrame::Comment(l.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        frames.extend(self.retry.map(OwnedFrame::Retry));
        if let Some(id) = &self.id {
            last_id.clone_from(id);
        }
        if let Some(data) = &self.data {
            let event_type = match self.event.as_deref() {
                None | Some("") => "message",
                Some(t) => t,
            };
            frames.push(OwnedFrame::Event(OwnedEvent {
                event_type: event_type.to_owned(),
                data: lines(data).collect::<Vec<_>>().join("\n"),
                id: last_id.clone(),
            }));
        }
        frames
    }
}

/// The lines of `text` for every line break style (CRLF, CR, LF).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let text = rest?;
        let Some(at) = text.find(['\r', '\n']) else {
            rest = None;
            return Some(text);
        };
        let skip = if text[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = Some(&text[at + skip..]);
        Some(&text[..at])
    })
}

/// Serializing `specs` one after another and parsing the result (cut as `chunk_lens` says)
/// gives back every accepted frame: comments, retry, the event with its type (`message` when
/// empty), data (CR and CRLF arrive as LF) and the id in force. The serializer refuses a spec
/// exactly when its event type has CR/LF or its id has CR/LF/NUL, and then writes nothing.
pub fn check_roundtrip(specs: &[Spec], chunk_lens: &[usize]) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut last_id = String::new();
    let mut last_retry = None;
    for spec in specs {
        let message = spec.message();
        let before = wire.len();
        let result = message.encode(&mut wire);
        assert_eq!(message.to_bytes().err(), result.err(), "{spec:?}");
        match (result, spec.refusal()) {
            (Err(e), Some(reason)) => {
                assert_eq!(e, reason, "refused for the wrong reason: {spec:?}");
                assert_eq!(wire.len(), before, "a refused frame wrote bytes: {spec:?}");
            }
            (Ok(written), None) => {
                assert_eq!(written, wire.len() - before, "wrong byte count: {spec:?}");
                let bytes = message.to_bytes().expect("encode accepted it");
                assert_eq!(&bytes[..], &wire[before..], "to_bytes differs: {spec:?}");
                expected.extend(spec.expected(&mut last_id));
                last_retry = spec.retry.or(last_retry);
            }
            (result, reason) => {
                panic!("encode gave {result:?} where {reason:?} was due: {spec:?}")
            }
        }
    }
    let plan = FeedPlan {
        chunk_lens: chunk_lens.to_vec(),
        report_ignored: true,
        ..FeedPlan::default()
    };
    let observed = run(
        parser(Limits::unlimited(), &plan),
        &split(&wire, chunk_lens),
        &[],
    );
    let got: Vec<OwnedFrame> = observed
        .frames
        .into_iter()
        .map(|f| f.expect("an unlimited parser reported a limit"))
        .collect();
    let wire_text = String::from_utf8_lossy(&wire);
    assert_eq!(
        got, expected,
        "round trip changed the frames\nwire: {wire_text:?}"
    );
    assert_eq!(observed.last_event_id, last_id, "wire: {wire_text:?}");
    assert_eq!(observed.retry, last_retry, "wire: {wire_text:?}");
    assert_eq!(observed.end, EndOfStream::default(), "wire: {wire_text:?}");
}
