#!/bin/bash
# Varnish with only the built-in VCL (proxies/varnish/default.vcl) in front of the stream.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need varnishd
upstream --tick-ms 200 --heartbeat 1
varnish_start default.vcl
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
