#!/bin/bash
# Caddy with buffer_responses (proxies/caddy/buffer.Caddyfile): the response body is read whole
# before anything is written, and an event stream never ends.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need caddy
upstream --tick-ms 200 --heartbeat 1
caddy_start buffer.Caddyfile
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish" --timeout 2
