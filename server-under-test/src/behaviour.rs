//! The one point through which the server's conduct is decided: what it puts on the wire, how
//! its fan-out treats slow subscribers, how it shuts down, how the mock endpoints answer.
//!
//! [`resolve`] turns the [`Config`] into a [`Behaviour`] once, at start-up. Every other module
//! asks the behaviour (through [`Conduct`] and [`MockConduct`]) and never checks a switch. The
//! trait defaults are the well-behaved answers; with the `misbehave` feature,
//! `Misbehaviors` overrides them, and without it the behaviour is `WellBehaved`, a
//! unit type whose answers are constants the compiler folds away.
//!
//! The hub's hot path does not ask per event: at construction it takes a [`Frames`] encoder and
//! a [`Flow`] policy, and the per-delivery path consults neither.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::header::HeaderMap;
use ssekit_parser::{EncodeError, Message};
use std::time::Duration;

use crate::config::Config;
use crate::error::ServerError;
use crate::http::ResponseBody;
use crate::replay::Resume;
use crate::stream::EventStream;

pub(crate) use crate::hub::Flow;

/// The server's conduct, resolved from the [`Config`] at start-up.
#[cfg(feature = "misbehave")]
pub(crate) type Behaviour = crate::misbehave::Misbehaviors;
/// The server's conduct: without the `misbehave` feature, always well-behaved.
#[cfg(not(feature = "misbehave"))]
pub(crate) type Behaviour = WellBehaved;

/// A server that breaks no rule: every answer is the trait's default.
#[cfg(not(feature = "misbehave"))]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WellBehaved;

#[cfg(not(feature = "misbehave"))]
impl Conduct for WellBehaved {}
#[cfg(not(feature = "misbehave"))]
impl MockConduct for WellBehaved {}

/// Decides the server's conduct from `config`, once.
pub(crate) fn resolve(config: &Config) -> Result<Behaviour, ServerError> {
    #[cfg(all(feature = "misbehave", feature = "redis"))]
    if config.redis.is_some() && !config.misbehave.is_empty() {
        return Err(ServerError::MisbehaveWithRedis);
    }
    #[cfg(feature = "misbehave")]
    return Ok(config.misbehave);
    #[cfg(not(feature = "misbehave"))]
    {
        let _ = config;
        Ok(WellBehaved)
    }
}

/// How events become frames, chosen once when the hub is built.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Frames {
    /// The serializer's frames: `id: EPOCH-SEQ`, `event:`, `data:` lines.
    Standard,
    /// Frames bent by the id and data switches.
    #[cfg(feature = "misbehave")]
    Bent(crate::misbehave::Misbehaviors),
}

impl Frames {
    /// Encodes event number `seq`, once, for every subscriber.
    pub fn encode(
        self,
        epoch: &str,
        seq: u64,
        event: Option<&str>,
        data: &str,
    ) -> Result<Bytes, EncodeError> {
        match self {
            Frames::Standard => {
                standard_frame(Some(&crate::replay::format_id(epoch, seq)), event, data)
            }
            #[cfg(feature = "misbehave")]
            Frames::Bent(rules) => rules.encode_frame(epoch, seq, event, data),
        }
    }
}

/// A well-formed event frame.
pub(crate) fn standard_frame(
    id: Option<&str>,
    event: Option<&str>,
    data: &str,
) -> Result<Bytes, EncodeError> {
    let mut msg = Message::new(data);
    if let Some(id) = id {
        msg = msg.id(id);
    }
    if let Some(event) = event {
        msg = msg.event(event);
    }
    msg.to_bytes()
}

/// The comment that opens every stream.
const PRIMING_COMMENT: &str = " ssekit: stream open";

/// The priming frame: a comment and the `retry:` value, sent before any event.
pub(crate) fn standard_priming(retry_ms: u64) -> Bytes {
    let mut buf = BytesMut::with_capacity(48);
    ssekit_parser::encode_comment(&mut buf, PRIMING_COMMENT);
    ssekit_parser::encode_retry(&mut buf, retry_ms);
    buf.freeze()
}

