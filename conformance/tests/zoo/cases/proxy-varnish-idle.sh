#!/bin/bash
# Varnish with between_bytes_timeout 3s in front of a server with no heartbeat and no ticker
# (proxies/varnish/idle.vcl): an idle stream is cut after 3 s, between events.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need varnishd
upstream --heartbeat 0
varnish_start idle.vcl
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
