#!/bin/bash
# Varnish passing the stream with beresp.do_stream = false (proxies/varnish/no-stream.vcl): the
# body is fetched whole before delivery, and an event stream never ends.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need varnishd
upstream --tick-ms 200 --heartbeat 1
varnish_start no-stream.vcl
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish" --timeout 2
