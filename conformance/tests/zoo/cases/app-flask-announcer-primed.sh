#!/usr/bin/env bash
# Flask MessageAnnouncer (apps/python/flask_announcer_app.py) whose stream first yields a
# comment (--prime), so the head goes out at once and the event path can be judged.
source "$ZOO/lib.sh"

need_python_packages flask
port=$(free_port)
start_app flask "$port" "$ZOO_VENV/bin/python" "$ZOO/apps/python/flask_announcer_app.py" "$port" --prime
emit_args "http://127.0.0.1:$port/listen" --publish "http://127.0.0.1:$port/publish" --heartbeat-max 20 --timeout 10
