//! MCP Streamable HTTP (protocol revision 2025-06-18): a client POSTs one JSON-RPC message
//! with `Accept: application/json, text/event-stream`; the server answers a request with
//! either one JSON body or an event stream whose events each carry one JSON-RPC message
//! (notifications and requests of its own, then the response to the client's request, after
//! which it should close the stream). Event ids, when present, are unique per stream so a
//! client can resume with `Last-Event-ID`.
//!
//! A session comes first: `initialize` (answered as JSON or as a stream), then
//! `notifications/initialized`; the server may assign an `Mcp-Session-Id` that every later
//! request carries, with `MCP-Protocol-Version`. [`open_session`] is the profile's only I/O
//! (the runner calls it once, before the baseline); [`judge`] and [`judge_session`] (P08's
//! rules) only read what was observed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use ssekit_parser::OwnedEvent;

use super::{json, Judgement};
use crate::probe::{self, ProbeError, Request};

/// What this profile follows.
pub const SOURCE: &str = "MCP specification 2025-06-18, Basic: Transports (Streamable HTTP)";

/// The `Accept` an MCP client sends with every POST.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The protocol revision the runner speaks.
pub const VERSION: &str = "2025-06-18";

/// The `initialize` request: the one every session starts with (the runner sends it before
/// the baseline, see [`open_session`]).
pub const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ssekit-check","version":"0.1.0"}}}"#;

/// The notification that completes the handshake (answered 202 Accepted).
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The stream request when the user gives none: `tools/list` is the one request every tool
/// server answers; the progress token invites a server that streams to do so. A server that
/// answers it with JSON (allowed) leaves the stream checks nothing to judge: give `--data`
/// a `tools/call` of a tool of yours with `_meta.progressToken`.
pub const DEFAULT_BODY: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"progressToken":"ssekit-check"}}}"#;

/// What `--profile mcp` sends the embedded reference server when no `--data` is given: a call
/// of its mock's `count` tool, which it answers with a stream (progress notifications, then
/// the response). `tools/list`, the default elsewhere, is answered with one JSON body.
pub const MOCK_COUNT_CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"ssekit-check"}}}"#;

/// The session header (`Mcp-Session-Id`), lower-cased as `http` stores names.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// The protocol version header (`MCP-Protocol-Version`).
pub const VERSION_HEADER: &str = "mcp-protocol-version";

/// Where the transport's rules are written (for findings).
pub const TRANSPORTS: &str = "MCP 2025-06-18 Basic: Transports, Streamable HTTP";

/// Judges the events of a stream that answered one JSON-RPC request.
pub fn judge(events: &[&OwnedEvent]) -> Judgement {
    let mut j = Judgement::default();
    let mut ids = HashSet::new();
    let mut messages = 0usize;
    for (n, e) in events.iter().enumerate() {
        if !e.id.is_empty() && !ids.insert(e.id.as_str()) {
            j.problems.push(format!(
                "event id {} repeats: ids must be unique within a stream to resume it",
                crate::checks::show(&e.id, 30)
            ));
        }
        if j.terminated {
            j.problems.push(format!(
                "event {n} comes after the JSON-RPC response, after which the stream should close"
            ));
            break;
        }
        let value = match json(e, n) {
            Ok(v) => v,
            Err(problem) => {
                j.problems.push(problem);
                continue;
            }
        };
        if value.get("jsonrpc").and_then(|v| v.as_str()) != Some("2.0") {
            j.problems.push(format!(
                "event {n} is not a JSON-RPC 2.0 message (no \"jsonrpc\": \"2.0\")"
            ));
            continue;
        }
        messages += 1;
        let is_response = value.get("method").is_none()
            && (value.get("result").is_some() || value.get("error").is_some());
        if is_response {
            j.terminated = true;
            if let Some(error) = value.get("error") {
                let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("?");
                j.error_event = Some(message.to_owned());
            }
        }
    }
    if !j.terminated {
        j.problems.push(
            "the stream ended without the JSON-RPC response to the request: the client waits for it forever"
                .into(),
        );
    }
    j.summary = format!("{messages} JSON-RPC message(s)");
    j
}

