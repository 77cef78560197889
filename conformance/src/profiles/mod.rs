//! What a request-initiated stream of a known protocol must look like. Most event streams
//! written today are not `GET` feeds: they answer a `POST` with a finite stream (LLM token
//! endpoints, MCP servers). Each protocol is a small module that knows how its stream is
//! opened, how it ends, and which shape each event has, citing the document that says so:
//!
//! - [`openai`]: OpenAI-compatible chat completions with `"stream": true`;
//! - [`anthropic`]: Anthropic-style messages streaming (typed events);
//! - [`mcp`]: MCP Streamable HTTP (protocol revision 2025-06-18).
//!
//! Judging is sans-I/O: a profile reads captured events and returns problems; the P checks
//! (`checks/finite.rs`) send the requests. The one exception is MCP's session set-up
//! ([`mcp::open_session`]), which must happen before the stream request can be sent.

use ssekit_parser::OwnedEvent;

pub mod anthropic;
pub mod mcp;
pub mod openai;

/// A protocol the runner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI-compatible chat completions.
    OpenAi,
    /// Anthropic-style messages.
    Anthropic,
    /// MCP Streamable HTTP.
    Mcp,
}

impl Protocol {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Anthropic => "anthropic",
            Protocol::Mcp => "mcp",
        }
    }

    /// The document the profile follows.
    pub fn source(self) -> &'static str {
        match self {
            Protocol::OpenAi => openai::SOURCE,
            Protocol::Anthropic => anthropic::SOURCE,
            Protocol::Mcp => mcp::SOURCE,
        }
    }

    /// The `Accept` the protocol's clients send (the browser's `text/event-stream` otherwise).
    pub fn accept(self) -> Option<&'static str> {
        match self {
            Protocol::Mcp => Some(mcp::ACCEPT),
            Protocol::OpenAi | Protocol::Anthropic => None,
        }
    }

    /// The path of the reference server's mock endpoint for the protocol: what
    /// `ssekit check --profile NAME` checks when no URL is given.
    pub fn mock_path(self) -> &'static str {
        match self {
            Protocol::OpenAi => "/v1/chat/completions",
            Protocol::Anthropic => "/v1/messages",
            Protocol::Mcp => "/mcp",
        }
    }

    /// A request body that starts a short stream, when the user gives none.
    pub fn default_body(self) -> &'static str {
        match self {
            Protocol::OpenAi => openai::DEFAULT_BODY,
            Protocol::Anthropic => anthropic::DEFAULT_BODY,
            Protocol::Mcp => mcp::DEFAULT_BODY,
        }
    }

    /// What is wrong with a complete stream's events, judged by the protocol's own rules.
    pub fn judge(self, events: &[&OwnedEvent]) -> Judgement {
        match self {
            Protocol::OpenAi => openai::judge(events),
            Protocol::Anthropic => anthropic::judge(events),
            Protocol::Mcp => mcp::judge(events),
        }
    }

    /// Guesses the protocol from what a stream looked like (for the report's suggestion).
    pub fn guess(events: &[&OwnedEvent]) -> Option<Protocol> {
        let first = events.first()?;
        if first.event_type == "message_start" {
            return Some(Protocol::Anthropic);
        }
        if first.data.contains("\"jsonrpc\"") {
            return Some(Protocol::Mcp);
        }
        let chunk =
            first.data.contains("chat.completion.chunk") || first.data.contains("\"choices\"");
        chunk.then_some(Protocol::OpenAi)
    }
}

/// A profile's reading of one complete stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Rules of the protocol the stream breaks, each with the rule's words.
    pub problems: Vec<String>,
    /// Whether the protocol's terminator (`[DONE]`, `message_stop`, the JSON-RPC response)
    /// arrived: a stream that ends without it was cut, whatever the framing says.
    pub terminated: bool,
    /// An error the stream carried as an event (the protocol's error shape).
    pub error_event: Option<String>,
    /// A one-line summary of what the stream held.
    pub summary: String,
}

/// Parses an event's data as JSON, naming the event when it is not.
pub(crate) fn json(e: &OwnedEvent, n: usize) -> Result<serde_json::Value, String> {
    serde_json::from_str(&e.data).map_err(|err| {
        format!(
            "event {n} ({}) is not JSON: {err}: {}",
            e.event_type,
            crate::checks::show(&e.data, 60)
        )
    })
}