/// How the server behaves on its event streams, HTTP endpoints and connections. The defaults
/// are the well-behaved answers.
pub(crate) trait Conduct: Copy + Send + Sync + 'static {
    /// The switches that are on, for the start-up log line.
    fn describe(self) -> String {
        "none".to_owned()
    }

    // --- HTTP ---------------------------------------------------------------------------

    /// Whether a request carrying a `Last-Event-ID` is answered with a 500.
    fn fails_on_last_event_id(self) -> bool {
        false
    }

    /// Whether `/gone` answers 200 and an empty stream instead of 204.
    fn gone_is_empty_stream(self) -> bool {
        false
    }

    /// Overrides the well-behaved event-stream headers already in `headers`.
    fn stream_headers(self, headers: &mut HeaderMap) {
        let _ = headers;
    }

    /// Whether `/stream` may take the direct HTTP/1.1 path (its framing and headers are the
    /// well-behaved ones).
    fn direct_streams(self) -> bool {
        true
    }

    /// Whether HTTP/2 connections go to the hand-written responder that sends `Connection`
    /// (which only the `misbehave` feature has).
    #[cfg(feature = "misbehave")]
    fn h2_connection_header(self) -> bool {
        false
    }

    // --- frames and streams ---------------------------------------------------------------

    /// The hub's event encoder.
    fn frames(self) -> Frames {
        Frames::Standard
    }

    /// The priming frame: a comment and the `retry:` value, sent before any event.
    fn priming(self, retry_ms: u64) -> Bytes {
        standard_priming(retry_ms)
    }

    /// Whether idle streams get heartbeat comments.
    fn heartbeats(self) -> bool {
        true
    }

    /// Whether a stream may send every event that is ready in one write.
    fn coalesces(self) -> bool {
        true
    }

    /// The response body of an event stream.
    fn stream_body(self, stream: EventStream) -> ResponseBody {
        stream.boxed()
    }

    // --- replay, flow, shutdown -------------------------------------------------------

    /// Bends a resume decision. `oldest_cursor` is the cursor that replays everything retained.
    fn resume(self, decided: Resume, oldest_cursor: u64) -> Resume {
        let _ = oldest_cursor;
        decided
    }

    /// What the fan-out does with a subscriber that cannot keep up.
    fn flow(self) -> Flow {
        Flow::Evict
    }

    /// Whether streams ignore shutdown and connections are never cut.
    fn shutdown_hangs(self) -> bool {
        false
    }
}

/// How the mock endpoints (`/v1/chat/completions`, `/v1/messages`, `/mcp`) write their finite,
/// request-initiated streams. The defaults are the well-behaved answers.
pub(crate) trait MockConduct: Conduct {
    /// Whether a finite mock stream is held back and written whole, in one piece, at its end.
    fn mock_holds_stream(self) -> bool {
        false
    }

    /// Whether an OpenAI-style stream ends with `data: [DONE]`.
    fn mock_done_sentinel(self) -> bool {
        true
    }

    /// After how many of `tokens` generated tokens the connection is cut inside an event.
    fn mock_cut_after(self, tokens: u32) -> Option<u32> {
        let _ = tokens;
        None
    }

    /// Whether a failure mid-generation cuts the connection instead of sending an error event.
    fn mock_error_as_reset(self) -> bool {
        false
    }

    /// The heartbeat interval of mock streams.
    fn mock_heartbeat(self, heartbeat: Option<Duration>) -> Option<Duration> {
        heartbeat.filter(|_| self.heartbeats())
    }

    /// How long the model thinks before its first token.
    fn mock_think(self, think: Duration, heartbeat: Option<Duration>) -> Duration {
        let _ = heartbeat;
        think
    }

    /// Whether MCP `initialize` assigns a session and later requests must carry it.
    fn mock_sessions(self) -> bool {
        true
    }

    /// The SSE `id:` of event `seq` (from 1) on MCP stream `stream`: unique in the session.
    fn mock_event_id(self, stream: &str, seq: u64) -> String {
        format!("{stream}-{seq}")
    }
}
