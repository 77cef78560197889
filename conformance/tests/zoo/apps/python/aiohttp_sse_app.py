"""aiohttp-sse's sse_response on aiohttp's own server, written the way its README does it.

/stream opens `sse_response(request)` and sends what a per-subscriber asyncio.Queue delivers
(data and event name, no ids: the README's examples send none); POST /publish broadcasts.
The library's default ping (a comment every 15 s) applies.

Usage: python aiohttp_sse_app.py PORT
"""

import asyncio
import sys

from aiohttp import web
from aiohttp_sse import sse_response

subscribers: set[asyncio.Queue] = set()


async def stream(request: web.Request) -> web.StreamResponse:
    queue: asyncio.Queue = asyncio.Queue()
    async with sse_response(request) as response:
        subscribers.add(queue)
        try:
            while response.is_connected():
                event = await queue.get()
                await response.send(event["data"], event=event.get("event"))
        finally:
            subscribers.discard(queue)
    return response


async def publish(request: web.Request) -> web.Response:
    body = await request.json()
    for queue in subscribers:
        queue.put_nowait(body)
    return web.json_response({})


app = web.Application()
app.router.add_get("/stream", stream)
app.router.add_post("/publish", publish)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
