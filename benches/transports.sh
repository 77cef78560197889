#!/usr/bin/env bash
# The transport matrix of docs/transports.md (SSE, WebSocket, long and short polling on one
# hub) in one command: builds, measures everything, writes the tables and the plots.
#
#   benches/transports.sh [OUT_DIR] [--smoke] [--docs] [--report-only]
#
#   OUT_DIR        where every file of the run goes (default target/transports, or
#                  target/transports-smoke with --smoke)
#   --smoke        small sizes (200 subscribers, memory at 250/500/1 000): a few minutes, what
#                  CI runs; the figures are then only a check that every part works
#   --docs         write the plots to docs/transports/*.svg (the ones the page embeds)
#                  instead of OUT_DIR
#   --report-only  measure nothing: redraw the report of an earlier run in OUT_DIR
#   SKIP_BUILD=1   use the release binaries as built
#
# In order, all against a fresh `ssekit serve` per run, on this machine's cores:
#   1. the plotting venv (matplotlib from benches/plot/requirements.txt, pinned with hashes;
#      reinstalled only when that lock changed), first, so that a run never ends unreportable;
#   2. benches/load.sh's `transports` set (every transport under the same publishing load, then
#      with a reconnect wave, then SSE and WebSocket through nginx when nginx is installed) and
#      its `transports-memory` set (server RSS per idle connection against connections);
#   3. the browser measurements (conformance/tests/browser_transports.rs, headless Chromium;
#      skipped, and said so, without Chromium);
#   4. benches/transport_peers.sh OUT_DIR, when the script exists (other servers: Node, Flask),
#      writing OUT_DIR/peer-*.json;
#   5. benches/transports_report.py: OUT_DIR/report.md (tables, every ratio from this run) and
#      the SVG plots.
# A part that cannot run (no nginx, no Chromium, no peers, a peer that fails) is skipped and
# listed at the end; the command fails only when the measuring itself breaks or the report
# cannot be built.
#
# Why a script of its own and not one more set of load.sh: the matrix is more than load runs
# (a browser test, other servers, a venv and plots), and load.sh stays the one place that
# starts servers for `ssekit load`; this script calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
OUT= SMOKE= DOCS= REPORT_ONLY=
for arg in "$@"; do
  case $arg in
    --smoke) SMOKE=1 ;;
    --docs) DOCS=1 ;;
    --report-only) REPORT_ONLY=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "transports.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) [ -z "$OUT" ] || { echo "transports.sh: one OUT_DIR only (got $OUT and $arg)" >&2; exit 2; }
       OUT=$arg ;;
  esac
done
OUT=${OUT:-target/transports${SMOKE:+-smoke}}
mkdir -p "$OUT"
OUT_ABS=$(cd "$OUT" && pwd)
started=$(date +%s)
skipped=()
note() { echo "transports.sh: $*"; }

# --- 1. the plotting venv --------------------------------------------------------------------
VENV=benches/plot/.venv
LOCK=benches/plot/requirements.txt
plot_venv() {
  local sum
  sum=$(sha256sum "$LOCK" | cut -d' ' -f1)
  if [ -f "$VENV/.lock.sha256" ] && [ "$(cat "$VENV/.lock.sha256")" = "$sum" ]; then
    return 0
  fi
  note "installing the plotting venv $VENV from $LOCK"
  rm -rf "$VENV"
  if python3 -m venv "$VENV" \
    && "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary :all: -r "$LOCK"; then
    echo "$sum" >"$VENV/.lock.sha256"
  else
    rm -rf "$VENV"
    echo "transports.sh: cannot install $LOCK into $VENV (python3 -m venv and pip install --require-hashes above); the report needs matplotlib" >&2
    return 1
  fi
}
command -v python3 >/dev/null || { echo "transports.sh: python3 is needed for the report" >&2; exit 1; }
plot_venv

report() {
  local args=("$OUT")
  [ -z "$DOCS" ] || args+=(--plots-dir docs/transports)
  "$VENV/bin/python" benches/transports_report.py "${args[@]}"
}

if [ -n "$REPORT_ONLY" ]; then
  report
  exit 0
fi

