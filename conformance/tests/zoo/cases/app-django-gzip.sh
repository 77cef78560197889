#!/usr/bin/env bash
# The same Django app with django.middleware.gzip.GZipMiddleware first in MIDDLEWARE, as its
# documentation places it: apps/python/django_sse_app.py.
source "$ZOO/lib.sh"

need_python_packages django gunicorn
port=$(free_port)
start_app django "$port" "$ZOO_VENV/bin/gunicorn" --chdir "$ZOO/apps/python" \
    --bind "127.0.0.1:$port" --worker-class gthread --threads 32 --workers 1 \
    'django_sse_app:application(gzip=True)'
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
