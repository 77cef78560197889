#!/usr/bin/env bash
# The official MCP TypeScript SDK (@modelcontextprotocol/sdk, StreamableHTTPServerTransport with
# a randomUUID session id generator, as its stateful example): apps/node/mcp-typescript.mjs. The
# runner opens a session like a client and sends a tools/call with a progress token, which the
# SDK answers as an SSE stream: five notifications/progress (50 ms apart), the JSON-RPC response,
# then the end.
source "$ZOO/lib.sh"

need_node_packages @modelcontextprotocol/sdk express zod
port=$(free_port)
start_app mcp-typescript "$port" node "$ZOO/apps/node/mcp-typescript.mjs" "$port"
cat >"$WORK/call.json" <<'JSON'
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"zoo-1"}}}
JSON
emit_args "http://127.0.0.1:$port/mcp" --profile mcp --data "@$WORK/call.json"
