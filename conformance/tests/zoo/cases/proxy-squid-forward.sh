#!/bin/bash
# Squid as a forward proxy (proxies/squid/forward.conf): the runner is told to use it with
# --proxy and asks for the server's own URL, as a client behind a corporate proxy does.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need squid
"$SSEKIT" check --help 2>/dev/null | grep -q -- '--proxy' || skip "ssekit check has no --proxy option yet"
upstream --tick-ms 200 --heartbeat 1
squid_start forward.conf
emit_args "http://127.0.0.1:$UP/stream" --publish "http://127.0.0.1:$UP/publish" --proxy "http://127.0.0.1:$PORT"
