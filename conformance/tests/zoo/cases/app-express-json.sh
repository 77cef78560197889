#!/usr/bin/env bash
# Express writing res.write(`data: ${JSON.stringify(x)}\n\n`) (the tutorial shape): apps/node/express-json.js.
source "$ZOO/lib.sh"

need_node_packages express
port=$(free_port)
start_app express "$port" node "$ZOO_NODE/express-json.js" "$port"
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --timeout 10