// --- Session set-up ---------------------------------------------------------------------------
//
// A Streamable HTTP server may insist on the handshake (`initialize`, then
// `notifications/initialized`) and on the session it assigns before it answers anything else,
// so `--profile mcp` opens a session once, before the baseline, and every later request of the
// run carries its headers. The I/O is one small function; what it reads is judged by the pure
// functions below it.

/// The session the runner opened before the baseline.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The `Mcp-Session-Id` the server assigned on `initialize` (a MAY: often none).
    pub id: Option<String>,
    /// The revision the server chose (`result.protocolVersion`), sent back on every request.
    pub version: String,
    /// Whether `initialize` was answered as JSON or as an event stream.
    pub answered: &'static str,
    /// The status `notifications/initialized` got (202 Accepted expected).
    pub initialized: Option<StatusCode>,
    /// Headers every later request of the run carries (`Mcp-Session-Id`, `MCP-Protocol-Version`).
    pub headers: HeaderMap,
}

/// Why the runner could not open an MCP session.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The request could not be sent or answered.
    #[error("MCP initialize: {0}")]
    Probe(#[from] ProbeError),
    /// `initialize` was refused.
    #[error(
        "MCP initialize was answered {status}: {body}; check the URL is the MCP endpoint (often \
         /mcp) and that --header carries what the server needs (Authorization)"
    )]
    Refused {
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The answer holds no usable JSON-RPC response.
    #[error(
        "MCP initialize was answered ({content_type}) without a usable JSON-RPC response: {why}"
    )]
    NoResult {
        /// The answer's `Content-Type`.
        content_type: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Opens a session at `url`: `initialize` (answered as JSON or as an event stream), then
/// `notifications/initialized`, with the user's `headers` on both. Returns the headers every
/// later request must carry.
pub async fn open_session(
    url: &Uri,
    headers: &HeaderMap,
    timeout: Duration,
) -> Result<Session, SetupError> {
    let mut answer = probe::send(post(url, headers, INITIALIZE), timeout).await?;
    let content_type = content_type(&answer.headers).to_owned();
    let deadline = Instant::now() + timeout;
    let (messages, answered) = match is_event_stream(&answer.headers) {
        true => (read_events(&mut answer, deadline).await, "an event stream"),
        false => {
            let body = answer.body_text(deadline, 1 << 20).await.0;
            (vec![String::from_utf8_lossy(&body).into_owned()], "JSON")
        }
    };
    if !answer.status.is_success() {
        return Err(SetupError::Refused {
            status: answer.status,
            body: crate::checks::show(messages.join(" ").trim(), 200),
        });
    }
    let result = initialize_result(&messages).map_err(|why| SetupError::NoResult {
        content_type: content_type.clone(),
        why,
    })?;
    let id = answer
        .headers
        .get(SESSION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    drop(answer);
    let version = result
        .get("protocolVersion")
        .and_then(|v| v.as_str())
        .unwrap_or(VERSION)
        .to_owned();
    let mut session = Session {
        headers: session_headers(id.as_deref(), &version),
        id,
        version,
        answered,
        initialized: None,
    };
    let mut with_session = headers.clone();
    with_session.extend(session.headers.clone());
    // The handshake's last step: a server may refuse requests until it has seen it.
    session.initialized = probe::send(post(url, &with_session, INITIALIZED), timeout)
        .await
        .ok()
        .map(|r| r.status);
    Ok(session)
}

/// A POST of one JSON-RPC message as MCP clients send it.
pub fn post(url: &Uri, headers: &HeaderMap, body: &str) -> Request {
    let mut req = Request::new(Method::POST, url.clone(), headers);
    req.headers
        .insert(http::header::ACCEPT, HeaderValue::from_static(ACCEPT));
    req.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    req.body = bytes::Bytes::copy_from_slice(body.as_bytes());
    req
}

/// Reads an event-stream answer until the JSON-RPC response arrives (or the deadline):
/// the data of each event, in order.
async fn read_events(answer: &mut crate::probe::Response, deadline: Instant) -> Vec<String> {
    let mut capture = crate::capture::Capture::new(answer);
    capture
        .read_until(answer, deadline, |c| {
            c.events
                .iter()
                .any(|e| response_of(&e.value.data).is_some())
        })
        .await;
    capture.events.into_iter().map(|e| e.value.data).collect()
}

/// The headers that bind a request to the session: the id when one was assigned (a value that
/// is not a valid header is left out; P08 names it), and the negotiated revision.
pub fn session_headers(id: Option<&str>, version: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(SESSION_HEADER, value);
    }
    let version = HeaderValue::from_str(version).unwrap_or(HeaderValue::from_static(VERSION));
    headers.insert(VERSION_HEADER, version);
    headers
}

/// The stream request's body with a JSON-RPC id and progress token of its own (`None` when
/// the body is no JSON-RPC request): a client never reuses an id within a session (it "MUST
/// NOT have been previously used by the requestor within the same session"), and servers
/// route each response and progress notification by them, so concurrent copies of one
/// request (P07) would steal each other's answers.
pub fn renumbered(body: &[u8], n: u64) -> Option<Vec<u8>> {
    let mut message: serde_json::Value = serde_json::from_slice(body).ok()?;
    let fresh = serde_json::Value::from(format!("ssekit-check-{n}"));
    let obj = message.as_object_mut()?;
    if !obj.contains_key("id") || !obj.contains_key("method") {
        return None;
    }
    obj.insert("id".into(), fresh.clone());
    let token = obj
        .get_mut("params")
        .and_then(|p| p.get_mut("_meta"))
        .and_then(|m| m.get_mut("progressToken"));
    if let Some(token) = token {
        *token = fresh;
    }
    serde_json::to_vec(&message).ok()
}

/// The `Content-Type` of an answer (empty when there is none).
pub fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The media type alone, lower-cased.
fn essence(headers: &HeaderMap) -> String {
    let ct = content_type(headers);
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    essence(headers) == "text/event-stream"
}

/// True when a POST was answered with one JSON body: MCP allows it for any request
/// ("either Content-Type: text/event-stream ... or Content-Type: application/json").
pub fn answered_json(headers: &HeaderMap) -> bool {
    essence(headers) == "application/json"
}

/// Why the stream checks have nothing to judge when the server answered JSON.
pub const JSON_ANSWER: &str = "the MCP server chose to answer this request with one JSON body \
     (application/json), which Streamable HTTP allows, so there is no stream to judge: give \
     --data a request the server streams, such as a tools/call of a long-running tool with \
     params._meta.progressToken (e.g. --data @call.json)";

/// The JSON-RPC response (`result` or `error`) a piece of text holds, if it is one.
fn response_of(text: &str) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let is_response = value.get("method").is_none()
        && (value.get("result").is_some() || value.get("error").is_some());
    is_response.then_some(value)
}

