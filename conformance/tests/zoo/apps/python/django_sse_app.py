"""Django's StreamingHttpResponse as an SSE endpoint, served by gunicorn's threaded workers.

The view is the one Django SSE tutorials write: a generator over a per-subscriber queue that
yields `data:` frames, with a comment first (so the WSGI server sends the head at once) and a
comment every 15 s while idle. The middleware is the start of `startproject`'s list, and with
--gzip Django's own GZipMiddleware in front, where its documentation puts it.

Usage: gunicorn --worker-class gthread --threads 32 --workers 1 \
           'django_sse_app:application(gzip=False)'    (or gzip=True)
The single worker keeps every subscriber in one process, as a per-process queue must.
"""

import json
import queue
import threading

import django
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

subscribers = []
lock = threading.Lock()


def sse(data, event=None):
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in data.split("\n")]
    return "\n".join(lines) + "\n\n"


def events(request):
    q = queue.Queue()
    with lock:
        subscribers.append(q)

    def stream():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    yield q.get(timeout=15)
                except queue.Empty:
                    yield ": ping\n\n"
        finally:
            with lock:
                subscribers.remove(q)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt
def publish(request):
    body = json.loads(request.body)
    frame = sse(body["data"], body.get("event"))
    with lock:
        for q in subscribers:
            q.put(frame)
    return HttpResponse("{}", content_type="application/json")


urlpatterns = [path("events", events), path("publish", publish)]


def application(gzip=False):
    """The WSGI application, set up once per process (gunicorn's factory form)."""
    middleware = (["django.middleware.gzip.GZipMiddleware"] if gzip else []) + MIDDLEWARE
    settings.configure(
        DEBUG=False,
        SECRET_KEY="zoo-only-not-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=middleware,
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()
