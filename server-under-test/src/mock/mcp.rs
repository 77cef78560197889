//! `/mcp`: a tiny MCP server over Streamable HTTP (protocol revision 2025-06-18).
//!
//! - `POST` carries one JSON-RPC message. `initialize` is answered with JSON and an
//!   `Mcp-Session-Id` header; every later request must carry that header (400 without it, 404
//!   for an unknown or ended session) and, if it sends `MCP-Protocol-Version`, a supported one
//!   (400 otherwise). Notifications and responses get `202 Accepted`, no body.
//! - `tools/call` of `count` is answered as an SSE stream when the client accepts one: one
//!   `notifications/progress` per number (when the request carries a `progressToken`), then
//!   the JSON-RPC response. Event ids (`s<N>-<seq>`) are unique in the session.
//! - `GET` opens the server-to-client stream (`notifications/message` ticks, then heartbeats),
//!   or 405 under `--mock-no-get-stream`; with `Last-Event-ID` it resumes the stream that id
//!   belongs to, POST answers included, from the session's log.
//! - `DELETE` ends the session (204); its streams end with it.
//!
//! Requests with an `Origin` that is neither loopback nor a configured CORS origin get 403
//! (the spec's DNS-rebinding rule).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::mcp_session::{Follower, Session, SessionError, Step, StreamLog};
use super::tokens::Plan;
use super::wire::{self, Gone, Wire};
use super::{read_json, wire_options};
use crate::behaviour::{Behaviour, MockConduct};
use crate::http::{self, App, Peer, ResponseBody};

/// The protocol revisions this server speaks; the first is the one it prefers.
const SUPPORTED: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// The most numbers `count` counts to.
const MAX_COUNT: u64 = 10_000;

// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
/// Transport-level refusals (the SDKs use the server-error range).
const TRANSPORT_ERROR: i64 = -32000;

/// One POSTed JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
enum Posted {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification or a response: accepted, nothing to answer.
    NoReply,
}

pub(super) async fn handle(
    app: &Arc<App>,
    peer: &Peer,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    if !origin_allowed(app, &req) {
        return refuse(StatusCode::FORBIDDEN, "Forbidden: Origin not allowed");
    }
    match *req.method() {
        Method::POST => post(app, peer, req).await,
        Method::GET => get(app, peer, &req),
        _ => delete(app, &req),
    }
}

// --- HTTP ------------------------------------------------------------------------------------

async fn post(app: &Arc<App>, peer: &Peer, req: Request<Incoming>) -> Response<ResponseBody> {
    let streams_ok = accepts_sse(&req);
    let session_id = header_text(&req, SESSION_HEADER).map(str::to_owned);
    let version_ok = version_ok(&req);
    let plan = match Plan::new(&app.config.mock, req.uri().query()) {
        Ok(plan) => plan,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let message = match read_json(req).await {
        Ok(body) => classify(&body),
        Err(e) => {
            let body = rpc_error(Value::Null, PARSE_ERROR, &e.to_string());
            return http::json(e.status(), &body);
        }
    };
    let message = match message {
        Ok(m) => m,
        Err(why) => {
            let body = rpc_error(Value::Null, INVALID_REQUEST, why);
            return http::json(StatusCode::BAD_REQUEST, &body);
        }
    };
    if let Posted::Request { id, method, params } = &message {
        if method == "initialize" {
            return initialize(app, id.clone(), params);
        }
    }
    if !version_ok {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request: unsupported MCP-Protocol-Version",
        );
    }
    let session = match session(app, session_id.as_deref()) {
        Ok(s) => s,
        Err(e) => return no_session(e),
    };
    match message {
        Posted::NoReply => http::empty(StatusCode::ACCEPTED),
        Posted::Request { id, method, params } => {
            let call = Call {
                app,
                peer,
                session,
                id,
                plan,
                streams_ok,
            };
            call.answer(&method, &params).await
        }
    }
}

