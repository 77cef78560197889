//! Anthropic-style messages streaming: typed events, each `event: X` with JSON data whose
//! `type` is `X`, in the order `message_start`, then per content block `content_block_start`,
//! `content_block_delta`…, `content_block_stop`, then `message_delta` and `message_stop`;
//! `ping` may come anywhere, and a failure is an `error` event.

use ssekit_parser::OwnedEvent;

use super::{json, Judgement};

/// What this profile follows.
pub const SOURCE: &str =
    "Anthropic Messages API, streaming messages (event flow message_start … message_stop)";

/// A request that asks for a short streamed message.
pub const DEFAULT_BODY: &str = r#"{"model":"ssekit-check","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Say hello."}]}"#;

const KNOWN: [&str; 8] = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
];

/// Judges a complete stream's events.
pub fn judge(events: &[&OwnedEvent]) -> Judgement {
    let mut j = Judgement::default();
    let mut open_blocks: Vec<u64> = Vec::new();
    let mut deltas = 0usize;
    let typed: Vec<&&OwnedEvent> = events.iter().filter(|e| e.event_type != "ping").collect();
    match typed.first() {
        Some(e) if e.event_type == "message_start" || e.event_type == "error" => {}
        Some(e) => j.problems.push(format!(
            "the first event is `{}`, not `message_start`",
            e.event_type
        )),
        None => j.problems.push("no event besides pings".into()),
    }
    for (n, e) in events.iter().enumerate() {
        if j.terminated {
            j.problems.push(format!(
                "event {n} (`{}`) comes after `message_stop`",
                e.event_type
            ));
            break;
        }
        if !KNOWN.contains(&e.event_type.as_str()) {
            j.problems
                .push(format!("event {n} has an unknown type `{}`", e.event_type));
            continue;
        }
        let value = match json(e, n) {
            Ok(v) => v,
            Err(problem) => {
                j.problems.push(problem);
                continue;
            }
        };
        let inner = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if inner != e.event_type {
            j.problems.push(format!(
                "event {n}: `event: {}` but its data says \"type\": {inner:?}",
                e.event_type
            ));
        }
        let index = value.get("index").and_then(|i| i.as_u64());
        match e.event_type.as_str() {
            "content_block_start" => open_blocks.extend(index),
            "content_block_delta" => {
                deltas += 1;
                if !index.is_some_and(|i| open_blocks.contains(&i)) {
                    j.problems.push(format!(
                        "event {n}: a delta for a block that was not started"
                    ));
                }
            }
            "content_block_stop" => open_blocks.retain(|b| Some(*b) != index),
            "message_stop" => j.terminated = true,
            "error" => {
                let error = value.get("error").unwrap_or(&value);
                let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("?");
                j.error_event = Some(message.to_owned());
                j.terminated = true;
            }
            _ => {}
        }
    }
    if !open_blocks.is_empty() && j.error_event.is_none() {
        j.problems
            .push(format!("content block(s) {open_blocks:?} never stopped"));
    }
    if !j.terminated {
        j.problems.push(
            "the stream ended without `message_stop` (or an `error` event): clients cannot tell it from a cut"
                .into(),
        );
    }
    j.summary = format!("{} event(s), {deltas} delta(s)", events.len());
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: &str, extra: &str) -> OwnedEvent {
        OwnedEvent {
            event_type: t.into(),
            data: format!(r#"{{"type":"{t}"{extra}}}"#),
            id: String::new(),
        }
    }

    #[test]
    fn the_documented_flow_passes() {
        let events = [
            ev("message_start", ""),
            ev("content_block_start", r#","index":0"#),
            ev("ping", ""),
            ev("content_block_delta", r#","index":0"#),
            ev("content_block_stop", r#","index":0"#),
            ev("message_delta", ""),
            ev("message_stop", ""),
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        assert!(j.problems.is_empty(), "{:?}", j.problems);
        assert!(j.terminated);
    }

    #[test]
    fn a_cut_flow_and_a_mismatched_type_are_named() {
        let mut bad = ev("content_block_delta", r#","index":0"#);
        bad.data = r#"{"type":"delta","index":0}"#.into();
        let events = [
            ev("message_start", ""),
            ev("content_block_start", r#","index":0"#),
            bad,
        ];
        let j = judge(&events.iter().collect::<Vec<_>>());
        let all = j.problems.join(" | ");
        assert!(all.contains("without `message_stop`"), "{all}");
        assert!(all.contains("\"type\": \"delta\""), "{all}");
        assert!(all.contains("never stopped"), "{all}");
    }
}
