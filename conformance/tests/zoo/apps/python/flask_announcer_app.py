"""Flask with the widespread `MessageAnnouncer` pattern, on Flask's threaded dev server.

The pattern from a much-copied blog post: every listener gets a `queue.Queue(maxsize=5)`;
announcing puts the message on each queue with `put_nowait` and drops a listener whose queue
is full. A listener that is merely slower than the publisher for five messages is dropped,
and its stream then waits forever: nothing else is ever put on its queue. No ids, no heartbeat.

A WSGI server sends the response head only with the first body bytes, so as the post writes it
a subscriber gets no status until the first message. With --prime the generator first yields
a comment, as variants of the pattern do so that the browser's `open` fires at once.

Usage: python flask_announcer_app.py PORT [--prime]
"""

import queue
import sys

import flask

app = flask.Flask(__name__)


class MessageAnnouncer:
    def __init__(self):
        self.listeners = []

    def listen(self):
        q = queue.Queue(maxsize=5)
        self.listeners.append(q)
        return q

    def announce(self, msg):
        for i in reversed(range(len(self.listeners))):
            try:
                self.listeners[i].put_nowait(msg)
            except queue.Full:
                del self.listeners[i]


announcer = MessageAnnouncer()
prime = "--prime" in sys.argv


def format_sse(data: str, event=None) -> str:
    msg = f"data: {data}\n\n"
    if event is not None:
        msg = f"event: {event}\n{msg}"
    return msg


@app.route("/listen", methods=["GET"])
def listen():
    def stream():
        messages = announcer.listen()  # returns a queue.Queue
        if prime:
            yield ": connected\n\n"
        while True:
            msg = messages.get()  # blocks until a new message arrives
            yield msg

    return flask.Response(stream(), mimetype="text/event-stream")


@app.route("/publish", methods=["POST"])
def publish():
    body = flask.request.get_json()
    announcer.announce(msg=format_sse(data=body["data"], event=body.get("event")))
    return {}, 200


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
