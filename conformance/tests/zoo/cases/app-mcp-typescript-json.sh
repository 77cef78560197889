#!/usr/bin/env bash
# The same official MCP TypeScript SDK server with enableJsonResponse (apps/node/mcp-typescript.mjs
# --json-response): every request, here the runner's default tools/list, is answered with one
# application/json body, which Streamable HTTP allows: there is no event stream to judge.
source "$ZOO/lib.sh"

need_node_packages @modelcontextprotocol/sdk express zod
port=$(free_port)
start_app mcp-typescript-json "$port" node "$ZOO/apps/node/mcp-typescript.mjs" "$port" --json-response
emit_args "http://127.0.0.1:$port/mcp" --profile mcp
