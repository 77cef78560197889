#!/bin/bash
# Caddy as recommended for SSE (proxies/caddy/recommended.Caddyfile): reverse_proxy with
# flush_interval -1.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need caddy
upstream --tick-ms 200 --heartbeat 1
caddy_start recommended.Caddyfile
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