/// The `result` of the `initialize` response among the messages of an answer (one JSON
/// body, or the data of each event of a stream).
pub fn initialize_result(messages: &[String]) -> Result<serde_json::Value, String> {
    let Some(response) = messages.iter().find_map(|m| response_of(m)) else {
        return Err(format!(
            "no JSON-RPC response in {}",
            crate::checks::show(&messages.join(" | "), 120)
        ));
    };
    if let Some(error) = response.get("error") {
        return Err(format!("the server answered with an error: {error}"));
    }
    Ok(response["result"].clone())
}

/// Whether a session id holds only visible ASCII (0x21 to 0x7E), as Session Management requires.
pub fn id_problem(id: &[u8]) -> Option<String> {
    let bad = id.iter().find(|b| !(0x21..=0x7e).contains(*b))?;
    Some(format!(
        "the Mcp-Session-Id {} holds byte 0x{bad:02x}: \"The session ID MUST only contain visible \
         ASCII characters (ranging from 0x21 to 0x7E)\" (Session Management)",
        crate::checks::show(&String::from_utf8_lossy(id), 40)
    ))
}

// --- P08: the session rules ------------------------------------------------------------------

/// What P08's own requests saw; `None` where a request was not sent or got no answer.
#[derive(Debug, Clone, Default)]
pub struct SessionProbe {
    /// The `Mcp-Session-Id` its own `initialize` was given.
    pub id: Option<String>,
    /// `notifications/initialized`.
    pub initialized: Option<StatusCode>,
    /// A request without the session id (sent only when one was assigned).
    pub without_id: Option<StatusCode>,
    /// A request with an unsupported `MCP-Protocol-Version`.
    pub bad_version: Option<StatusCode>,
    /// `GET` with the run's session: status and `Content-Type`.
    pub get: Option<(StatusCode, String)>,
    /// Events the GET stream carried in its short window.
    pub get_events: usize,
    /// `DELETE` with its own session.
    pub delete: Option<StatusCode>,
    /// A request naming the session after the `DELETE` ended it.
    pub after_delete: Option<StatusCode>,
    /// Event ids seen both on the POST stream and on the GET stream of one session.
    pub shared_ids: Vec<String>,
}

