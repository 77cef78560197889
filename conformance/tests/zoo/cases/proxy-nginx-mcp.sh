#!/usr/bin/env bash
# nginx as recommended for SSE (proxies/nginx/recommended.conf: proxy_buffering off, HTTP/1.1
# to the upstream) in front of the official MCP Python SDK's Streamable HTTP server
# (apps/python/mcp_python_app.py, one progress notification every 200 ms). The runner opens a
# session through nginx and sends a tools/call with a progress token.
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

need nginx
need_python_packages mcp uvicorn
UP=$(free_port)
start_app mcp-python "$UP" "$ZOO_VENV/bin/python" "$ZOO/apps/python/mcp_python_app.py" "$UP" --step-ms 200
nginx_start recommended.conf
cat >"$WORK/call.json" <<'JSON'
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"zoo-1"}}}
JSON
emit_args "http://127.0.0.1:$PORT/mcp" --profile mcp --data "@$WORK/call.json"
