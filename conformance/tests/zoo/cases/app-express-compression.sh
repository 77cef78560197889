#!/usr/bin/env bash
# The same Express app with app.use(compression()) and no res.flush(): apps/node/express-json.js.
source "$ZOO/lib.sh"

need_node_packages express compression
port=$(free_port)
start_app express "$port" node "$ZOO_NODE/express-json.js" "$port" --compression
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
