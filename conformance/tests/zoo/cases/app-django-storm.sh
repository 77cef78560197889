#!/usr/bin/env bash
# The Django app of app-django under gunicorn's gthread worker with 32 threads, met by a
# reconnect storm (R05): apps/python/django_sse_app.py.
source "$ZOO/lib.sh"
django_app gthread 'application(gzip=False)'
