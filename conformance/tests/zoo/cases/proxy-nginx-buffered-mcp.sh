#!/usr/bin/env bash
# nginx proxying as it does by default (proxies/nginx/buffered.conf: proxy_buffering on, HTTP/1.0
# to the upstream, the server's X-Accel-Buffering ignored) in front of the official MCP Python
# SDK's Streamable HTTP server (apps/python/mcp_python_app.py, one progress notification every
# 200 ms). The runner opens a session through nginx and sends a tools/call with a progress token.
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

mcp_python_behind_nginx buffered.conf
