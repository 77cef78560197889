#!/bin/bash
# Squid as a reverse proxy with read_timeout 3 seconds in front of a server with no heartbeat and
# no ticker (proxies/squid/idle.conf): an idle stream is cut after 3 s, between events.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need squid
upstream --heartbeat 0
squid_start idle.conf
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
