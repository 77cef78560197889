#!/usr/bin/env bash
# better-sse (default JSON serializer, UUID ids, 10 s keep-alive) on Express: apps/node/better-sse.js.
source "$ZOO/lib.sh"

need_node_packages express better-sse
port=$(free_port)
start_app better-sse "$port" node "$ZOO_NODE/better-sse.js" "$port"
emit_args "http://127.0.0.1:$port/sse" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --timeout 10
