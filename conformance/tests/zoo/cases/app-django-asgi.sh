#!/usr/bin/env bash
# Django's StreamingHttpResponse over an async generator under uvicorn (ASGI), startproject's
# middleware and no compression: apps/python/django_sse_app.py. The control for
# app-django-asgi-gzip.
source "$ZOO/lib.sh"

need_python_packages django uvicorn
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (apt-get install chromium): the case asks a real EventSource"
port=$(free_port)
start_app django "$port" "$ZOO_VENV/bin/uvicorn" --factory --app-dir "$ZOO/apps/python" \
    --host 127.0.0.1 --port "$port" django_sse_app:asgi_plain
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --browser
