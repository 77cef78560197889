//! `POST /v1/messages`, Anthropic-style. With `"stream": true` every event is typed twice,
//! as `event: X` and as `"type": X` in its JSON: `message_start`, `content_block_start`,
//! `ping`, one `content_block_delta` (`text_delta`) per token, `content_block_stop`,
//! `message_delta` (stop reason, output tokens) and `message_stop`. A failure after the stream
//! started is `event: error` with `{"type": "error", "error": {"type", "message"}}`, and the
//! stream ends there. Without `stream` the answer is one `message` object.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::generate::{Run, Shape};
use super::tokens::{count_words, Plan};
use super::{frame, read_json, unique_id, wire, wire_options};
use crate::http::{self, App, Peer, ResponseBody};

/// What the mock reads from a messages request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MessagesRequest {
    model: String,
    max_tokens: u32,
    stream: bool,
    input_tokens: u64,
}

/// An error as Anthropic reports it, in a body or in an `error` event.
fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn refuse(status: StatusCode, message: &str) -> Response<ResponseBody> {
    http::json(status, &error_body("invalid_request_error", message))
}

fn failure_message(produced: u32) -> String {
    format!("the mock model failed after {produced} tokens (fail_after)")
}

pub(super) async fn handle(
    app: &Arc<App>,
    peer: &Peer,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let mut plan = match Plan::new(&app.config.mock, req.uri().query()) {
        Ok(plan) => plan,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request = match read_json(req).await {
        Ok(body) => match MessagesRequest::parse(&body) {
            Ok(r) => r,
            Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
        },
        Err(e) => return refuse(e.status(), &e.to_string()),
    };
    let stop_reason = if plan.tokens > request.max_tokens {
        plan.tokens = request.max_tokens;
        "max_tokens"
    } else {
        "end_turn"
    };
    if !request.stream {
        return complete(&request, &plan, stop_reason);
    }
    let (wire, res) = wire::open(Arc::clone(&peer.conn), wire_options(app, true));
    let run = Run {
        shape: Events::new(request, stop_reason),
        plan,
        behaviour: app.behaviour,
        heartbeat: app.config.heartbeat,
    };
    tokio::spawn(run.drive(wire));
    res
}

impl MessagesRequest {
    fn parse(body: &Value) -> Result<MessagesRequest, &'static str> {
        let obj = body
            .as_object()
            .ok_or("the request body must be a JSON object")?;
        let model = obj
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or("model: a non-empty string is required")?;
        let max_tokens = obj
            .get("max_tokens")
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
            .ok_or("max_tokens: a positive integer is required")?;
        let messages = obj
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or("messages: a non-empty array is required")?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err("stream: must be a boolean"),
        };
        Ok(MessagesRequest {
            model: model.chars().take(200).collect(),
            max_tokens: u32::try_from(max_tokens).unwrap_or(u32::MAX),
            stream,
            input_tokens: messages
                .iter()
                .filter_map(|m| m.get("content").and_then(Value::as_str))
                .map(count_words)
                .sum(),
        })
    }
}

/// `stream: false`: one `message` object (or the failure as a 500 error body).
fn complete(request: &MessagesRequest, plan: &Plan, stop_reason: &str) -> Response<ResponseBody> {
    if plan.fails() {
        let body = error_body("api_error", &failure_message(plan.produced()));
        return http::json(StatusCode::INTERNAL_SERVER_ERROR, &body);
    }
    let body = json!({
        "id": format!("msg_{}", unique_id()),
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [{"type": "text", "text": plan.text()}],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": request.input_tokens, "output_tokens": plan.produced()},
    });
    http::json(StatusCode::OK, &body)
}

/// The events of one streamed message.
struct Events {
    request: MessagesRequest,
    id: String,
    stop_reason: &'static str,
}

impl Events {
    fn new(request: MessagesRequest, stop_reason: &'static str) -> Self {
        Events {
            request,
            id: format!("msg_{}", unique_id()),
            stop_reason,
        }
    }
}

/// An event whose JSON carries its own name as `type`.
fn typed(name: &str, mut body: Value) -> Bytes {
    body["type"] = Value::from(name);
    frame(Some(name), None, &body)
}

impl Shape for Events {
    fn head(&mut self) -> Vec<Bytes> {
        let message = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.request.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": self.request.input_tokens, "output_tokens": 1},
        });
        vec![
            typed("message_start", json!({"message": message})),
            typed(
                "content_block_start",
                json!({"index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            typed("ping", json!({})),
        ]
    }

    fn token(&mut self, text: &str) -> Bytes {
        typed(
            "content_block_delta",
            json!({"index": 0, "delta": {"type": "text_delta", "text": text}}),
        )
    }

    fn tail(&mut self, produced: u32) -> Vec<Bytes> {
        vec![
            typed("content_block_stop", json!({"index": 0})),
            typed(
                "message_delta",
                json!({
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                    "usage": {"output_tokens": produced},
                }),
            ),
            typed("message_stop", json!({})),
        ]
    }

    fn error(&mut self, produced: u32) -> Vec<Bytes> {
        let body = error_body("api_error", &failure_message(produced));
        vec![frame(Some("error"), None, &body)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_need_model_max_tokens_and_messages() {
        let ok = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a b"}], "stream": true});
        let r = MessagesRequest::parse(&ok).unwrap();
        assert_eq!((r.max_tokens, r.stream, r.input_tokens), (5, true, 2));
        let no_max = json!({"model": "m", "messages": [{}]});
        assert!(MessagesRequest::parse(&no_max)
            .unwrap_err()
            .contains("max_tokens"));
    }

    #[test]
    fn every_event_names_its_type_twice() {
        let r = MessagesRequest::parse(&json!({"model": "m", "max_tokens": 5, "messages": [{}]}))
            .unwrap();
        let mut events = Events::new(r, "end_turn");
        let all: Vec<Bytes> = [events.head(), vec![events.token("x")], events.tail(1)].concat();
        for f in &all {
            let text = std::str::from_utf8(f).unwrap();
            let name = text
                .strip_prefix("event: ")
                .unwrap()
                .split('\n')
                .next()
                .unwrap();
            assert!(text.contains(&format!("\"type\":\"{name}\"")), "{text}");
        }
    }
}