LOAD_AVERAGE=$(cut -d' ' -f1-3 /proc/loadavg)
note "client and servers share this machine's $(nproc) cores (load average $LOAD_AVERAGE now):"
note "every figure is a ratio between transports of this one run, not a capacity"
if [ -n "$SMOKE" ]; then SET=transports-smoke; MEMORY=transports-memory-smoke; else SET=transports; MEMORY=transports-memory; fi

# Keeps what the report needs to know about the run (written again at the end with the skips).
notes() {
  python3 - "$OUT/matrix.json" "$SET" "$MEMORY" "${SMOKE:-0}" "$(nproc)" "$LOAD_AVERAGE" "$*" "${skipped[@]}" <<'EOF'
import json, sys
path, set_, memory, smoke, cores, la, command, *skipped = sys.argv[1:]
with open(path, "w") as f:
    json.dump({"command": command, "set": set_, "memory_set": memory, "smoke": smoke == "1",
               "cores": int(cores), "load_average": [float(x) for x in la.split()],
               "skipped": skipped}, f, indent=2)
    f.write("\n")
EOF
}
COMMAND="benches/transports.sh $*"
# A previous run's files in the same directory would mix into this one's report.
rm -f "$OUT"/transports*.json "$OUT"/peer-*.json "$OUT"/browser/*.json
notes "$COMMAND"

# --- 2. load sets ----------------------------------------------------------------------------
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p ssekit
if [ -z "$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)" ]; then
  skipped+=("SSE and WebSocket through nginx: nginx not installed (apt-get install nginx)")
fi
# load.sh starts its servers on fixed ports and waits for them to listen: a server already
# there (another run) would be measured in their place.
for port in "${PORT_SSEKIT:-23080}" 23082; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "transports.sh: something already listens on 127.0.0.1:$port (another benchmark run?); stop it, or for 23080 set PORT_SSEKIT to a free port" >&2
    exit 1
  fi
done
SKIP_BUILD=1 bash benches/load.sh "$OUT" "$SET" "$MEMORY" 2>&1 | tee "$OUT/load.log"

# --- 3. browser --------------------------------------------------------------------------------
CHROMIUM=${SSEKIT_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  note "browser measurements: cargo test --workspace --all-features --test browser_transports"
  # A failed assertion there is a finding for the report's reader, not a broken matrix: the
  # test runs in `cargo test` too, where it fails the build. `--workspace --all-features`: the
  # features `cargo test --workspace --all-features` built with, so that build is reused.
  if SSEKIT_WRITE_MEASUREMENTS="$OUT_ABS/browser" cargo test -q --workspace --all-features \
      --test browser_transports -- --nocapture >"$OUT/browser.log" 2>&1; then
    note "browser measurements: $(ls "$OUT/browser" 2>/dev/null | tr '\n' ' ')"
  else
    tail -n 30 "$OUT/browser.log"
    skipped+=("some browser measurements: the browser_transports test failed (see $OUT/browser.log)")
  fi
else
  skipped+=("browser measurements: no Chromium at $CHROMIUM (apt-get install chromium, or set SSEKIT_CHROMIUM)")
fi

# --- 4. other servers --------------------------------------------------------------------------
if [ -f benches/transport_peers.sh ]; then
  # Smoke: the peers at the smoke's sizes, unless asked otherwise.
  if [ -n "$SMOKE" ]; then
    export PEER_COUNTS=${PEER_COUNTS:-200} FLASK_COUNTS=${FLASK_COUNTS:-200} PEER_DURATION=${PEER_DURATION:-2}
  fi
  note "other servers: benches/transport_peers.sh $OUT"
  if ! SKIP_BUILD=1 bash benches/transport_peers.sh "$OUT" 2>&1 | tee "$OUT/peers.log"; then
    skipped+=("some other servers: benches/transport_peers.sh failed (see $OUT/peers.log)")
  fi
else
  skipped+=("other servers: benches/transport_peers.sh is not in this tree")
fi

# --- 5. report ---------------------------------------------------------------------------------
notes "$COMMAND"
report
for what in "${skipped[@]}"; do note "SKIPPED $what"; done
note "done in $(( $(date +%s) - started )) s; tables in $OUT/report.md, plots in $([ -n "$DOCS" ] && echo docs/transports || echo "$OUT")"
