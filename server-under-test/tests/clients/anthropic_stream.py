#!/usr/bin/env python3
"""Reads the mock messages stream of `ssekit serve` with the official `anthropic` client.

    python3 anthropic_stream.py BASE_URL [QUERY_JSON]

Prints one JSON line: {"text", "stop_reason", "events", "version"} when the stream was read to
its end, or {"error", "message", "text"} when the client raised. Exits 3 when the `anthropic`
package is missing (tests/mock.rs then SKIPs); it was written against anthropic==2.10.0
(`pip install anthropic==2.10.0`).
"""
import json
import sys

try:
    import anthropic
except ImportError:
    print("anthropic is not installed: pip install anthropic==2.10.0", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    base = sys.argv[1]
    query = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    client = anthropic.Anthropic(base_url=base, api_key="mock", max_retries=0, timeout=10)
    text, events, stop_reason = "", [], None
    try:
        stream = client.messages.create(
            model="mock-1",
            max_tokens=100,
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            extra_query=query,
        )
        for event in stream:
            events.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
            if event.type == "message_delta":
                stop_reason = event.delta.stop_reason
    except anthropic.APIError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e), "text": text}))
        return
    print(json.dumps({"text": text, "stop_reason": stop_reason, "events": events,
                      "version": anthropic.__version__}))


if __name__ == "__main__":
    main()
