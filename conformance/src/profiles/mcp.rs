//! MCP Streamable HTTP (protocol revision 2025-06-18): a client POSTs one JSON-RPC message
//! with `Accept: application/json, text/event-stream`; the server answers a request with
//! either one JSON body or an event stream whose events each carry one JSON-RPC message
//! (notifications and requests of its own, then the response to the client's request, after
//! which it should close the stream). Event ids, when present, are unique per stream so a
//! client can resume with `Last-Event-ID`.

use std::collections::HashSet;

use ssekit_parser::OwnedEvent;

use super::{json, Judgement};

/// What this profile follows.
pub const SOURCE: &str = "MCP specification 2025-06-18, Basic: Transports (Streamable HTTP)";

/// The `Accept` an MCP client sends with every POST.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// The protocol revision the runner speaks.
pub const VERSION: &str = "2025-06-18";

/// The `initialize` request: the one every session starts with.
pub const DEFAULT_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ssekit-check","version":"0.1.0"}}}"#;

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
}
