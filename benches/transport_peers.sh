#!/usr/bin/env bash
# The transport matrix's claims about servers other than ours, measured in the same run as
# `ssekit serve` (issue 15; docs/transports.md):
#
# 1. memory per idle connection in Node: an SSE endpoint on Node's `http` (res.write), one on
#    better-sse + Express, and a WebSocket endpoint on the `ws` package, at PEER_COUNTS
#    connections, next to `ssekit serve`'s /stream and /ws; at the first count events are also
#    published (PEER_RATE events/s) for deliveries per server CPU second;
# 2. thread-per-request: a Flask hub (benches/peers/python/flask_hub.py) on Werkzeug's
#    threaded server holding FLASK_COUNTS SSE streams and long polls (memory and threads per
#    held request, CPU per delivery) next to `ssekit serve`'s, and on gunicorn's sync workers
#    (GUNICORN_WORKERS workers, twice as many streams: what the extra ones get).
#
#   benches/transport_peers.sh OUT_DIR       (SKIP_BUILD=1: use the release ssekit as built)
#   PEER_COUNTS= FLASK_COUNTS=1000 benches/transport_peers.sh OUT_DIR   (an empty list skips)
#
# Sizes: PEER_COUNTS (default "1000 10000"), PEER_RATE (20), FLASK_COUNTS ("1000 5000"),
# FLASK_RATE (5), GUNICORN_WORKERS (4), PEER_DURATION (4 s of publishing). Port 23180.
#
# Each run writes OUT_DIR/peer-NAME.json (schema ssekit-load/1, plus `label`, the row's name,
# and, sampled every 0.2 s over the server and its child processes, `server_threads_max`,
# `server_tree_rss_max_kib` and `server_processes`); the table at the end
# (benches/peers/report.py) gives same-run ratios. Client and server share this machine's cores, so
# only the ratios mean anything. Node and Python packages are installed from the lock files in
# benches/peers/ (again only when a lock changed); a peer whose packages cannot be installed is
# skipped with the reason. About five minutes with the default sizes.
set -euo pipefail
OUT=${1:?usage: benches/transport_peers.sh OUT_DIR}
# Relative to the caller's directory, before moving to the repository's.
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
cd "$(dirname "$0")/.."
PEERS=benches/peers
PEER_COUNTS=${PEER_COUNTS-1000 10000}
PEER_RATE=${PEER_RATE:-20}
FLASK_COUNTS=${FLASK_COUNTS-1000 5000}
FLASK_RATE=${FLASK_RATE:-5}
GUNICORN_WORKERS=${GUNICORN_WORKERS:-4}
DURATION=${PEER_DURATION:-4}

echo "transport_peers: client and servers share this machine's $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg): only same-run ratios mean anything"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p ssekit
SSEKIT=${CARGO_TARGET_DIR:-target}/release/ssekit
# Every connection is a descriptor in the client and in the server.
ulimit -n "$(ulimit -Hn)"
PORT=23180
# A fresh source address per run: the previous run's ports sit in TIME_WAIT for a minute.
SRC=$(( (RANDOM % 200) + 20 ))
skipped=()

# --- installs (idempotent: redone only when a lock changed) ---

node_ready() {
  local dir=$PEERS/node stamp=$PEERS/node/node_modules/.package-lock.sha256 sum
  command -v node >/dev/null && command -v npm >/dev/null \
    || { skipped+=("Node peers: no node/npm (apt-get install nodejs npm)"); return 1; }
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && return 0
  echo "transport_peers: npm ci in $dir"
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "$sum" >"$stamp"
  else
    skipped+=("Node peers: npm ci failed in $dir"); return 1
  fi
}

