#!/usr/bin/env bash
# The same ASGI app with django.middleware.gzip.GZipMiddleware first in MIDDLEWARE, which on
# an async streaming response compresses every chunk as a gzip file of its own:
# apps/python/django_sse_app.py.
source "$ZOO/lib.sh"
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (apt-get install chromium): the case asks a real EventSource"
django_app uvicorn asgi_gzip --browser
