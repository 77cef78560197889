"""A thread-per-request event hub in Flask, speaking `ssekit load`'s format.

Written the way Flask's docs stream a response and the way long-polling is usually done with
threads: every held request is a thread blocked on one `threading.Condition`, which a publish
notifies. Whatever serves it (Werkzeug's threaded server: a thread per connection; gunicorn's
sync workers: one request per process), the cost is per *held request*, and a stream and a
long poll both hold one.

- GET /stream: an SSE stream (`id:` and `data:` lines, a comment first so the head goes out at
  once, a comment every 15 s when idle). Resumes after `Last-Event-ID` if still buffered.
- GET /poll?after=ID&timeout=S: `{"events": [{"id", "event", "data"}], "next": ID}`, held up
  to S seconds (at most 25) until an event after ID exists.
- POST /publish: `{"data": TEXT}` or an array of them; answers `{"id": LAST}`.

Usage: python flask_hub.py PORT          (Werkzeug's threaded server)
       gunicorn -w N -b 127.0.0.1:PORT flask_hub:app
"""

import collections
import sys
import threading

import flask

app = flask.Flask(__name__)

# The last events, for resuming and for polls that come back after missing some.
KEEP = 1024
events = collections.deque(maxlen=KEEP)  # (id, data), ids 1, 2, 3, ...
last_id = 0
changed = threading.Condition()


def after(cursor):
    """The buffered events after `cursor` (caller holds `changed`)."""
    return [e for e in events if e[0] > cursor]


def cursor_of(text):
    try:
        return max(0, int(text))
    except (TypeError, ValueError):
        return last_id  # no cursor: from now on


@app.get("/stream")
def stream():
    with changed:
        cursor = cursor_of(flask.request.headers.get("Last-Event-ID"))

    def generate(cursor):
        yield ": connected\n\n"
        while True:
            with changed:
                changed.wait_for(lambda: last_id > cursor, timeout=15)
                fresh = after(cursor)
            if not fresh:
                yield ": keep-alive\n\n"
                continue
            cursor = fresh[-1][0]
            yield "".join(f"id: {i}\ndata: {data}\n\n" for i, data in fresh)

    return flask.Response(generate(cursor), mimetype="text/event-stream",
                          headers={"Cache-Control": "no-cache"})


@app.get("/poll")
def poll():
    try:
        hold = min(25.0, max(0.0, float(flask.request.args.get("timeout", "20"))))
    except ValueError:
        return {"error": "timeout must be a number of seconds"}, 400
    with changed:
        cursor = cursor_of(flask.request.args.get("after"))
        changed.wait_for(lambda: last_id > cursor, timeout=hold)
        fresh = after(cursor)
        next_id = fresh[-1][0] if fresh else cursor
    return {
        "events": [{"id": str(i), "event": "message", "data": d} for i, d in fresh],
        "next": str(next_id),
    }


@app.post("/publish")
def publish():
    global last_id
    body = flask.request.get_json(silent=True)
    messages = body if isinstance(body, list) else [body]
    if not all(isinstance(m, dict) and "data" in m for m in messages):
        return {"error": 'expected {"data": TEXT} or an array of them'}, 400
    with changed:
        for m in messages:
            last_id += 1
            events.append((last_id, str(m["data"])))
        changed.notify_all()
        return {"id": str(last_id)}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
