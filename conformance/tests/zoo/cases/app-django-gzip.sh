#!/usr/bin/env bash
# The same Django app with django.middleware.gzip.GZipMiddleware first in MIDDLEWARE, as its
# documentation places it: apps/python/django_sse_app.py.
source "$ZOO/lib.sh"
django_app gthread 'application(gzip=True)'
