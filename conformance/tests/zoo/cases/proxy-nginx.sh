#!/bin/bash
# nginx as recommended for SSE (proxy/nginx/recommended.conf): proxy_buffering off,
# proxy_http_version 1.1, a long proxy_read_timeout. Everything the runner checks holds.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream --tick-ms 200 --heartbeat 1
nginx_start recommended.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