/// The session rules a server broke (each with the spec's words), and what it did right.
pub fn judge_session(p: &SessionProbe) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let show = |s: Option<StatusCode>| s.map_or("no answer".to_owned(), |s| s.as_u16().to_string());
    match &p.id {
        Some(id) => match id_problem(id.as_bytes()) {
            Some(problem) => problems.push(problem),
            None => notes.push("Mcp-Session-Id assigned on initialize".into()),
        },
        None => notes.push("no Mcp-Session-Id on initialize (MAY)".into()),
    }
    if p.initialized == Some(StatusCode::ACCEPTED) {
        notes.push("notifications/initialized 202".into());
    } else {
        problems.push(format!(
            "notifications/initialized was answered {}: for a notification \"the server MUST return \
             HTTP status code 202 Accepted with no body\" (Sending Messages to the Server)",
            show(p.initialized)
        ));
    }
    // A stateless server may open an empty GET stream; one that carries messages without a
    // session sends them to whichever client opens it.
    if p.id.is_none() && p.get_events > 0 {
        problems.push(format!(
            "initialize assigned no Mcp-Session-Id, yet the GET stream carried {} server \
             message(s): without the session header nothing ties them, their resumption \
             (Last-Event-ID) or their cancellation to one client, so every client that opens GET \
             gets them (assign an Mcp-Session-Id whenever the server keeps per-client state, as \
             the MCP SDKs do in their stateful mode)",
            p.get_events
        ));
    }
    if p.id.is_some() && p.without_id == Some(StatusCode::BAD_REQUEST) {
        notes.push("400 without the session id".into());
    } else if p.id.is_some() {
        problems.push(format!(
            "a request without the Mcp-Session-Id header was answered {}: \"Servers that require a \
             session ID SHOULD respond to requests without an Mcp-Session-Id header (other than \
             initialization) with HTTP 400 Bad Request\" (Session Management)",
            show(p.without_id)
        ));
    }
    if p.bad_version == Some(StatusCode::BAD_REQUEST) {
        notes.push("400 for an unsupported MCP-Protocol-Version".into());
    } else {
        problems.push(format!(
            "a request with MCP-Protocol-Version: 1999-01-01 was answered {}: \"If the server \
             receives a request with an invalid or unsupported MCP-Protocol-Version, it MUST \
             respond with 400 Bad Request\" (Protocol Version Header)",
            show(p.bad_version)
        ));
    }
    judge_get(p, &mut problems, &mut notes);
    judge_delete(p, &mut problems, &mut notes);
    if !p.shared_ids.is_empty() {
        problems.push(format!(
            "event id(s) {} appear on both the POST stream and the GET stream of one session: \
             event ids \"MUST be globally unique across all streams within that session\", or a \
             resuming client gets another stream's events (Resumability and Redelivery)",
            crate::checks::show(&p.shared_ids.join(", "), 80)
        ));
    }
    (problems, notes)
}

