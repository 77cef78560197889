#!/bin/bash
# Apache httpd as recommended for SSE (proxies/apache/recommended.conf): mod_proxy_http with
# flushpackets=on and a long timeout.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need apache2
upstream --tick-ms 200 --heartbeat 1
apache_start recommended.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
