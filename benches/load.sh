#!/usr/bin/env bash
# Server benchmarks of issue 6: `ssekit serve` against the axum + broadcast baseline, both driven
# by `ssekit load` in the same run, one scenario after the other, each server in its own process
# (so its RSS is its own). Client and servers share this machine's cores: the figures are
# same-run ratios, not absolute capacities.
#
#   benches/load.sh [OUT_DIR] [SCENARIO...]     (default OUT_DIR target/load, every scenario;
#                                                SKIP_BUILD=1 uses the release binaries as built)
#
# Scenarios: idle-10k idle-19k idle-10k-hyper fanout-10k fanout-10k-p4 fanout-10k-b100 fanout-10k-b100-2m fanout-10k-b100-4m fanout-10k-b100-nc
#            latency-10k latency-1k latency-10k-2 stall0-100 stall1-100
# Each writes OUT_DIR/SCENARIO-{ssekit,axum}.json (schema ssekit-load/1); a ratio table ends the run.
#
# Transport sets (not in the default list): `transports` (10 000 subscribers, ~4 minutes) and
# `transports-smoke` (200 subscribers, ~1 minute) run the same load against `ssekit serve` over
# SSE, WebSocket, long polling and short polling, then again with a reconnect wave, and, when
# nginx is installed, SSE and WebSocket through nginx (Upgrade passed through for /ws). Each
# writes OUT_DIR/SET-TRANSPORT[-reconnect|-nginx].json; the report gives ratios to SSE.
# TRANSPORT_RATE (events/s, default 2) and POLL_INTERVAL (ms, default 1000) change the load.
# `transports-memory` (1 000, 2 500, 5 000 and 10 000 idle subscribers, ~3 minutes) and
# `transports-memory-smoke` (250, 500, 1 000) measure server RSS per idle connection for each
# transport at each count, each against a fresh `ssekit serve`, in
# OUT_DIR/SET-TRANSPORT-COUNT.json. benches/transports.sh runs every set and draws the plots.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/load}
shift || true
mkdir -p "$OUT"
# The axum baseline is only built when a scenario compares against it.
PACKAGES=(-p ssekit)
for s in "${@:-all}"; do case $s in transports*) ;; *) PACKAGES+=(-p ssekit-axum-baseline) ;; esac; done
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q "${PACKAGES[@]}"
SSEKIT=${CARGO_TARGET_DIR:-target}/release/ssekit
AXUM=${CARGO_TARGET_DIR:-target}/release/ssekit-axum-baseline
# Both processes need one descriptor per connection; the hard limit caps what can be measured.
ulimit -n "$(ulimit -Hn)"
PORT_SSEKIT=${PORT_SSEKIT:-23080} # another port when something else listens there
PORT_AXUM=${PORT_AXUM:-23081}
SERVE_ARGS=""
# Each run gets a fresh source address: the previous run's ports sit in TIME_WAIT for a minute.
SRC=$(( (RANDOM % 200) + 20 ))

start_server() { # name -> sets PID, PORT
  case $1 in
    ssekit) PORT=$PORT_SSEKIT; $SSEKIT serve --addr 127.0.0.1:$PORT $SERVE_ARGS >"$OUT/$1-server.log" 2>&1 & ;;
    axum)   PORT=$PORT_AXUM;   $AXUM --addr 127.0.0.1:$PORT >"$OUT/$1-server.log" 2>&1 & ;;
  esac
  PID=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not start listening on $PORT" >&2
  kill "$PID" 2>/dev/null || true
  return 1
}

stop_server() {
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}

scenario() { # label, ssekit load options...
  local label=$1; shift
  for server in ssekit axum; do
    start_server $server
    SRC=$(( SRC % 250 + 1 ))
    echo "== $label on $server: ssekit load ... $*"
    # Exit status 1 (losses, failed connects) is a finding, not a script error.
    $SSEKIT load "http://127.0.0.1:$PORT/stream" --publish "http://127.0.0.1:$PORT/publish" \
      --server-pid "$PID" --sources "127.0.0.$SRC" --json "$OUT/$label-$server.json" "$@" || [ $? -eq 1 ]
    if [ $server = ssekit ] && command -v curl >/dev/null; then
      curl -s "http://127.0.0.1:$PORT/metrics" >"$OUT/$label-ssekit-metrics.txt" || true
    fi
    stop_server
    sleep 2 # let TIME_WAIT sockets and the other server's memory settle
  done
}

NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
PORT_NGINX=${PORT_NGINX:-23082}

# nginx in front of the upstream on $1, configured as $2:
#   recommended  HTTP/1.1 upstream with idle connections kept for reuse, Upgrade and
#                Connection passed through (WebSocket), no response buffering;
#   default      a bare `location / { proxy_pass ...; }`: nginx's defaults, HTTP/1.0 to the
#                upstream with `Connection: close` (so Upgrade, a hop-by-hop header, is dropped)
#                and responses buffered unless the upstream answers `X-Accel-Buffering: no`.
# Its error log goes to $3. Sets NGINX_PID and NGINX_DIR.
start_nginx() { # upstream port, recommended|default, error log
  local location
  NGINX_DIR=$(mktemp -d)
  case $2 in
    # Without `keepalive` in an upstream block nginx opens a new upstream connection for every
    # request, every poll: long polling at 9 900 then fell seconds behind (docs/transports.md).
    # It must cover every poll held at once: with 1 024 the other 8 876 upstream connections
    # were closed after each answer and the churn ran the local ports out (EADDRNOTAVAIL).
    # `Connection` is emptied for plain requests, so that they may reuse one.
    recommended) location="proxy_pass http://hub; proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade; proxy_set_header Connection \$connection_upgrade;
      proxy_buffering off; proxy_read_timeout 1h;" ;;
    default) location="proxy_pass http://127.0.0.1:$1;" ;;
  esac
  # One process (master_process off) keeps this shell's open-file limit: worker_rlimit_nofile
  # is applied by worker processes only, and could not pass the hard limit anyway. Each proxied
  # subscriber holds two descriptors (client and upstream), hence the cap in transports().
  # Connection slots are set above the descriptors: with as many slots as descriptors (20 000)
  # nginx ran short at 9 375 subscribers ("worker_connections are not enough, reusing
  # connections", closing clients it took for idle); with 32 768 all 9 900 got through.
  cat >"$NGINX_DIR/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1;
pid $NGINX_DIR/nginx.pid; error_log $3 warn;
events { worker_connections 32768; }
http {
  access_log off; client_body_temp_path $NGINX_DIR/body; proxy_temp_path $NGINX_DIR/proxy;
  fastcgi_temp_path $NGINX_DIR/fcgi; uwsgi_temp_path $NGINX_DIR/uwsgi; scgi_temp_path $NGINX_DIR/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
  upstream hub { server 127.0.0.1:$1; keepalive 16384; }
  server {
    listen 127.0.0.1:$PORT_NGINX backlog=4096;
    location / { $location }
  }
}
CONF
  "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" >>"$3" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT_NGINX) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nginx did not start listening on $PORT_NGINX (see $3)" >&2
  return 1
}

stop_nginx() {
  kill "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  rm -rf "$NGINX_DIR"
}

# CPU seconds (user + system) process $1 has used so far.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo null
}

# Local ports of the ephemeral range held by TCP sockets, TIME_WAIT included. A port bound
# explicitly (`ssekit load` binds its source address) or left in TIME_WAIT by such a socket is
# not handed out to a plain connect() (nginx to its upstream, the publisher) until it is free.
ports_in_use() {
  local lo hi
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  ss -Htan | awk -v lo="$lo" -v hi="$hi" '
    { n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi && !(p in seen)) { seen[p] = 1; c++ } }
    END { print c + 0 }'
}

# Waits (75 s at most: TIME_WAIT lasts 60 s) until $1 local ports are free. Through nginx a run
# needs two per subscriber, the client's and nginx's to the upstream; right after a run at
# 10 000, that run's ports are still in TIME_WAIT and the range (28 232 ports by default) is
# too short for both: nginx's upstream connect() fails (EADDRNOTAVAIL, 502 to the client).
wait_for_ports() { # ports needed
  local lo hi free waited=0
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  while :; do
    free=$(( hi - lo + 1 - $(ports_in_use) ))
    [ "$free" -lt "$1" ] || return 0
    if [ $waited -ge 75 ]; then
      echo "only $free local ports free of the $1 needed: some subscribers will not get through" >&2
      return 0
    fi
    [ $waited -gt 0 ] || echo "waiting for $1 free local ports ($free now, the rest in use or in TIME_WAIT)" >&2
    sleep 5
    waited=$((waited + 5))
  done
}

