#!/bin/bash
# Squid as a reverse proxy (accelerator) in front of the stream (proxies/squid/accel.conf).
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need squid
upstream --tick-ms 200 --heartbeat 1
squid_start accel.conf
emit_args "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$UP/publish"
