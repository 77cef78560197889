#!/bin/bash
# Apache httpd with mod_deflate on text/event-stream and flushpackets off
# (proxies/apache/deflate.conf).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need apache2
upstream --tick-ms 200 --heartbeat 1
apache_start deflate.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
