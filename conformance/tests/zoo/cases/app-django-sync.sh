#!/usr/bin/env bash
# The Django app of app-django under gunicorn's defaults: one sync worker, which serves one
# request at a time: apps/python/django_sse_app.py.
source "$ZOO/lib.sh"
django_app sync 'application(gzip=False)'
