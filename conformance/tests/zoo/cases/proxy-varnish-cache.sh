#!/bin/bash
# Varnish with only the built-in VCL (proxies/varnish/default.vcl) in front of a server that
# marks the stream cacheable (ssekit serve --misbehave cacheable: public, max-age=3600, ETag).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need varnishd
upstream --tick-ms 200 --heartbeat 1 --misbehave cacheable
varnish_start default.vcl
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
