#!/usr/bin/env bash
# Django's StreamingHttpResponse under gunicorn's threaded workers, startproject's middleware
# and no compression: apps/python/django_sse_app.py. The control for app-django-gzip.
source "$ZOO/lib.sh"
django_app gthread 'application(gzip=False)'
