#!/usr/bin/env bash
# FastAPI StreamingResponse (no heartbeat code) on uvicorn: apps/python/fastapi_streaming_app.py.
source "$ZOO/lib.sh"

need_python_packages fastapi uvicorn
port=$(free_port)
start_app fastapi "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/fastapi_streaming_app.py" "$port"
emit_args "http://127.0.0.1:$port/stream" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
