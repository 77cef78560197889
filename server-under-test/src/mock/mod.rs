//! Mock endpoints of the three request-initiated SSE shapes most servers speak today, so the
//! runner's checks for finite, POST-initiated streams can be shown to pass and to fail:
//!
//! - `POST /v1/chat/completions`: OpenAI-style chat completions ([`openai`]);
//! - `POST /v1/messages`: Anthropic-style messages ([`anthropic`]);
//! - `POST|GET|DELETE /mcp`: MCP Streamable HTTP, revision 2025-06-18 ([`mcp`]).
//!
//! Protocol modules build frames and JSON; [`wire`] does the I/O; [`tokens`] is the mock model
//! they share; how they behave (and misbehave) is asked of `crate::behaviour::MockConduct`.

mod anthropic;
mod generate;
mod mcp;
mod mcp_session;
mod openai;
mod tokens;
mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use ssekit_parser::Message;

use crate::behaviour::MockConduct;
use crate::http::{App, Peer, ResponseBody};

pub(crate) use mcp_session::Sessions;

/// The largest request body a mock endpoint reads.
const MAX_BODY: usize = 1 << 20;

/// The mock endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MockRoute {
    ChatCompletions,
    Messages,
    Mcp,
}

impl MockRoute {
    /// The mock endpoint at `path`, if any.
    pub fn from_path(path: &str) -> Option<MockRoute> {
        Some(match path {
            "/v1/chat/completions" => MockRoute::ChatCompletions,
            "/v1/messages" => MockRoute::Messages,
            "/mcp" => MockRoute::Mcp,
            _ => return None,
        })
    }

    /// The `Allow` header value.
    pub fn allow(self) -> &'static str {
        match self {
            MockRoute::Mcp => "GET, POST, DELETE, OPTIONS",
            _ => "POST, OPTIONS",
        }
    }

    /// Whether the method is served here (others get 405 with `Allow`).
    pub fn allows(self, method: &Method) -> bool {
        match self {
            MockRoute::Mcp => [Method::GET, Method::POST, Method::DELETE].contains(method),
            _ => method == Method::POST,
        }
    }

    /// Widens granted CORS headers to what browser clients of these protocols send and read
    /// (MCP's session and version headers); adds nothing where CORS granted nothing.
    pub fn cors_headers(self, headers: &mut HeaderMap) {
        use hyper::header::{ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_EXPOSE_HEADERS};
        if headers.contains_key(ACCESS_CONTROL_ALLOW_HEADERS) {
            headers.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "Content-Type, Authorization, Last-Event-ID, Mcp-Session-Id, MCP-Protocol-Version",
                ),
            );
        }
        if headers.contains_key(ACCESS_CONTROL_EXPOSE_HEADERS) {
            headers.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Mcp-Session-Id"),
            );
        }
    }

    /// Answers one request.
    pub async fn handle(
        self,
        app: &Arc<App>,
        peer: &Peer,
        req: Request<Incoming>,
    ) -> Response<ResponseBody> {
        match self {
            MockRoute::ChatCompletions => openai::handle(app, peer, req).await,
            MockRoute::Messages => anthropic::handle(app, peer, req).await,
            MockRoute::Mcp => mcp::handle(app, peer, req).await,
        }
    }
}

/// Why a request body could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Over [`MAX_BODY`].
    #[error("the request body is over {MAX_BODY} bytes")]
    TooLarge,
    /// The connection failed while reading.
    #[error("the request body could not be read")]
    Read,
    /// Not JSON at all.
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
}

impl BodyError {
    /// The HTTP status that says so.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads a bounded JSON body.
pub(crate) async fn read_json(req: Request<Incoming>) -> Result<serde_json::Value, BodyError> {
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge),
        Err(_) => return Err(BodyError::Read),
    };
    serde_json::from_slice(&bytes).map_err(|e| BodyError::NotJson(e.to_string()))
}

/// One SSE frame carrying compact JSON. serde_json escapes every CR and LF inside strings, so
/// the data is always one line and encoding cannot fail; the fallback is only for safety.
pub(crate) fn frame(event: Option<&str>, id: Option<&str>, json: &serde_json::Value) -> Bytes {
    let data = json.to_string();
    let mut msg = Message::new(&data);
    if let Some(event) = event {
        msg = msg.event(event);
    }
    if let Some(id) = id {
        msg = msg.id(id);
    }
    msg.to_bytes().unwrap_or_default()
}

/// A short identifier that is unique in this process and hard to guess across runs.
pub(crate) fn unique_id() -> String {
    use std::hash::BuildHasher;
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // `RandomState` keys SipHash from per-thread OS randomness: unpredictable enough for a mock.
    let state = std::collections::hash_map::RandomState::new();
    let hash = state.hash_one((n, std::time::SystemTime::now()));
    format!("{hash:016x}{n:04x}")
}

/// Seconds since the Unix epoch (OpenAI's `created`).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How the server writes mock streams for this request.
pub(crate) fn wire_options(app: &App, finite: bool) -> wire::WireOptions {
    let behaviour = app.behaviour;
    wire::WireOptions {
        hold: finite && behaviour.mock_holds_stream(),
        heartbeat: behaviour.mock_heartbeat(app.config.heartbeat),
    }
}
