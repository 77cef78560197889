#!/bin/bash
# HAProxy with timeout server 3s in front of a server with no heartbeat (proxies/haproxy/idle.cfg).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need haproxy
upstream --heartbeat 0
haproxy_start idle.cfg
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
