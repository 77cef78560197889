//! An event as JSON (`{"id","event","data"}`), read back from its stored `text/event-stream`
//! frame with the project's parser: `/poll` answers and `/ws` frames then say exactly what a
//! stream subscriber would have seen (the same id, even under an id misbehaviour).

use bytes::Bytes;
use serde_json::{json, Value};
use ssekit_parser::{Frame, Parser};

/// The JSON object of the first event in `frame`.
pub(crate) fn event_json(frame: &[u8]) -> Value {
    let mut parser = Parser::new();
    let mut feed = parser.feed(frame);
    while let Some(frame) = feed.next_frame() {
        if let Ok(Frame::Event(e)) = frame {
            return json!({ "id": e.id, "event": e.event_type, "data": e.data });
        }
    }
    json!({ "id": "", "event": "message", "data": Value::Null })
}

/// [`event_json`] serialised, as one WebSocket text frame carries it (valid UTF-8).
pub(crate) fn event_json_bytes(frame: &[u8]) -> Bytes {
    Bytes::from(event_json(frame).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_type_and_data_back() {
        let v = event_json(b"id: e-1\nevent: tick\ndata: a\ndata: b\n\n");
        assert_eq!(v, json!({"id": "e-1", "event": "tick", "data": "a\nb"}));
        let v = event_json(b"data: x\n\n");
        assert_eq!(v["event"], "message");
        assert_eq!(v["data"], "x");
    }
}