transport_path() {
  case $1 in sse) echo /stream ;; ws) echo /ws ;; *) echo /poll ;; esac
}

# One `ssekit load` by one transport against a fresh `ssekit serve`, directly or through nginx
# (`nginx`: the recommended configuration, `nginx-default`: nginx's defaults, see start_nginx).
tload() { # label, transport, via (direct|nginx|nginx-default), ssekit load options...
  local label=$1 transport=$2 via=$3 port n=0 arg prev=""; shift 3
  for arg in "$@"; do [ "$prev" != --connections ] || n=$arg; prev=$arg; done
  [ "$via" = direct ] || wait_for_ports $(( 2 * n + 100 ))
  start_server ssekit
  port=$PORT
  case $via in
    nginx) start_nginx "$PORT" recommended "$(realpath "$OUT")/$label-nginx-error.log"; port=$PORT_NGINX ;;
    nginx-default) start_nginx "$PORT" default "$(realpath "$OUT")/$label-nginx-error.log"; port=$PORT_NGINX ;;
  esac
  SRC=$(( SRC % 250 + 1 ))
  echo "== $label: ssekit load --transport $transport (via $via) $*"
  $SSEKIT load "http://127.0.0.1:$port$(transport_path "$transport")" --transport "$transport" \
    --publish "http://127.0.0.1:$PORT/publish" --server-pid "$PID" --sources "127.0.0.$SRC" \
    --json "$OUT/$label.json" "$@" || [ $? -eq 1 ]
  # CPU over the whole run (connecting included), the server's and the proxy's own.
  echo "server_cpu_s $(proc_cpu "$PID")" >"$OUT/$label.cpu.txt"
  if [ "$via" != direct ]; then
    echo "nginx_cpu_s $(proc_cpu "$NGINX_PID")" >>"$OUT/$label.cpu.txt"
    echo "   CPU over the whole run: nginx $(proc_cpu "$NGINX_PID") s, server $(proc_cpu "$PID") s"
    stop_nginx
    [ -s "$OUT/$label-nginx-error.log" ] && echo "   nginx logged $(wc -l <"$OUT/$label-nginx-error.log") line(s): $OUT/$label-nginx-error.log"
  fi
  stop_server
  sleep 2
}

# The transport sets: the four transports directly, again with a reconnect wave, then SSE,
# WebSocket and long polling through nginx as recommended (SET-T-nginx.json) and with nginx's
# defaults (SET-T-nginx-default.json).
transports() { # set name, subscribers, seconds
  local set=$1 n=$2 secs=$3
  local load=(--duration "$secs" --rate "${TRANSPORT_RATE:-2}" --pad 160
              --poll-interval "${POLL_INTERVAL:-1000}" --connect-timeout 120)
  for t in sse ws long-poll poll; do
    tload "$set-$t" $t direct --connections "$n" "${load[@]}"
  done
  for t in sse ws long-poll poll; do
    tload "$set-$t-reconnect" $t direct --connections "$n" "${load[@]}" --reconnect
  done
  if [ -z "$NGINX" ]; then
    echo "nginx not installed: the runs through nginx are skipped" >&2
    return 0
  fi
  # nginx holds two descriptors per subscriber (client and upstream), all in one process under
  # the hard open-file limit: at 20 000 it proxies 9 900 subscribers, not 10 000.
  local m=$n cap=$(( ($(ulimit -Hn) - 100) / 2 / 100 * 100 ))
  if [ "$m" -gt "$cap" ]; then
    m=$cap
    echo "through nginx: $m subscribers, not $n (two descriptors each, hard limit $(ulimit -Hn))" >&2
  fi
  # Recommended configuration: every transport should go through as directly.
  for t in sse ws long-poll; do tload "$set-$t-nginx" $t nginx --connections "$m" "${load[@]}"; done
  # nginx's defaults: /ws is refused (no Upgrade upstream), SSE streams only because the server
  # answers `X-Accel-Buffering: no`, each poll opens its own HTTP/1.0 upstream connection.
  for t in sse ws long-poll; do tload "$set-$t-nginx-default" $t nginx-default --connections "$m" "${load[@]}"; done
}

