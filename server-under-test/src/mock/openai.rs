//! `POST /v1/chat/completions`, OpenAI-style. With `"stream": true` the answer is data-only
//! SSE: `chat.completion.chunk` objects (the role first, then one content delta per token, then
//! an empty delta with `finish_reason: "stop"`), an optional usage chunk, and `data: [DONE]`.
//! A failure mid-stream is a data-only `{"error": {...}}` chunk followed by `[DONE]`, which is
//! what the official clients raise on. Without `stream` the answer is one `chat.completion`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

use super::generate::{Run, Shape};
use super::tokens::{count_words, Plan};
use super::{frame, read_json, unique_id, unix_now, wire, wire_options};
use crate::behaviour::MockConduct;
use crate::http::{self, App, Peer, ResponseBody};

/// The end-of-stream sentinel clients wait for.
static DONE: Bytes = Bytes::from_static(b"data: [DONE]\n\n");

/// What the mock reads from a chat completion request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChatRequest {
    model: String,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
}

/// A request the mock refuses, as OpenAI reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

impl ApiError {
    fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
        }
    }

    /// OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`.
    fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }

    fn response(&self) -> Response<ResponseBody> {
        http::json(self.status, &self.body())
    }
}

/// The failure a `fail_after` generation reports.
fn failure(produced: u32) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("the mock model failed after {produced} tokens (fail_after)"),
        kind: "server_error",
        param: None,
        code: Some("mock_failure"),
    }
}

pub(super) async fn handle(
    app: &Arc<App>,
    peer: &Peer,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let plan = match Plan::new(&app.config.mock, req.uri().query()) {
        Ok(plan) => plan,
        Err(e) => return ApiError::invalid(e.to_string(), None).response(),
    };
    let body = match read_json(req).await {
        Ok(body) => body,
        Err(e) => {
            let mut err = ApiError::invalid(e.to_string(), None);
            err.status = e.status();
            return err.response();
        }
    };
    let request = match ChatRequest::parse(&body) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    if !request.stream {
        return complete(&request, &plan);
    }
    let (wire, res) = wire::open(Arc::clone(&peer.conn), wire_options(app, true));
    let run = Run {
        shape: Chunks::new(request, app.behaviour.mock_done_sentinel()),
        plan,
        behaviour: app.behaviour,
        heartbeat: app.config.heartbeat,
    };
    tokio::spawn(run.drive(wire));
    res
}

impl ChatRequest {
    fn parse(body: &Value) -> Result<ChatRequest, ApiError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::invalid("the request body must be a JSON object", None))?;
        let model = obj
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("`model` must be a non-empty string", Some("model"))
            })?;
        let messages = obj
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::invalid("`messages` must be a non-empty array", Some("messages"))
            })?;
        let stream = match obj.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(ApiError::invalid(
                    "`stream` must be a boolean",
                    Some("stream"),
                ))
            }
        };
        let include_usage = obj
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let prompt_tokens = messages
            .iter()
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .map(count_words)
            .sum();
        Ok(ChatRequest {
            model: model.chars().take(200).collect(),
            stream,
            include_usage,
            prompt_tokens,
        })
    }

    fn usage(&self, completion: u32) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + u64::from(completion),
        })
    }
}

/// `stream: false`: one `chat.completion` object (or the failure as an error object).
fn complete(request: &ChatRequest, plan: &Plan) -> Response<ResponseBody> {
    if plan.fails() {
        return failure(plan.produced()).response();
    }
    let body = json!({
        "id": format!("chatcmpl-{}", unique_id()),
        "object": "chat.completion",
        "created": unix_now(),
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": plan.text()},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": request.usage(plan.produced()),
    });
    http::json(StatusCode::OK, &body)
}

/// The chunks of one streamed completion.
struct Chunks {
    request: ChatRequest,
    id: String,
    created: u64,
    done_sentinel: bool,
}

impl Chunks {
    fn new(request: ChatRequest, done_sentinel: bool) -> Self {
        Chunks {
            request,
            id: format!("chatcmpl-{}", unique_id()),
            created: unix_now(),
            done_sentinel,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Bytes {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.request.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        frame(None, None, &chunk)
    }

    fn done(&self) -> Option<Bytes> {
        self.done_sentinel.then(|| DONE.clone())
    }
}

impl Shape for Chunks {
    fn head(&mut self) -> Vec<Bytes> {
        vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
    }

    fn token(&mut self, text: &str) -> Bytes {
        self.chunk(json!({"content": text}), None)
    }

    fn tail(&mut self, produced: u32) -> Vec<Bytes> {
        let mut frames = vec![self.chunk(json!({}), Some("stop"))];
        if self.request.include_usage {
            let usage = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.request.model,
                "choices": [],
                "usage": self.request.usage(produced),
            });
            frames.push(frame(None, None, &usage));
        }
        frames.extend(self.done());
        frames
    }

    fn error(&mut self, produced: u32) -> Vec<Bytes> {
        let mut frames = vec![frame(None, None, &failure(produced).body())];
        frames.extend(self.done());
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_or_refused_with_a_param() {
        let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}],
                        "stream": true, "stream_options": {"include_usage": true}});
        let r = ChatRequest::parse(&ok).unwrap();
        assert!(r.stream && r.include_usage);
        assert_eq!(r.prompt_tokens, 2);
        let no_messages = ChatRequest::parse(&json!({"model": "m", "messages": []}));
        assert_eq!(no_messages.unwrap_err().param, Some("messages"));
        let bad_stream = json!({"model": "m", "messages": [{}], "stream": "yes"});
        assert_eq!(
            ChatRequest::parse(&bad_stream).unwrap_err().param,
            Some("stream")
        );
        assert!(ChatRequest::parse(&json!([1])).is_err());
    }

    #[test]
    fn the_stream_ends_with_stop_then_done() {
        let r = ChatRequest::parse(&json!({"model": "m", "messages": [{}]})).unwrap();
        let mut chunks = Chunks::new(r, true);
        let tail = chunks.tail(3);
        assert!(std::str::from_utf8(&tail[0])
            .unwrap()
            .contains("\"finish_reason\":\"stop\""));
        assert_eq!(tail.last().unwrap(), &DONE);
        assert!(Chunks::new(
            ChatRequest::parse(&json!({"model": "m", "messages": [{}]})).unwrap(),
            false
        )
        .tail(1)
        .iter()
        .all(|f| f != &DONE));
    }
}
