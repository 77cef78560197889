#!/bin/bash
# HAProxy with long timeouts but without option http-no-delay (proxies/haproxy/default.cfg).
# The server runs without a ticker: only the runner's events cross the connection, so each one
# waits the full ~200 ms that MSG_MORE holds it (with a 200 ms ticker sharing the connection
# the wait varied from 48 to 216 ms, depending on when the next write came).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need haproxy
upstream --heartbeat 1
haproxy_start default.cfg
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
