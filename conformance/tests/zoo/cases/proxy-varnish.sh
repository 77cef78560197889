#!/bin/bash
# Varnish as recommended for SSE (proxies/varnish/recommended.vcl): streams passed (return
# (pass)), beresp.do_stream on, a long between_bytes_timeout.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need varnishd
upstream --tick-ms 200 --heartbeat 1
varnish_start recommended.vcl
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
