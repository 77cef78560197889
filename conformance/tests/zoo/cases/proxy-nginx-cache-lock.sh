#!/bin/bash
# nginx with proxy_cache and proxy_cache_lock on in front of the stream
# (proxies/nginx/cache-lock.conf): a second subscriber waits for the first one's cache lock.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need nginx
upstream --tick-ms 200 --heartbeat 1
nginx_start cache-lock.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish" --timeout 3
