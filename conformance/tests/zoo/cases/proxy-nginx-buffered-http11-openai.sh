#!/bin/bash
# The same buffering nginx (proxy_buffering on, X-Accel-Buffering: no ignored) but with
# proxy_http_version 1.1 (proxy/nginx/buffered-http11.conf), in front of the mock OpenAI chat
# completions, one token every 100 ms: the chunked answer goes through chunk by chunk.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream
nginx_start buffered-http11.conf
emit_args "http://127.0.0.1:$PORT/v1/chat/completions?token_ms=100" --profile openai
