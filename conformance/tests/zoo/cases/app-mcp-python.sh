#!/usr/bin/env bash
# The official MCP Python SDK (mcp 2.x, MCPServer, once FastMCP) over Streamable HTTP with
# sessions (stateless_http=False): apps/python/mcp_python_app.py. The runner opens a session
# like a client and sends a tools/call with a progress token, which the SDK answers as an SSE
# stream: five notifications/progress (50 ms apart), then the JSON-RPC response, then the end.
source "$ZOO/lib.sh"

need_python_packages mcp uvicorn
port=$(free_port)
start_app mcp-python "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/mcp_python_app.py" "$port"
cat >"$WORK/call.json" <<'JSON'
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"zoo-1"}}}
JSON
emit_args "http://127.0.0.1:$port/mcp" --profile mcp --data "@$WORK/call.json"
