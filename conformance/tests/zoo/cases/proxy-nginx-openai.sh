#!/bin/bash
# nginx as recommended for SSE (proxy/nginx/recommended.conf: proxy_buffering off) in front of
# ssekit serve's mock OpenAI chat completions, one token every 100 ms (?token_ms=100): every
# chunk goes through as the model makes it.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream
nginx_start recommended.conf
emit_args "http://127.0.0.1:$PORT/v1/chat/completions?token_ms=100" --profile openai
