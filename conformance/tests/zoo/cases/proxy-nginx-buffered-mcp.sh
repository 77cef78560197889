#!/usr/bin/env bash
# nginx proxying as it does by default (proxies/nginx/buffered.conf: proxy_buffering on, HTTP/1.0
# to the upstream, the server's X-Accel-Buffering ignored) in front of the official MCP Python
# SDK's Streamable HTTP server (apps/python/mcp_python_app.py, one progress notification every
# 200 ms). The runner opens a session through nginx and sends a tools/call with a progress token.
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

need nginx
need_python_packages mcp uvicorn
UP=$(free_port)
start_app mcp-python "$UP" "$ZOO_VENV/bin/python" "$ZOO/apps/python/mcp_python_app.py" "$UP" --step-ms 200
nginx_start buffered.conf
cat >"$WORK/call.json" <<'JSON'
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"zoo-1"}}}
JSON
emit_args "http://127.0.0.1:$PORT/mcp" --profile mcp --data "@$WORK/call.json"
