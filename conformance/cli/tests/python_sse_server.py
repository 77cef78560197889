#!/usr/bin/env python3
"""A small, typical SSE endpoint written with Python's standard library only: the kind of
server `ssekit check` is meant for, not written by its authors' rules.

    python3 python_sse_server.py [PORT [PORT2]]   # prints "listening on PORT", then serves
                                                  # (PORT2: a second "instance" sharing state)

GET  /stream      text/event-stream: `retry: 2000`, numbered events with ids (one every 200 ms
                  from a ticker), published events, a `: ping` comment every second when idle.
                  Last-Event-ID is ignored (no replay), as in most hand-written servers.
POST /publish     JSON {"event"?, "data"} -> {"id"}: broadcast to every open stream.
GET  /loop        302 to itself (a redirect loop).
GET  /cors-star   the stream, with `Access-Control-Allow-Origin: *` and credentials allowed.
GET  /named-empty published events only (no ticker), and heartbeats are `event: ping` blocks
                  without data (never dispatched by browsers).
GET  /auth-401    the stream; without `Authorization: Bearer good` it answers 401.
GET  /auth-error  the stream; without that header it answers 200, an `event: error`, then EOF.
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Condition()
EVENTS = []  # (id, event, data)


def publish(event, data):
    with LOCK:
        ident = str(len(EVENTS) + 1)
        EVENTS.append((ident, event, data))
        LOCK.notify_all()
        return ident


def ticker():
    n = 0
    while True:
        time.sleep(0.2)
        n += 1
        publish("tick", str(n))


def frame(ident, event, data):
    out = "id: %s\n" % ident
    if event:
        out += "event: %s\n" % event
    for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        out += "data: %s\n" % line
    return (out + "\n").encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if path not in ("/stream", "/cors-star", "/named-empty", "/auth-401", "/auth-error"):
            self.send_error(404)
            return
        authorized = self.headers.get("Authorization") == "Bearer good"
        if path == "/auth-401" and not authorized:
            self.send_error(401)
            return
        if path == "/auth-error" and not authorized:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"event: error\ndata: unauthorized\n\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if path == "/cors-star":
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Credentials", "true")
        self.end_headers()
        heartbeat = b"event: ping\n\n" if path == "/named-empty" else b": ping\n\n"
        try:
            self.wfile.write(b"retry: 2000\n\n")
            self.wfile.flush()
            with LOCK:
                cursor = len(EVENTS)
            while True:
                with LOCK:
                    if len(EVENTS) == cursor:
                        LOCK.wait(1.0)
                    fresh = EVENTS[cursor:]
                    cursor = len(EVENTS)
                if path == "/named-empty":
                    fresh = [e for e in fresh if e[1] != "tick"]
                if fresh:
                    self.wfile.write(b"".join(frame(*e) for e in fresh))
                else:
                    self.wfile.write(heartbeat)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return

    def do_POST(self):
        if self.path.split("?")[0] != "/publish":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            ident = publish(body.get("event"), str(body["data"]))
        except (ValueError, KeyError):
            self.send_error(400)
            return
        answer = json.dumps({"id": ident}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=ticker, daemon=True).start()
    if len(sys.argv) > 2:
        second = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
        second.daemon_threads = True
        threading.Thread(target=second.serve_forever, daemon=True).start()
        print("listening on %d %d" % (server.server_address[1], second.server_address[1]), flush=True)
    else:
        print("listening on %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
