#!/usr/bin/env bash
# The Django app of app-django under gunicorn's defaults: one sync worker, which serves one
# request at a time: apps/python/django_sse_app.py.
source "$ZOO/lib.sh"

need_python_packages django gunicorn
port=$(free_port)
start_app django "$port" "$ZOO_VENV/bin/gunicorn" --chdir "$ZOO/apps/python" \
    --bind "127.0.0.1:$port" 'django_sse_app:application(gzip=False)'
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
