#!/usr/bin/env python3
"""Reads the mock chat-completions stream of `ssekit serve` with the official `openai` client.

    python3 openai_stream.py BASE_URL [QUERY_JSON]

Prints one JSON line: {"text", "finish_reason", "chunks", "version"} when the stream was read to
its end, or {"error", "message", "text"} when the client raised. Exits 3 when the `openai`
package is missing (tests/mock.rs then SKIPs); it was written against openai==3.51.0
(`pip install openai==3.51.0`).
"""
import json
import sys

try:
    import openai
except ImportError:
    print("openai is not installed: pip install openai==3.51.0", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    base = sys.argv[1]
    query = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    client = openai.OpenAI(base_url=base + "/v1", api_key="mock", max_retries=0, timeout=10)
    text, finish, chunks = "", None, 0
    try:
        stream = client.chat.completions.create(
            model="mock-1",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            extra_query=query,
        )
        for chunk in stream:
            chunks += 1
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finish = choice.finish_reason or finish
    except openai.APIError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e), "text": text}))
        return
    print(json.dumps({"text": text, "finish_reason": finish, "chunks": chunks,
                      "version": openai.__version__}))


if __name__ == "__main__":
    main()
