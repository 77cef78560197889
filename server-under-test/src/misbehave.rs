//! Misbehaviour switches (feature `misbehave`): the one place where the server breaks a rule on
//! purpose, so that each conformance check can be shown to fail when it must. The switches
//! reach the rest of the crate only through the crate's behaviour point: [`Misbehaviors`]
//! overrides its well-behaved answers, and nothing else checks a switch.

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{self, HeaderMap, HeaderValue};
use ssekit_parser::{EncodeError, Message};

use crate::behaviour::{standard_frame, standard_priming, Conduct, Flow, Frames};
use crate::http::ResponseBody;
use crate::replay::Resume;
use crate::stream::EventStream;
use stream::BentStream;

mod mock;
mod raw_h2;
mod stream;

/// One rule the server can break on purpose (`ssekit serve --misbehave NAME[,NAME]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[cfg_attr(feature = "cli", clap(rename_all = "kebab-case"))]
pub enum Misbehavior {
    /// `Content-Type: text/plain` on the stream: browsers fail the connection (HTML §9.2.2).
    WrongContentType,
    /// `charset=windows-1252` on the stream: a lie, clients always decode UTF-8 (§9.2.5).
    NonUtf8Charset,
    /// `Cache-Control: public, max-age=3600` plus an `ETag`: proxies may cache the stream.
    Cacheable,
    /// A `Content-Length` on an endless stream, so HTTP/1.1 framing is length-delimited.
    ContentLength,
    /// Output is held back until 64 KiB have piled up, like a buffering proxy or middleware.
    Buffered,
    /// `Content-Encoding: gzip` with a compressor that is never flushed, so events stall.
    GzipNoFlush,
    /// No heartbeat comments on idle streams: load balancers cut them after ~60 s.
    NoHeartbeat,
    /// Events carry no `id:`, so clients cannot resume.
    NoIds,
    /// Every event with an even sequence number repeats the previous event's id.
    DuplicateIds,
    /// Ids are swapped in pairs (2, 1, 4, 3, ...), so they are not increasing.
    NonMonotonicIds,
    /// Ids contain U+0000; clients ignore such an `id:` field and resume from the wrong place.
    IdWithNul,
    /// Resume skips the first event after `Last-Event-ID` (a gap at the replay hand-off).
    ReplayGap,
    /// Resume sends the event named by `Last-Event-ID` again (a duplicate).
    ReplayDuplicate,
    /// Resume ignores `Last-Event-ID` and replays everything retained, from the top.
    ReplayIgnored,
    /// An unknown or too-old `Last-Event-ID` gets live events only, with no reset signal.
    SilentReset,
    /// The priming frame says `retry: 3s`, which clients ignore (digits only).
    BadRetry,
    /// The priming frame says `retry: 0`, inviting a reconnection storm.
    RetryZero,
    /// A CR LF pair is written inside the `event:` name, injecting a forged `data:` line.
    CrlfInEventName,
    /// Every event's data gains bytes that are not UTF-8.
    InvalidUtf8,
    /// When the server closes a stream, the last event has no final blank line (clients drop it).
    CutAtClose,
    /// A request carrying a `Last-Event-ID` gets a 500, which stops browsers for good.
    ErrorOnLastEventId,
    /// Over HTTP/2 the stream's response carries `Connection: keep-alive` (malformed, RFC 9113
    /// §8.2.2). HTTP/2 connections are then served by a small hand-written HTTP/2 responder.
    H2ConnectionHeader,
    /// `GET /gone` answers 200 with an immediate end instead of 204, so clients loop.
    #[cfg_attr(feature = "cli", value(name = "eof-instead-of-204"))]
    EofInsteadOf204,
    /// Publishing waits for the slowest subscriber, so one stalled client stops everyone.
    SlowConsumerBlocks,
    /// Shutdown waits for streams that never end (the open-stream drain bug).
    ShutdownHangs,
    /// Each event's data is written JSON-encoded (`data: "text"`), as the express tutorial's
    /// `JSON.stringify(x)` and better-sse's default serializer do.
    JsonData,
    /// Each subscriber has a queue of 5 events, which its writer takes one per 5 ms; a publish
    /// that finds it full drops the subscriber from the fan-out silently and leaves its
    /// connection open with no more events (Flask's `MessageAnnouncer`: `queue.Queue(maxsize=5)`,
    /// evicted on `queue.Full`).
    LossyQueue,
    /// Mock endpoints: a finite stream is held whole and sent in one write at its end (a burst).
    BufferUntilDone,
    /// Mock OpenAI endpoint: the stream ends without its `data: [DONE]` sentinel.
    NoDoneSentinel,
    /// Mock endpoints: the connection is cut in the middle of generation, inside an event.
    CutMidStream,
    /// Mock endpoints: a failure mid-generation cuts the connection instead of sending an error.
    ErrorAsReset,
    /// Mock endpoints: thinking is silent (no heartbeat) and lasts over two heartbeat intervals.
    SilentThink,
    /// Mock MCP endpoint: `initialize` assigns no `Mcp-Session-Id`, and session ids are ignored.
    NoSessionId,
    /// Mock MCP endpoint: event ids restart on every stream and every even one repeats.
    DuplicateEventIds,
}

