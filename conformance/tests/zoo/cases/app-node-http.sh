#!/usr/bin/env bash
# Node's http module, hand-written SSE with ids and a 15 s comment heartbeat: apps/node/plain-http.js.
source "$ZOO/lib.sh"

need_node_packages
port=$(free_port)
start_app node-http "$port" node "$ZOO_NODE/plain-http.js" "$port"
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --timeout 15
