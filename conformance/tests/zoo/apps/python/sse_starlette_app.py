"""sse-starlette's EventSourceResponse behind uvicorn, written the way its README does it.

A Starlette app whose /stream yields dicts (id, event, data) from a per-subscriber
asyncio.Queue, and a POST /publish that broadcasts to every queue. The library's defaults
apply: a ping comment every 15 s, or none with --ping 0 (the documented way to disable it).

Usage: python sse_starlette_app.py PORT [--ping SECONDS]
"""

import argparse
import asyncio
import itertools

import uvicorn
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

subscribers: set[asyncio.Queue] = set()
ids = itertools.count(1)
ping: float | None = None


async def stream(request: Request):
    queue: asyncio.Queue = asyncio.Queue()
    subscribers.add(queue)

    async def events():
        try:
            while True:
                yield await queue.get()
        finally:
            subscribers.discard(queue)

    return EventSourceResponse(events(), ping=ping)


async def publish(request: Request):
    body = await request.json()
    event = {"id": str(next(ids)), "data": body["data"]}
    if body.get("event"):
        event["event"] = body["event"]
    for queue in subscribers:
        queue.put_nowait(event)
    return JSONResponse({"id": event["id"]})


app = Starlette(
    routes=[
        Route("/stream", stream),
        Route("/publish", publish, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--ping", type=float, default=None)
    args = parser.parse_args()
    ping = args.ping
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