impl Misbehavior {
    /// Every switch, in the order `--misbehave` lists them.
    pub const ALL: [Misbehavior; 34] = [
        Misbehavior::WrongContentType,
        Misbehavior::NonUtf8Charset,
        Misbehavior::Cacheable,
        Misbehavior::ContentLength,
        Misbehavior::Buffered,
        Misbehavior::GzipNoFlush,
        Misbehavior::NoHeartbeat,
        Misbehavior::NoIds,
        Misbehavior::DuplicateIds,
        Misbehavior::NonMonotonicIds,
        Misbehavior::IdWithNul,
        Misbehavior::ReplayGap,
        Misbehavior::ReplayDuplicate,
        Misbehavior::ReplayIgnored,
        Misbehavior::SilentReset,
        Misbehavior::BadRetry,
        Misbehavior::RetryZero,
        Misbehavior::CrlfInEventName,
        Misbehavior::InvalidUtf8,
        Misbehavior::CutAtClose,
        Misbehavior::ErrorOnLastEventId,
        Misbehavior::H2ConnectionHeader,
        Misbehavior::EofInsteadOf204,
        Misbehavior::SlowConsumerBlocks,
        Misbehavior::ShutdownHangs,
        Misbehavior::JsonData,
        Misbehavior::LossyQueue,
        Misbehavior::BufferUntilDone,
        Misbehavior::NoDoneSentinel,
        Misbehavior::CutMidStream,
        Misbehavior::ErrorAsReset,
        Misbehavior::SilentThink,
        Misbehavior::NoSessionId,
        Misbehavior::DuplicateEventIds,
    ];
}

/// Events a subscriber may have waiting under `lossy-queue` (Flask's `maxsize=5`).
const LOSSY_QUEUE_LEN: u64 = 5;
/// Under `slow-consumer-blocks`, publishing waits while a subscriber is this many events
/// behind or more.
const BLOCKING_LAG: u64 = 16;

/// A set of [`Misbehavior`]s (empty for a well-behaved server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Misbehaviors(u64);

impl Misbehaviors {
    /// No rule is broken.
    pub const fn none() -> Self {
        Misbehaviors(0)
    }

    /// The set holding these switches.
    pub fn from_list(list: &[Misbehavior]) -> Self {
        Misbehaviors(list.iter().fold(0, |bits, m| bits | 1 << *m as u32))
    }

    /// Whether this switch is on.
    pub fn has(self, m: Misbehavior) -> bool {
        self.0 & (1 << m as u32) != 0
    }

    /// Whether no switch is on.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The switches that are on.
    pub fn iter(self) -> impl Iterator<Item = Misbehavior> {
        Misbehavior::ALL
            .iter()
            .copied()
            .filter(move |m| self.has(*m))
    }

    fn any(self, list: &[Misbehavior]) -> bool {
        list.iter().any(|m| self.has(*m))
    }

    // --- frames ---------------------------------------------------------------------------

    /// Encodes event number `seq` as the switches bend it (the hub's [`Frames::Bent`]).
    pub(crate) fn encode_frame(
        self,
        epoch: &str,
        seq: u64,
        event: Option<&str>,
        data: &str,
    ) -> Result<Bytes, EncodeError> {
        let id = self.wire_id(epoch, seq);
        self.encode_event(id.as_deref(), event, data)
    }

    /// The id written on the wire for event number `seq`, if any.
    fn wire_id(self, epoch: &str, seq: u64) -> Option<String> {
        use Misbehavior::*;
        if self.has(NoIds) {
            return None;
        }
        let shown = if self.has(DuplicateIds) && seq % 2 == 0 {
            seq - 1
        } else if self.has(NonMonotonicIds) {
            seq ^ 1
        } else {
            seq
        };
        Some(crate::replay::format_id(epoch, shown))
    }