python_ready() {
  local venv=$PEERS/python/.venv lock=$PEERS/python/requirements.txt sum
  command -v python3 >/dev/null || { skipped+=("Flask peers: no python3"); return 1; }
  sum=$(sha256sum "$lock" | cut -d' ' -f1)
  [ -f "$venv/.lock.sha256" ] && [ "$(cat "$venv/.lock.sha256")" = "$sum" ] && return 0
  echo "transport_peers: creating $venv from $lock"
  rm -rf "$venv"
  if python3 -m venv "$venv" \
    && "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary :all: -r "$lock"; then
    echo "$sum" >"$venv/.lock.sha256"
  else
    rm -rf "$venv"; skipped+=("Flask peers: venv or pip install from $lock failed"); return 1
  fi
}

# --- one server, one load run ---

# name, command...: starts the server, logging to OUT/peer-NAME.log -> PID
serve() { local name=$1; shift; "$@" >"$OUT/peer-$name.log" 2>&1 & PID=$!; wait_listening "$name"; }
wait_listening() {
  for _ in $(seq 150); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "transport_peers: $1 did not listen on 127.0.0.1:$PORT (see $OUT/peer-$1.log)" >&2
  stop; return 1
}
stop() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  # Let the ports and memory settle; gunicorn's workers end with their arbiter (graceful
  # timeout 1 s).
  sleep 1
}

