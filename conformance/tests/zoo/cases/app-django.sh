#!/usr/bin/env bash
# Django's StreamingHttpResponse under gunicorn's threaded workers, startproject's middleware
# and no compression: apps/python/django_sse_app.py. The control for app-django-gzip.
source "$ZOO/lib.sh"

need_python_packages django gunicorn
port=$(free_port)
start_app django "$port" "$ZOO_VENV/bin/gunicorn" --chdir "$ZOO/apps/python" \
    --bind "127.0.0.1:$port" --worker-class gthread --threads 32 --workers 1 \
    'django_sse_app:application(gzip=False)'
emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