    /// Encodes one event frame with the frame switches applied.
    fn encode_event(
        self,
        id: Option<&str>,
        event: Option<&str>,
        data: &str,
    ) -> Result<Bytes, EncodeError> {
        use Misbehavior::*;
        let nul_id = self.has(IdWithNul);
        let crlf = self.has(CrlfInEventName);
        let json;
        let data = if self.has(JsonData) {
            json = json_string(data);
            json.as_str()
        } else {
            data
        };
        if !nul_id && !crlf && !self.has(InvalidUtf8) {
            return standard_frame(id, event, data);
        }
        let mut msg = Message::new(data);
        if let (Some(id), false) = (id, nul_id) {
            msg = msg.id(id);
        }
        if let (Some(event), false) = (event, crlf) {
            msg = msg.event(event);
        }
        msg.validate()?;
        let mut buf = BytesMut::new();
        if let (Some(id), true) = (id, nul_id) {
            let (epoch, seq) = id.rsplit_once('-').unwrap_or((id, ""));
            buf.put_slice(format!("id: {epoch}\0{seq}\n").as_bytes());
        }
        if crlf {
            let name = event.unwrap_or("message");
            buf.put_slice(format!("event: {name}\r\ndata: injected\n").as_bytes());
        }
        msg.encode(&mut buf)?;
        if self.has(InvalidUtf8) {
            buf.truncate(buf.len() - 1);
            buf.put_slice(b"data: \xff\xfe\xc3(\n\n");
        }
        Ok(buf.freeze())
    }

    /// What is written just before the server closes a stream: normally nothing.
    fn closing_tail(self) -> Option<Bytes> {
        self.has(Misbehavior::CutAtClose)
            .then(|| Bytes::from_static(b"event: closing\ndata: this event is cut at close\n"))
    }
}

impl Conduct for Misbehaviors {
    fn describe(self) -> String {
        format!("{:?}", self.iter().collect::<Vec<_>>())
    }

    // --- HTTP -----------------------------------------------------------------------------

    fn fails_on_last_event_id(self) -> bool {
        self.has(Misbehavior::ErrorOnLastEventId)
    }

    fn gone_is_empty_stream(self) -> bool {
        self.has(Misbehavior::EofInsteadOf204)
    }

    fn stream_headers(self, headers: &mut HeaderMap) {
        use Misbehavior::*;
        let mut set = |name, value: &'static str| {
            headers.insert(name, HeaderValue::from_static(value));
        };
        if self.has(WrongContentType) {
            set(header::CONTENT_TYPE, "text/plain; charset=utf-8");
        }
        if self.has(NonUtf8Charset) {
            set(
                header::CONTENT_TYPE,
                "text/event-stream; charset=windows-1252",
            );
        }
        if self.has(Cacheable) {
            set(header::CACHE_CONTROL, "public, max-age=3600");
            set(header::ETAG, "\"ssekit-stream\"");
        }
        if self.has(ContentLength) {
            set(header::CONTENT_LENGTH, "1048576");
        }
        if self.has(GzipNoFlush) {
            set(header::CONTENT_ENCODING, "gzip");
        }
    }

    fn direct_streams(self) -> bool {
        self.iter().all(Misbehavior::mock_only)
    }

    fn h2_connection_header(self) -> bool {
        self.has(Misbehavior::H2ConnectionHeader)
    }

    // --- frames and streams ---------------------------------------------------------------

    fn frames(self) -> Frames {
        use Misbehavior::*;
        let bent = [
            NoIds,
            DuplicateIds,
            NonMonotonicIds,
            IdWithNul,
            CrlfInEventName,
            InvalidUtf8,
            JsonData,
        ];
        if self.any(&bent) {
            Frames::Bent(self)
        } else {
            Frames::Standard
        }
    }

    fn priming(self, retry_ms: u64) -> Bytes {
        use Misbehavior::*;
        if self.has(BadRetry) {
            return Bytes::from_static(b": ssekit: stream open\nretry: 3s\n\n");
        }
        standard_priming(if self.has(RetryZero) { 0 } else { retry_ms })
    }

    fn heartbeats(self) -> bool {
        !self.has(Misbehavior::NoHeartbeat)
    }

    fn coalesces(self) -> bool {
        // `lossy-queue`'s writer takes one event at a time.
        !self.has(Misbehavior::LossyQueue)
    }

    fn stream_body(self, stream: EventStream) -> ResponseBody {
        BentStream::body(stream, self.output(), self.closing_tail(), self.pace())
    }

    // --- replay, flow, shutdown -------------------------------------------------------

    fn resume(self, decided: Resume, oldest_cursor: u64) -> Resume {
        use Misbehavior::*;
        match decided {
            Resume::Resumed { after } if self.has(ReplayGap) => {
                Resume::Resumed { after: after + 1 }
            }
            Resume::Resumed { after } if self.has(ReplayDuplicate) => Resume::Resumed {
                after: after.saturating_sub(1),
            },
            Resume::Resumed { .. } if self.has(ReplayIgnored) => Resume::Resumed {
                after: oldest_cursor,
            },
            Resume::Reset { live_after, .. } if self.has(SilentReset) => {
                Resume::Unannounced { after: live_after }
            }
            other => other,
        }
    }

    /// `slow-consumer-blocks` wins over `lossy-queue` (a blocked publisher never overflows a
    /// queue).
    fn flow(self) -> Flow {
        if self.has(Misbehavior::SlowConsumerBlocks) {
            Flow::Block { lag: BLOCKING_LAG }
        } else if self.has(Misbehavior::LossyQueue) {
            Flow::Lossy {
                queue: LOSSY_QUEUE_LEN,
            }
        } else {
            Flow::Evict
        }
    }

    fn shutdown_hangs(self) -> bool {
        self.has(Misbehavior::ShutdownHangs)
    }
}

