#!/bin/bash
# Apache httpd with ProxyTimeout 3 in front of a server with no heartbeat and no ticker
# (proxies/apache/idle.conf): an idle stream is cut after 3 s, between events.
set -euo pipefail
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"
need apache2
upstream --heartbeat 0
apache_start idle.conf
emit_args "http://127.0.0.1:$PORT/stream" --heartbeat-max 4
