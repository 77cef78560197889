#!/bin/bash
# Caddy with the http transport's read_timeout 3s in front of a server with no heartbeat and no
# ticker (proxies/caddy/idle.Caddyfile): an idle stream is cut after 3 s, between events.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need caddy
upstream --heartbeat 0
caddy_start idle.Caddyfile
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