/// `data` as a JSON string literal, quotes included (what `JSON.stringify` writes).
fn json_string(data: &str) -> String {
    // Serialising a `&str` cannot fail; the fallback only keeps this free of panics.
    serde_json::to_string(data).unwrap_or_else(|_| format!("\"{data}\""))
}

pub(crate) use raw_h2::serve_if_preface as serve_raw_h2_if_preface;

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` is the command line's list: nothing left out, nothing twice.
    #[cfg(feature = "cli")]
    #[test]
    fn all_is_the_command_lines_list() {
        use clap::ValueEnum;
        assert_eq!(Misbehavior::value_variants(), Misbehavior::ALL.as_slice());
    }

    /// The names are an interface (the runner and scripts use them): pin them.
    #[cfg(feature = "cli")]
    #[test]
    fn names_are_exactly_these() {
        use clap::ValueEnum;
        let names: Vec<String> = Misbehavior::value_variants()
            .iter()
            .map(|m| m.to_possible_value().unwrap().get_name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "wrong-content-type",
                "non-utf8-charset",
                "cacheable",
                "content-length",
                "buffered",
                "gzip-no-flush",
                "no-heartbeat",
                "no-ids",
                "duplicate-ids",
                "non-monotonic-ids",
                "id-with-nul",
                "replay-gap",
                "replay-duplicate",
                "replay-ignored",
                "silent-reset",
                "bad-retry",
                "retry-zero",
                "crlf-in-event-name",
                "invalid-utf8",
                "cut-at-close",
                "error-on-last-event-id",
                "h2-connection-header",
                "eof-instead-of-204",
                "slow-consumer-blocks",
                "shutdown-hangs",
                "json-data",
                "lossy-queue",
                "buffer-until-done",
                "no-done-sentinel",
                "cut-mid-stream",
                "error-as-reset",
                "silent-think",
                "no-session-id",
                "duplicate-event-ids",
            ]
        );
    }

    #[test]
    fn sets_hold_exactly_what_was_listed() {
        let set = Misbehaviors::from_list(&[Misbehavior::NoIds, Misbehavior::ShutdownHangs]);
        assert!(set.has(Misbehavior::NoIds) && set.has(Misbehavior::ShutdownHangs));
        assert_eq!(set.iter().count(), 2);
        assert!(Misbehaviors::none().is_empty());
        assert_eq!(Misbehaviors::none().iter().count(), 0);
    }

    #[test]
    fn well_behaved_frames_come_from_the_serializer() {
        let none = Misbehaviors::none();
        assert!(matches!(none.frames(), Frames::Standard));
        let frame = none.frames().encode("e", 1, Some("t"), "a\nb").unwrap();
        assert_eq!(&frame[..], b"id: e-1\nevent: t\ndata: a\ndata: b\n\n");
        assert_eq!(
            &none.priming(2500)[..],
            b": ssekit: stream open\nretry: 2500\n\n"
        );
        assert!(none.frames().encode("e", 1, Some("a\nb"), "x").is_err());
    }

    #[test]
    fn json_data_writes_the_string_literal() {
        let json = Misbehaviors::from_list(&[Misbehavior::JsonData]);
        let frame = json.frames().encode("e", 1, None, "a\nb \"c\"").unwrap();
        assert_eq!(&frame[..], b"id: e-1\ndata: \"a\\nb \\\"c\\\"\"\n\n");
    }
}