fn judge_get(p: &SessionProbe, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    match &p.get {
        None => problems.push(
            "GET with the session got no answer: \"The server MUST either return Content-Type: \
             text/event-stream in response to this HTTP GET, or else return HTTP 405 Method Not \
             Allowed\" (Listening for Messages from the Server)"
                .into(),
        ),
        Some((s, _)) if *s == StatusCode::METHOD_NOT_ALLOWED => {
            notes.push("GET 405 (no server-to-client stream)".into())
        }
        Some((s, ct)) if *s == StatusCode::OK && ct.starts_with("text/event-stream") => {
            notes.push("GET opens the server-to-client stream".into())
        }
        Some((s, ct)) => problems.push(format!(
            "GET with the session was answered {} ({}): \"The server MUST either return \
             Content-Type: text/event-stream in response to this HTTP GET, or else return HTTP \
             405 Method Not Allowed\" (Listening for Messages from the Server)",
            s.as_u16(),
            if ct.is_empty() { "no Content-Type" } else { ct }
        )),
    }
}

fn judge_delete(p: &SessionProbe, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    if p.id.is_none() {
        return;
    }
    match p.delete {
        Some(s) if s == StatusCode::METHOD_NOT_ALLOWED => {
            notes.push("DELETE 405 (clients may not end sessions)".into())
        }
        Some(s) if s.is_success() => match p.after_delete {
            Some(StatusCode::NOT_FOUND) => notes.push(format!("DELETE {}, then 404", s.as_u16())),
            after => problems.push(format!(
                "after DELETE ended the session ({}), a request naming it was answered {}: the \
                 server \"MUST respond to requests containing that session ID with HTTP 404 Not \
                 Found\" (Session Management)",
                s.as_u16(),
                after.map_or("no answer".to_owned(), |a| a.as_u16().to_string())
            )),
        },
        other => problems.push(format!(
            "DELETE with the session was answered {}: a client ends its session with DELETE; the \
             server answers 2xx, or \"MAY respond to this request with HTTP 405 Method Not \
             Allowed, indicating that the server does not allow clients to terminate sessions\" \
             (Session Management)",
            other.map_or("no answer".to_owned(), |a| a.as_u16().to_string())
        )),
    }
}

