#!/usr/bin/env bash
# sse-starlette (EventSourceResponse, default 15 s ping) on uvicorn: apps/python/sse_starlette_app.py.
source "$ZOO/lib.sh"

need_python_packages sse_starlette uvicorn starlette
port=$(free_port)
start_app sse-starlette "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/sse_starlette_app.py" "$port"
emit_args "http://127.0.0.1:$port/stream" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --timeout 15