fn get(app: &Arc<App>, peer: &Peer, req: &Request<Incoming>) -> Response<ResponseBody> {
    if !app.config.mock.mcp_get_stream {
        let mut res = http::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "this server offers no server-to-client stream\n",
        );
        res.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("POST, DELETE, OPTIONS"),
        );
        return res;
    }
    if !accepts_sse(req) {
        return refuse(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable: Accept must list text/event-stream",
        );
    }
    if !version_ok(req) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Bad Request: unsupported MCP-Protocol-Version",
        );
    }
    let session = match session(app, header_text(req, SESSION_HEADER)) {
        Ok(s) => s,
        Err(e) => return no_session(e),
    };
    let plan = match Plan::new(&app.config.mock, req.uri().query()) {
        Ok(plan) => plan,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let resumed = header_text(req, "last-event-id").and_then(|id| session.resume_point(id));
    let (log, seen) = resumed.unwrap_or_else(|| {
        let log = session.new_stream('g', app.behaviour);
        tokio::spawn(ticks(Arc::clone(&session), Arc::clone(&log), plan));
        (log, 0)
    });
    let (wire, res) = wire::open(Arc::clone(&peer.conn), wire_options(app, false));
    tokio::spawn(follow(log.follow(seen), wire, None));
    res
}

fn delete(app: &Arc<App>, req: &Request<Incoming>) -> Response<ResponseBody> {
    if !app.behaviour.mock_sessions() {
        let mut res = http::text(StatusCode::METHOD_NOT_ALLOWED, "no sessions to end\n");
        res.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        return res;
    }
    match session(app, header_text(req, SESSION_HEADER)) {
        Ok(session) => {
            app.mock_sessions.end(&session);
            http::empty(StatusCode::NO_CONTENT)
        }
        Err(e) => no_session(e),
    }
}

/// The session a request names (any request, under `no-session-id`).
fn session(app: &App, id: Option<&str>) -> Result<Arc<Session>, SessionError> {
    let enforce = app.behaviour.mock_sessions();
    app.mock_sessions.find(id, enforce)
}

/// The 400 or 404 that says why a request has no session.
fn no_session(e: SessionError) -> Response<ResponseBody> {
    let status = match e {
        SessionError::Missing => StatusCode::BAD_REQUEST,
        SessionError::Unknown => StatusCode::NOT_FOUND,
    };
    refuse(status, &e.to_string())
}

/// An HTTP refusal whose body is a JSON-RPC error without an id.
fn refuse(status: StatusCode, message: &str) -> Response<ResponseBody> {
    http::json(status, &rpc_error(Value::Null, TRANSPORT_ERROR, message))
}

fn header_text<'r, B>(req: &'r Request<B>, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether the client lists `text/event-stream` (or anything) in `Accept`.
fn accepts_sse<B>(req: &Request<B>) -> bool {
    req.headers().get_all(header::ACCEPT).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(|t| t.split(';').next().unwrap_or("").trim())
                .any(|t| t.eq_ignore_ascii_case("text/event-stream") || t == "*/*")
        })
    })
}

/// A missing `MCP-Protocol-Version` is fine (2025-03-26 is assumed); an unknown one is not.
fn version_ok<B>(req: &Request<B>) -> bool {
    match req.headers().get(VERSION_HEADER) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| SUPPORTED.contains(&v.trim())),
    }
}

/// No `Origin` (not a browser), a loopback origin, or a configured CORS origin.
fn origin_allowed<B>(app: &App, req: &Request<B>) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if app
        .config
        .cors_origins
        .iter()
        .any(|o| o == origin || o == "*")
    {
        return true;
    }
    let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

// --- JSON-RPC --------------------------------------------------------------------------------

/// Sorts a POST body into a request or something that needs no reply.
fn classify(body: &Value) -> Result<Posted, &'static str> {
    if body.is_array() {
        return Err("batches are not accepted in protocol revision 2025-06-18");
    }
    let obj = body
        .as_object()
        .ok_or("a JSON-RPC message must be an object")?;
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("jsonrpc must be \"2.0\"");
    }
    let id = obj
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64());
    match (obj.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) => Ok(Posted::Request {
            id: id.clone(),
            method: method.to_owned(),
            params: obj.get("params").cloned().unwrap_or(Value::Null),
        }),
        (Some(_), None) if !obj.contains_key("id") => Ok(Posted::NoReply),
        (None, Some(_)) if obj.contains_key("result") || obj.contains_key("error") => {
            Ok(Posted::NoReply)
        }
        _ => Err("not a JSON-RPC request, notification or response"),
    }
}

