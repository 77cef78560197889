#!/usr/bin/env bash
# nginx with nothing set for SSE (proxies/nginx/default.conf: proxy_buffering on, HTTP/1.0
# to the upstream, X-Accel-Buffering honoured) in front of the official MCP Python SDK's
# Streamable HTTP server (apps/python/mcp_python_app.py, one progress notification every 200 ms),
# which sends X-Accel-Buffering: no on its event streams. The runner opens a session through
# nginx and sends a tools/call with a progress token.
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

mcp_python_behind_nginx default.conf
