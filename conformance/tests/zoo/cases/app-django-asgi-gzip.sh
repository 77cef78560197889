#!/usr/bin/env bash
# The same ASGI app with django.middleware.gzip.GZipMiddleware first in MIDDLEWARE, which on
# an async streaming response compresses every chunk as a gzip file of its own:
# apps/python/django_sse_app.py.
source "$ZOO/lib.sh"

need_python_packages django uvicorn
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (apt-get install chromium): the case asks a real EventSource"
port=$(free_port)
start_app django "$port" "$ZOO_VENV/bin/uvicorn" --factory --app-dir "$ZOO/apps/python" \
    --host 127.0.0.1 --port "$port" django_sse_app:asgi_gzip
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --browser