/// Ids on both of two streams, in the order of the first.
pub fn shared_ids<'a>(
    first: impl IntoIterator<Item = &'a str>,
    second: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let second: HashSet<&str> = second.into_iter().filter(|i| !i.is_empty()).collect();
    let mut seen = HashSet::new();
    first
        .into_iter()
        .filter(|i| second.contains(i) && seen.insert(*i))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, data: &str) -> OwnedEvent {
        OwnedEvent {
            event_type: "message".into(),
            data: data.into(),
            id: id.into(),
        }
    }

    #[test]
    fn progress_then_the_response_passes() {
        let events = [
            ev(
                "s1-1",
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
            ),
            ev("s1-2", r#"{"jsonrpc":"2.0","id":2,"result":{}}"#),
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        assert!(j.problems.is_empty(), "{:?}", j.problems);
        assert!(j.terminated);
    }

    #[test]
    fn a_repeated_id_and_a_missing_response_are_named() {
        let events = [
            ev(
                "7",
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
            ),
            ev(
                "7",
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
            ),
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        let all = j.problems.join(" | ");
        assert!(all.contains("repeats"), "{all}");
        assert!(all.contains("without the JSON-RPC response"), "{all}");
    }

    #[test]
    fn the_initialize_result_is_found_in_json_or_in_events() {
        let json = [r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26"}}"#.into()];
        let r = initialize_result(&json).unwrap();
        assert_eq!(r["protocolVersion"], "2025-03-26");
        let events = [
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#.into(),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.into(),
        ];
        assert!(initialize_result(&events).is_ok());
        let refused = [r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"no"}}"#.into()];
        assert!(initialize_result(&refused)
            .unwrap_err()
            .contains("with an error"));
        let html = ["<html>".to_owned()];
        assert!(initialize_result(&html)
            .unwrap_err()
            .contains("no JSON-RPC response"));
    }

    #[test]
    fn session_ids_are_visible_ascii_and_bind_later_requests() {
        assert_eq!(id_problem(b"a1-B~"), None);
        assert!(id_problem(b"a b").unwrap().contains("0x20"));
        let h = session_headers(Some("abc"), VERSION);
        assert_eq!(h[SESSION_HEADER], "abc");
        assert_eq!(h[VERSION_HEADER], VERSION);
        let h = session_headers(Some("bad\nvalue"), "2025-03-26");
        assert!(h.get(SESSION_HEADER).is_none());
        assert_eq!(h[VERSION_HEADER], "2025-03-26");
    }

    fn healthy() -> SessionProbe {
        SessionProbe {
            id: Some("s1".into()),
            initialized: Some(StatusCode::ACCEPTED),
            without_id: Some(StatusCode::BAD_REQUEST),
            bad_version: Some(StatusCode::BAD_REQUEST),
            get: Some((StatusCode::OK, "text/event-stream".into())),
            get_events: 2,
            delete: Some(StatusCode::NO_CONTENT),
            after_delete: Some(StatusCode::NOT_FOUND),
            shared_ids: Vec::new(),
        }
    }

    #[test]
    fn a_healthy_session_breaks_no_rule() {
        let (problems, notes) = judge_session(&healthy());
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            notes.join("; ").contains("DELETE 204, then 404"),
            "{notes:?}"
        );
        let closed = SessionProbe {
            get: Some((StatusCode::METHOD_NOT_ALLOWED, String::new())),
            delete: Some(StatusCode::METHOD_NOT_ALLOWED),
            after_delete: None,
            ..healthy()
        };
        assert!(judge_session(&closed).0.is_empty());
    }

    #[test]
    fn each_broken_rule_is_named_with_its_words() {
        let broken = SessionProbe {
            initialized: Some(StatusCode::OK),
            without_id: Some(StatusCode::OK),
            bad_version: Some(StatusCode::OK),
            get: Some((StatusCode::OK, "application/json".into())),
            after_delete: Some(StatusCode::OK),
            shared_ids: vec!["1".into()],
            ..healthy()
        };
        let all = judge_session(&broken).0.join(" | ");
        for words in [
            "202 Accepted",
            "without an Mcp-Session-Id header",
            "unsupported MCP-Protocol-Version",
            "Content-Type: text/event-stream in response to this HTTP GET",
            "HTTP 404 Not Found",
            "globally unique across all streams",
        ] {
            assert!(all.contains(words), "{words}: {all}");
        }
        let stateless = SessionProbe {
            id: None,
            get_events: 0,
            ..healthy()
        };
        assert!(judge_session(&stateless).0.is_empty());
        let shared = SessionProbe {
            get_events: 3,
            ..stateless
        };
        let all = judge_session(&shared).0.join(" | ");
        assert!(all.contains("no Mcp-Session-Id"), "{all}");
    }

    #[test]
    fn shared_ids_are_listed_once_in_order() {
        let got = shared_ids(["1", "1", "3", "", "s1-2"], ["3", "1", ""]);
        assert_eq!(got, ["1", "3"]);
    }

    #[test]
    fn later_requests_get_ids_and_progress_tokens_of_their_own() {
        let body = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","_meta":{"progressToken":"p1"}}}"#;
        let v: serde_json::Value = serde_json::from_slice(&renumbered(body, 3).unwrap()).unwrap();
        assert_eq!(v["id"], "ssekit-check-3");
        assert_eq!(v["params"]["_meta"]["progressToken"], "ssekit-check-3");
        assert_eq!(v["params"]["name"], "count");
        assert_eq!(renumbered(INITIALIZED.as_bytes(), 3), None);
        assert_eq!(renumbered(b"not json", 3), None);
    }
}
