"""FastAPI's StreamingResponse with media_type text/event-stream, behind uvicorn, as tutorials
write it: an async generator formats `data:` lines itself from a per-subscriber asyncio.Queue.
No ids, no heartbeat code, no retry.

Usage: python fastapi_streaming_app.py PORT
"""

import asyncio
import sys

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI()
subscribers: set[asyncio.Queue] = set()


@app.get("/stream")
async def stream(request: Request):
    queue: asyncio.Queue = asyncio.Queue()
    subscribers.add(queue)

    async def event_generator():
        try:
            while True:
                if await request.is_disconnected():
                    break
                message = await queue.get()
                if message.get("event"):
                    yield f"event: {message['event']}\n"
                yield f"data: {message['data']}\n\n"
        finally:
            subscribers.discard(queue)

    return StreamingResponse(event_generator(), media_type="text/event-stream")


@app.post("/publish")
async def publish(request: Request):
    message = await request.json()
    for queue in subscribers:
        queue.put_nowait(message)
    return {}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
