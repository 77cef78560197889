"""Django's StreamingHttpResponse as an SSE endpoint, the way Django SSE tutorials write it.

The view yields `data:` frames from a per-subscriber queue, a comment first (so the server
sends the head at once) and a comment every 15 s while idle. The middleware is the start of
`startproject`'s list, with Django's own GZipMiddleware first when asked (where its
documentation puts it). Two ways to serve it:

- WSGI, a sync generator, under gunicorn's threaded workers:
      gunicorn --worker-class gthread --threads 32 --workers 1 \
          'django_sse_app:application(gzip=False)'    (or gzip=True)
- ASGI, an async generator (Django 4.2+), under uvicorn:
      uvicorn --factory django_sse_app:asgi_gzip     (or asgi_plain)

One process keeps every subscriber, as a per-process queue must.
"""

import asyncio

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


async_subscribers = []


async def async_events(request):
    q = asyncio.Queue()
    async_subscribers.append(q)

    async def stream():
        try:
            yield ": connected\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(q.get(), timeout=15)
                except asyncio.TimeoutError:
                    yield ": ping\n\n"
        finally:
            async_subscribers.remove(q)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt
async def async_publish(request):
    body = json.loads(request.body)
    frame = sse(body["data"], body.get("event"))
    for q in async_subscribers:
        q.put_nowait(frame)
    return HttpResponse("{}", content_type="application/json")


def configure(gzip, urls):
    middleware = (["django.middleware.gzip.GZipMiddleware"] if gzip else []) + MIDDLEWARE
    global urlpatterns
    urlpatterns = urls
    settings.configure(
        DEBUG=False,
        SECRET_KEY="zoo-only-not-secret",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=middleware,
    )
    django.setup()


def application(gzip=False):
    """The WSGI application, set up once per process (gunicorn's factory form)."""
    configure(gzip, [path("events", events), path("publish", publish)])
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def asgi(gzip):
    configure(gzip, [path("events", async_events), path("publish", async_publish)])
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def asgi_gzip():
    """The ASGI application with GZipMiddleware (uvicorn --factory)."""
    return asgi(gzip=True)


def asgi_plain():
    """The ASGI application without compression (uvicorn --factory)."""
    return asgi(gzip=False)
