#!/usr/bin/env bash
# Flask with the MessageAnnouncer pattern (queue.Queue(maxsize=5) per listener) on its threaded
# dev server: apps/python/flask_announcer_app.py.
source "$ZOO/lib.sh"

need_python_packages flask
port=$(free_port)
start_app flask "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/flask_announcer_app.py" "$port"
emit_args "http://127.0.0.1:$port/listen" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20
