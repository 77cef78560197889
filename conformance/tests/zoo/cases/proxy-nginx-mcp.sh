#!/usr/bin/env bash
# nginx as recommended for SSE (proxies/nginx/recommended.conf: proxy_buffering off, HTTP/1.1
# to the upstream) in front of the official MCP Python SDK's Streamable HTTP server
# (apps/python/mcp_python_app.py, one progress notification every 200 ms).
source "$ZOO/lib.sh"
source "$ZOO/proxies/proxy-lib.sh"

mcp_python_behind_nginx recommended.conf
