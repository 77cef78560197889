#!/usr/bin/env bash
# The same official MCP Python SDK server in its JSON response mode (json_response=True):
# apps/python/mcp_python_app.py --json-response. Every request, here the runner's default
# tools/list, is answered with one application/json body, which Streamable HTTP allows: there
# is no event stream to judge.
source "$ZOO/lib.sh"

need_python_packages mcp uvicorn
port=$(free_port)
start_app mcp-python-json "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/mcp_python_app.py" "$port" --json-response
emit_args "http://127.0.0.1:$port/mcp" --profile mcp