fn rpc_result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// `initialize`: negotiates the revision and, unless `no-session-id`, starts a session.
fn initialize(app: &App, id: Value, params: &Value) -> Response<ResponseBody> {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| SUPPORTED.contains(v))
        .unwrap_or(SUPPORTED[0]);
    let result = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}, "logging": {}},
        "serverInfo": {"name": "ssekit-mock", "version": env!("CARGO_PKG_VERSION")},
    });
    let mut res = http::json(StatusCode::OK, &rpc_result(id, result));
    if app.behaviour.mock_sessions() {
        let session = app.mock_sessions.create();
        if let Ok(value) = HeaderValue::from_str(&session.id) {
            res.headers_mut().insert(SESSION_HEADER, value);
        }
    }
    res
}

fn tools() -> Value {
    json!({"tools": [
        {
            "name": "echo",
            "description": "Returns its text.",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        },
        {
            "name": "count",
            "description": "Counts from 1 to n at the server's token pace, with a progress notification per number.",
            "inputSchema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT}}},
        },
    ]})
}

/// One JSON-RPC request being answered.
struct Call<'a> {
    app: &'a Arc<App>,
    peer: &'a Peer,
    session: Arc<Session>,
    id: Value,
    plan: Plan,
    streams_ok: bool,
}

impl Call<'_> {
    async fn answer(self, method: &str, params: &Value) -> Response<ResponseBody> {
        let reply = match method {
            "ping" => rpc_result(self.id, json!({})),
            "tools/list" => rpc_result(self.id, tools()),
            "tools/call" => return self.tools_call(params).await,
            _ => rpc_error(self.id, METHOD_NOT_FOUND, "Method not found"),
        };
        http::json(StatusCode::OK, &reply)
    }

    async fn tools_call(mut self, params: &Value) -> Response<ResponseBody> {
        let args = &params["arguments"];
        let reply = match params["name"].as_str() {
            Some("echo") => match args["text"].as_str() {
                Some(text) => rpc_result(self.id, text_result(text)),
                None => rpc_error(
                    self.id,
                    INVALID_PARAMS,
                    "echo needs arguments.text, a string",
                ),
            },
            Some("count") => {
                match args
                    .get("n")
                    .map(|n| n.as_u64().filter(|n| (1..=MAX_COUNT).contains(n)))
                {
                    Some(None) => rpc_error(self.id, INVALID_PARAMS, "count needs 1 <= n <= 10000"),
                    n => {
                        if let Some(Some(n)) = n {
                            self.plan.tokens = n as u32;
                        }
                        let token = params["_meta"]["progressToken"].clone();
                        let token = (token.is_string() || token.is_i64()).then_some(token);
                        return self.count(token).await;
                    }
                }
            }
            _ => rpc_error(self.id, INVALID_PARAMS, "Unknown tool"),
        };
        http::json(StatusCode::OK, &reply)
    }

    /// `count`: as a stream when the client accepts one, else one JSON answer at the end.
    async fn count(self, token: Option<Value>) -> Response<ResponseBody> {
        let behaviour = self.app.behaviour;
        let heartbeat = self.app.config.heartbeat;
        let log = self.session.new_stream('s', behaviour);
        let counting = Counting {
            plan: self.plan,
            id: self.id,
            token,
            behaviour,
            heartbeat,
        };
        let expected = counting.expected_events();
        tokio::spawn(counting.run(Arc::clone(&self.session), Arc::clone(&log)));
        if !self.streams_ok {
            return json_when_done(&log).await;
        }
        let (wire, res) = wire::open(Arc::clone(&self.peer.conn), wire_options(self.app, true));
        let cut_at = behaviour.mock_cut_after(expected);
        tokio::spawn(follow(log.follow(0), wire, cut_at));
        res
    }
}

fn text_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": false})
}