# name label url transport -- ssekit load options: runs the load against the server at PID,
# sampling its threads and memory, and writes OUT/peer-NAME.json with the label added.
load() {
  local name=$1 label=$2 url=$3 transport=$4; shift 5
  local json=$OUT/peer-$name.json threads=0 rss=0 sample lpid
  SRC=$(( SRC % 250 + 1 ))
  echo "== $label: ssekit load $url --transport $transport $*"
  "$SSEKIT" load "$url" --transport "$transport" --publish "http://127.0.0.1:$PORT/publish" \
    --server-pid "$PID" --sources "127.0.0.$SRC" --json "$json" "$@" >"$OUT/peer-$name.txt" 2>&1 &
  lpid=$!
  # Threads and resident memory of the server and its children (gunicorn's workers), at most.
  while kill -0 "$lpid" 2>/dev/null; do
    # shellcheck disable=SC2046
    sample=$(cat $(printf '/proc/%s/status ' "$PID" $(pgrep -P "$PID")) 2>/dev/null \
      | awk '/^Threads:/ {t += $2} /^VmRSS:/ {r += $2} END {print t + 0, r + 0}')
    [ "${sample% *}" -gt "$threads" ] && threads=${sample% *}
    [ "${sample#* }" -gt "$rss" ] && rss=${sample#* }
    sleep 0.2
  done
  # Exit status 1 (losses, failed connects) is a finding, not a script error.
  wait "$lpid" || [ $? -eq 1 ] || { echo "   ssekit load failed: $(tail -3 "$OUT/peer-$name.txt")"; return 0; }
  sed -n 's/^/   /; /server RSS\|connect:\|CPU over\|latency\|complete readers/p' "$OUT/peer-$name.txt"
  python3 - "$json" "$label" "$threads" "$rss" "$(pgrep -c -P "$PID" || true)" <<'EOF'
import json, sys
path, label = sys.argv[1], sys.argv[2]
threads, rss, children = (int(x or 0) for x in sys.argv[3:6])
with open(path) as f:
    report = json.load(f)
report["label"] = label
report["server_threads_max"] = threads
report["server_processes"] = 1 + children
report["server_tree_rss_max_kib"] = rss
with open(path, "w") as f:
    json.dump(report, f, indent=2)
EOF
}

# count [rate]: the load options of an idle run (rate empty) or a publishing one.
opts() {
  if [ -n "${2:-}" ]; then echo "--connections $1 --duration $DURATION --rate $2"
  else echo "--connections $1 --duration 2"; fi
}

# --- 1. memory per connection: ssekit serve and Node, SSE and WebSocket ---

node_ok=1; node_ready || node_ok=0
first=1
for n in $PEER_COUNTS; do
  rate=""; [ $first = 1 ] && rate=$PEER_RATE; first=0
  # shellcheck disable=SC2046
  {
    serve ssekit-sse-$n "$SSEKIT" serve --addr 127.0.0.1:$PORT \
      && load ssekit-sse-$n "ssekit serve /stream" http://127.0.0.1:$PORT/stream sse -- $(opts "$n" $rate); stop
    serve ssekit-ws-$n "$SSEKIT" serve --addr 127.0.0.1:$PORT \
      && load ssekit-ws-$n "ssekit serve /ws" http://127.0.0.1:$PORT/ws ws -- $(opts "$n" $rate); stop
    if [ $node_ok = 1 ]; then
      serve node-http-sse-$n node $PEERS/node/sse-http.js $PORT \
        && load node-http-sse-$n "Node http res.write SSE" http://127.0.0.1:$PORT/stream sse -- $(opts "$n" $rate); stop
      serve node-better-sse-$n node $PEERS/node/sse-better.js $PORT \
        && load node-better-sse-$n "Node better-sse + Express" http://127.0.0.1:$PORT/stream sse -- $(opts "$n" $rate); stop
      serve node-ws-$n node $PEERS/node/ws.js $PORT \
        && load node-ws-$n "Node ws WebSocket" http://127.0.0.1:$PORT/ws ws -- $(opts "$n" $rate); stop
    fi
  }
done

# --- 2. thread per held request: Flask on Werkzeug's threaded server and on gunicorn ---

if python_ready; then
  PY=$PEERS/python/.venv/bin
  for n in $FLASK_COUNTS; do
    # shellcheck disable=SC2046
    {
      serve ssekit-sse-t$n "$SSEKIT" serve --addr 127.0.0.1:$PORT \
        && load ssekit-sse-t$n "ssekit serve /stream" http://127.0.0.1:$PORT/stream sse -- $(opts "$n" "$FLASK_RATE"); stop
      serve ssekit-lp-$n "$SSEKIT" serve --addr 127.0.0.1:$PORT \
        && load ssekit-lp-$n "ssekit serve /poll (long)" http://127.0.0.1:$PORT/poll long-poll -- $(opts "$n" "$FLASK_RATE"); stop
      serve flask-sse-$n "$PY/python" $PEERS/python/flask_hub.py $PORT \
        && load flask-sse-$n "Flask threaded SSE" http://127.0.0.1:$PORT/stream sse -- $(opts "$n" "$FLASK_RATE"); stop
      serve flask-lp-$n "$PY/python" $PEERS/python/flask_hub.py $PORT \
        && load flask-lp-$n "Flask threaded long poll" http://127.0.0.1:$PORT/poll long-poll -- $(opts "$n" "$FLASK_RATE"); stop
    }
  done
  # Sync workers: one held request per worker; the requests beyond them (streams, polls, the
  # publish itself) wait in the listen backlog until a worker is free.
  w=$GUNICORN_WORKERS
  gunicorn=("$PY/gunicorn" --chdir $PEERS/python --no-control-socket -w "$w" --graceful-timeout 1
    -b 127.0.0.1:$PORT flask_hub:app)
  serve gunicorn-sse "${gunicorn[@]}" \
    && load gunicorn-sse "gunicorn sync -w $w SSE, $((2 * w)) streams" http://127.0.0.1:$PORT/stream sse -- \
      --connections $((2 * w)) --duration 2 --rate 5 --connect-timeout 5; stop
  serve gunicorn-lp "${gunicorn[@]}" \
    && load gunicorn-lp "gunicorn sync -w $w long poll, $((2 * w)) pollers" http://127.0.0.1:$PORT/poll long-poll -- \
      --connections $((2 * w)) --duration 2 --rate 5 --connect-timeout 5; stop
fi

python3 $PEERS/report.py "$OUT"
for what in "${skipped[@]}"; do echo "transport_peers: SKIPPED $what"; done
