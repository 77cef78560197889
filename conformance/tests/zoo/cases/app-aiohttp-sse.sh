#!/usr/bin/env bash
# aiohttp-sse (sse_response, default 15 s ping) on aiohttp's server: apps/python/aiohttp_sse_app.py.
source "$ZOO/lib.sh"

need_python_packages aiohttp aiohttp_sse
port=$(free_port)
start_app aiohttp-sse "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/aiohttp_sse_app.py" "$port"
emit_args "http://127.0.0.1:$port/stream" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