/// Waits for a stream's last message and answers it as plain JSON.
async fn json_when_done(log: &Arc<StreamLog>) -> Response<ResponseBody> {
    let mut follower = log.follow(0);
    loop {
        match follower.next() {
            Step::Wait => follower.changed().await,
            Step::Send(_) => {}
            _ => break,
        }
    }
    match log.last_message() {
        Some(message) => http::json(StatusCode::OK, &message),
        None => refuse(StatusCode::INTERNAL_SERVER_ERROR, "the session ended first"),
    }
}

/// The `count` tool's generation, into the session's log.
struct Counting {
    plan: Plan,
    id: Value,
    token: Option<Value>,
    behaviour: Behaviour,
    heartbeat: Option<std::time::Duration>,
}

impl Counting {
    /// Progress notifications plus the response.
    fn expected_events(&self) -> u32 {
        let progress = if self.token.is_some() {
            self.plan.produced()
        } else {
            0
        };
        progress + 1
    }

    async fn run(self, session: Arc<Session>, log: Arc<StreamLog>) {
        tokio::select! {
            _ = session.ended() => {}
            _ = self.generate(&log) => {}
        }
        log.close();
    }

    async fn generate(&self, log: &StreamLog) {
        let plan = &self.plan;
        tokio::time::sleep(self.behaviour.mock_think(plan.think, self.heartbeat)).await;
        for i in 1..=plan.produced() {
            tokio::time::sleep(plan.token_every).await;
            if let Some(token) = &self.token {
                log.push(&json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {"progressToken": token, "progress": i, "total": plan.tokens, "message": i.to_string()},
                }));
            }
        }
        if !plan.fails() {
            let text: Vec<String> = (1..=plan.produced()).map(|i| i.to_string()).collect();
            log.push(&rpc_result(self.id.clone(), text_result(&text.join(" "))));
        } else if self.behaviour.mock_error_as_reset() {
            log.reset();
        } else {
            let why = format!(
                "the mock tool failed after {} (fail_after)",
                plan.produced()
            );
            log.push(&rpc_error(self.id.clone(), INTERNAL_ERROR, &why));
        }
    }
}

/// The server-to-client stream's content: `notifications/message` ticks at the token pace;
/// after the last one the stream stays open (heartbeats) until the client or session leaves.
async fn ticks(session: Arc<Session>, log: Arc<StreamLog>, plan: Plan) {
    let generate = async {
        for i in 1..=plan.tokens {
            tokio::time::sleep(plan.token_every).await;
            log.push(&json!({
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "logger": "ssekit-mock", "data": format!("tick {i}")},
            }));
        }
    };
    tokio::select! {
        _ = session.ended() => log.close(),
        _ = generate => {}
    }
}

/// Writes a stream's log to one connection; `cut_at` cuts it inside that event (`cut-mid-stream`).
async fn follow(follower: Follower, wire: Wire, cut_at: Option<u32>) {
    let _ = pump(follower, wire, cut_at).await;
}

async fn pump(mut follower: Follower, mut wire: Wire, cut_at: Option<u32>) -> Result<(), Gone> {
    let mut sent = 0;
    loop {
        match follower.next() {
            Step::Send(frames) => {
                for frame in frames {
                    if cut_at == Some(sent) {
                        wire.cut(&frame[..frame.len() / 2]).await;
                        return Ok(());
                    }
                    wire.send(frame).await?;
                    sent += 1;
                }
            }
            Step::Wait => wire.idle(follower.changed()).await?,
            Step::End | Step::TakenOver => {
                wire.finish().await;
                return Ok(());
            }
            Step::Reset => {
                wire.cut(b"").await;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sorted_by_their_members() {
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
        assert!(matches!(classify(&req), Ok(Posted::Request { .. })));
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(classify(&note), Ok(Posted::NoReply));
        let resp = json!({"jsonrpc": "2.0", "id": "a", "result": {}});
        assert_eq!(classify(&resp), Ok(Posted::NoReply));
        assert!(classify(&json!([req])).is_err());
        assert!(classify(&json!({"id": 1, "method": "ping"})).is_err());
        assert!(classify(&json!({"jsonrpc": "2.0", "id": 1})).is_err());
    }
}
