//! OpenAI-compatible chat completions with `"stream": true`: data-only events, each a
//! `chat.completion.chunk` whose `choices[].delta` carries the tokens, one chunk with a
//! `finish_reason`, then the sentinel `data: [DONE]`. Errors are the API's error object.

use ssekit_parser::OwnedEvent;

use super::{json, Judgement};

/// What this profile follows.
pub const SOURCE: &str =
    "OpenAI API reference, Chat Completions streaming (chat.completion.chunk, data: [DONE])";

/// A request that asks for a short streamed completion.
pub const DEFAULT_BODY: &str = r#"{"model":"ssekit-check","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"Say hello."}]}"#;

/// The sentinel that ends the stream.
pub const DONE: &str = "[DONE]";

/// Judges a complete stream's events.
pub fn judge(events: &[&OwnedEvent]) -> Judgement {
    let mut j = Judgement::default();
    let mut ids = Vec::new();
    let mut finished = false;
    let mut tokens = 0usize;
    for (n, e) in events.iter().enumerate() {
        if j.terminated {
            j.problems.push(format!(
                "event {n} comes after `data: [DONE]`, which must be the last"
            ));
            break;
        }
        if e.data == DONE {
            j.terminated = true;
            continue;
        }
        if e.event_type != "message" && e.event_type != "error" {
            j.problems.push(format!(
                "event {n} is named `{}`: OpenAI streams are data-only",
                e.event_type
            ));
        }
        let value = match json(e, n) {
            Ok(v) => v,
            Err(problem) => {
                j.problems.push(problem);
                continue;
            }
        };
        if let Some(error) = value.get("error") {
            j.error_event = Some(error_text(error));
            if error.get("message").and_then(|m| m.as_str()).is_none() {
                j.problems
                    .push(format!("event {n}: the error object has no `message`"));
            }
            continue;
        }
        match chunk(&value) {
            Err(problem) => j.problems.push(format!("event {n}: {problem}")),
            Ok(c) => {
                tokens += c.tokens;
                finished |= c.finished;
                if let Some(id) = c.id {
                    ids.push(id);
                }
            }
        }
    }
    if ids.windows(2).any(|w| w[0] != w[1]) {
        j.problems
            .push("chunks carry different completion ids: one stream is one completion".into());
    }
    if !finished && j.error_event.is_none() {
        j.problems
            .push("no chunk carries a `finish_reason` (stop, length, tool_calls …)".into());
    }
    if !j.terminated {
        j.problems.push(
            "the stream ended without `data: [DONE]`: clients cannot tell it from a cut".into(),
        );
    }
    j.summary = format!(
        "{} chunk(s), {tokens} content delta(s){}",
        events.len(),
        if j.terminated { ", then [DONE]" } else { "" }
    );
    j
}

/// What one chunk held.
struct Chunk {
    id: Option<String>,
    tokens: usize,
    finished: bool,
}

fn chunk(v: &serde_json::Value) -> Result<Chunk, String> {
    let object = v.get("object").and_then(|o| o.as_str());
    if object != Some("chat.completion.chunk") {
        return Err(format!(
            "`object` is {}, not \"chat.completion.chunk\"",
            object.map_or("missing".into(), |o| format!("{o:?}"))
        ));
    }
    let choices = v
        .get("choices")
        .and_then(|c| c.as_array())
        .ok_or("no `choices` array")?;
    let mut tokens = 0;
    let mut finished = false;
    for choice in choices {
        let delta = choice.get("delta").ok_or("a choice has no `delta`")?;
        if !delta.is_object() {
            return Err("a choice's `delta` is not an object".into());
        }
        tokens += usize::from(delta.get("content").is_some_and(|c| c.is_string()));
        finished |= choice.get("finish_reason").is_some_and(|f| !f.is_null());
    }
    Ok(Chunk {
        id: v.get("id").and_then(|i| i.as_str()).map(str::to_owned),
        tokens,
        finished,
    })
}

fn error_text(error: &serde_json::Value) -> String {
    let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("?");
    let kind = error
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("error");
    format!("{kind}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event_type: &str, data: &str) -> OwnedEvent {
        OwnedEvent {
            event_type: event_type.into(),
            data: data.into(),
            id: String::new(),
        }
    }

    fn chunk(content: &str, finish: &str) -> OwnedEvent {
        ev(
            "message",
            &format!(
                r#"{{"id":"c1","object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"{content}"}},"finish_reason":{finish}}}]}}"#
            ),
        )
    }

    #[test]
    fn a_complete_stream_passes() {
        let events = [
            chunk("Hel", "null"),
            chunk("lo", "\"stop\""),
            ev("message", DONE),
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        assert!(j.problems.is_empty(), "{:?}", j.problems);
        assert!(j.terminated);
        assert_eq!(j.summary, "3 chunk(s), 2 content delta(s), then [DONE]");
    }

    #[test]
    fn a_missing_sentinel_and_a_bad_chunk_are_named() {
        let events = [chunk("Hel", "null"), ev("delta", "{\"object\":\"x\"}")];
        let j = judge(&events.iter().collect::<Vec<_>>());
        assert!(!j.terminated);
        let all = j.problems.join(" | ");
        assert!(all.contains("without `data: [DONE]`"), "{all}");
        assert!(all.contains("named `delta`"), "{all}");
        assert!(all.contains("not \"chat.completion.chunk\""), "{all}");
    }

    #[test]
    fn an_error_object_is_an_error_event() {
        let events = [
            chunk("Hel", "null"),
            ev(
                "message",
                r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            ),
            ev("message", DONE),
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        assert_eq!(j.error_event.as_deref(), Some("server_error: overloaded"));
        assert!(j.problems.is_empty(), "{:?}", j.problems);
    }
}
