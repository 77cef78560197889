#!/bin/bash
# nginx with proxy_read_timeout 3s in front of a server with no heartbeat and no ticker
# (proxies/nginx/idle.conf): an idle stream is cut after 3 s, between events.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream --heartbeat 0
nginx_start idle.conf
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
