#!/usr/bin/env bash
# nginx with gzip on for text/event-stream (proxies/nginx/gzip.conf: proxy_buffering on, HTTP/1.1
# to the upstream, X-Accel-Buffering ignored) in front of the official MCP Python SDK's
# Streamable HTTP server (apps/python/mcp_python_app.py, one progress notification every 200 ms).
# The runner opens a session through nginx and sends a tools/call with a progress token.
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

mcp_python_behind_nginx gzip.conf
