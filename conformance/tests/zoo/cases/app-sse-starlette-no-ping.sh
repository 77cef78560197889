#!/usr/bin/env bash
# sse-starlette with its ping switched off (ping=0, as its docs allow) on uvicorn.
source "$ZOO/lib.sh"

need_python_packages sse_starlette uvicorn starlette
port=$(free_port)
start_app sse-starlette "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/sse_starlette_app.py" "$port" --ping 0
emit_args "http://127.0.0.1:$port/stream" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
