#!/usr/bin/env bash
# Django's StreamingHttpResponse over an async generator under uvicorn (ASGI), startproject's
# middleware and no compression, asked of headless Chromium too: apps/python/django_sse_app.py.
# The control for app-django-asgi-gzip.
source "$ZOO/lib.sh"
command -v chromium >/dev/null 2>&1 || skip "chromium is not installed (apt-get install chromium): the case asks a real EventSource"
django_app uvicorn asgi_plain --browser
