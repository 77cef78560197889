#!/bin/bash
# nginx with gzip on for text/event-stream, proxy buffering on and X-Accel-Buffering ignored
# (proxies/nginx/gzip.conf).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream --tick-ms 200 --heartbeat 1
nginx_start gzip.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
