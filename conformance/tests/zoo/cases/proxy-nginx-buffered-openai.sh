#!/bin/bash
# nginx proxying as it does by default (proxy/nginx/buffered.conf: proxy_buffering on, HTTP/1.0
# to the upstream) with the server's X-Accel-Buffering: no ignored, in front of ssekit serve's
# mock OpenAI chat completions, one token every 100 ms (?token_ms=100): nginx holds the whole
# finite answer, head included, and releases it at once when the model has finished.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream
nginx_start buffered.conf
emit_args "http://127.0.0.1:$PORT/v1/chat/completions?token_ms=100" --profile openai