# Idle memory per connection against the number of connections: one short idle run per
# transport and count, each against a fresh server (so no run inherits another's heap), the
# transports interleaved at each count so that a change in the machine's load hits them alike.
transports_memory() { # set name, counts...
  local set=$1 n t; shift
  for n in "$@"; do
    for t in sse ws long-poll poll; do
      tload "$set-$t-$n" $t direct --connections "$n" --duration 2 \
        --poll-interval "${POLL_INTERVAL:-1000}" --connect-timeout 120
    done
  done
}

run() {
  case $1 in
    transports)       transports transports 10000 10 ;;
    transports-smoke) transports transports-smoke 200 3 ;;
    transports-memory)       transports_memory transports-memory 1000 2500 5000 10000 ;;
    transports-memory-smoke) transports_memory transports-memory-smoke 250 500 1000 ;;
    idle-10k)    scenario idle-10k    --connections 10000 --duration 3 ;;
    idle-19k)    scenario idle-19k    --connections 19000 --duration 3 ;;
    # The same with `ssekit serve --hyper-streams`: streams through hyper instead of the direct path.
    idle-10k-hyper) SERVE_ARGS=--hyper-streams scenario idle-10k-hyper --connections 10000 --duration 3 ;;
    fanout-10k)  scenario fanout-10k  --connections 10000 --duration 5 --rate 0 --pad 160 ;;
    # Four racing publishers: the publish rate is no longer one round trip at a time.
    fanout-10k-p4) scenario fanout-10k-p4 --connections 10000 --duration 5 --rate 0 --pad 160 --publishers 4 ;;
    # Batches of 100 events per publish request: every stream has 100 events ready at once, so
    # write coalescing (on by default) sends them in one write; -nc is `ssekit serve --no-coalesce`.
    fanout-10k-b100)    scenario fanout-10k-b100    --connections 10000 --duration 5 --rate 10000 --pad 160 --batch 100 ;;
    # Paced: 200 events/s in batches of 100 to 10 000 readers asks for 2 M deliveries/s.
    fanout-10k-b100-2m) scenario fanout-10k-b100-2m --connections 10000 --duration 5 --rate 200 --pad 160 --batch 100 ;;
    # The same asking 4 M deliveries/s.
    fanout-10k-b100-4m) scenario fanout-10k-b100-4m --connections 10000 --duration 5 --rate 400 --pad 160 --batch 100 ;;
    fanout-10k-b100-nc) SERVE_ARGS=--no-coalesce scenario fanout-10k-b100-nc --connections 10000 --duration 5 --rate 10000 --pad 160 --batch 100 ;;
    latency-10k) scenario latency-10k --connections 10000 --duration 10 --rate 100 --pad 160 ;;
    latency-1k)  scenario latency-1k  --connections 1000 --duration 10 --rate 100 --pad 160 ;;
    # Two events a second: each event's fan-out to 10 000 sockets is over before the next, so the
    # latency is the time one event takes to reach every reader, with no queueing behind it.
    latency-10k-2) scenario latency-10k-2 --connections 10000 --duration 10 --rate 2 --pad 160 ;;
    # 16 KB events, so that the stalled reader's backlog (~16 MB) overflows the loopback socket
    # buffers (a few MB) and reaches the server's lag limits.
    stall0-100)  scenario stall0-100  --connections 100 --duration 10 --rate 100 --pad 16000 ;;
    stall1-100)  scenario stall1-100  --connections 100 --duration 10 --rate 100 --pad 16000 --stall 1 ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then
  set -- idle-10k idle-19k idle-10k-hyper fanout-10k fanout-10k-p4 fanout-10k-b100 fanout-10k-b100-2m fanout-10k-b100-4m fanout-10k-b100-nc latency-10k latency-1k latency-10k-2 stall0-100 stall1-100
fi
for s in "$@"; do run "$s"; done
python3 benches/load_report.py "$OUT"
