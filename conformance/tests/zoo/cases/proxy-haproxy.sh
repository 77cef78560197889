#!/bin/bash
# HAProxy recommended: option http-no-delay and long client/server timeouts (proxies/haproxy/recommended.cfg).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need haproxy
upstream --tick-ms 200 --heartbeat 1
haproxy_start recommended.cfg
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
