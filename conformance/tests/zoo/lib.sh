# Helpers shared by every zoo case (conformance/tests/zoo/cases/*.sh); source it first.
#
# Why it exists: each case starts real servers it did not write on free 127.0.0.1 ports, and the
# harness (conformance/cli/tests/zoo.rs) relies on a small contract that these helpers keep in one
# place: print `SKIPPED <reason>` and exit 0 when something is missing, otherwise print exactly
# one `ARGS <shell-quoted arguments for ssekit check>` line and stay alive until the harness
# kills the process group. Nothing here prints on stdout except `skip` and `emit_args`.
#
# The harness sets SSEKIT (the ssekit binary), ZOO (this folder, absolute) and WORK (a fresh
# temp dir for the case). Logs of started programs go to $WORK/*.log.

set -euo pipefail

: "${SSEKIT:?SSEKIT must name the ssekit binary}"
: "${ZOO:?ZOO must be the absolute path of conformance/tests/zoo}"
: "${WORK:?WORK must be a fresh temp dir}"

ZOO_VENV="$ZOO/.venv"
ZOO_NODE="$ZOO/apps/node"

# skip REASON...: the case cannot run here (a program or package is missing); not a failure.
skip() {
    echo "SKIPPED $*"
    exit 0
}

# free_port: a port on 127.0.0.1 that nothing listens on right now. The kernel picks it (bind
# to port 0), so two cases running at once do not pick the same one.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    # Without Python: random ports from the ephemeral range until one refuses connections.
    local port
    for _ in $(seq 1 100); do
        port=$((32768 + RANDOM % 28000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "free_port: no free port found" >&2
    return 1
}

# wait_port HOST PORT SECS: returns once HOST:PORT accepts a TCP connection; fails after SECS.
wait_port() {
    local host=$1 port=$2 secs=$3
    local deadline=$((SECONDS + secs))
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            echo "wait_port: nothing listens on $host:$port after ${secs}s" >&2
            return 1
        fi
        sleep 0.05
    done
}

# wait_listening NAME PID HOST PORT SECS: wait_port, but fails at once (showing the program's
# log) when the program exits first, for instance because a module is missing.
wait_listening() {
    local name=$1 pid=$2 host=$3 port=$4 secs=$5
    local deadline=$((SECONDS + secs))
    until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before listening on $host:$port; its log:" >&2
            tail -n 30 "$WORK/$name.log" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "$name did not listen on $host:$port within ${secs}s; its log:" >&2
            tail -n 30 "$WORK/$name.log" >&2 || true
            return 1
        fi
        sleep 0.05
    done
}

# start_ssekit_serve ARGS...: starts `ssekit serve` on a free port with these extra arguments,
# in the background, and sets SERVE_PORT (and SERVE_PID). Prints nothing on stdout.
start_ssekit_serve() {
    local log
    log=$(mktemp "$WORK/ssekit-serve.XXXXXX.log")
    "$SSEKIT" serve --addr 127.0.0.1:0 "$@" >"$log" 2>&1 &
    SERVE_PID=$!
    SERVE_PORT=
    local deadline=$((SECONDS + 15)) line
    while [ -z "$SERVE_PORT" ]; do
        line=$(grep -m1 '^listening on http://' "$log" || true)
        if [ -n "$line" ]; then
            SERVE_PORT=${line##*:}
        elif ! kill -0 "$SERVE_PID" 2>/dev/null; then
            echo "ssekit serve $* exited at start; its log:" >&2
            tail -n 30 "$log" >&2
            return 1
        elif ((SECONDS >= deadline)); then
            echo "ssekit serve $* printed no address within 15 s" >&2
            return 1
        else
            sleep 0.05
        fi
    done
    export SERVE_PORT SERVE_PID
}

# need_python_packages MODULE...: skips the case unless the zoo venv has these modules
# (conformance/tests/zoo/setup.sh makes it).
need_python_packages() {
    [ -x "$ZOO_VENV/bin/python" ] || skip "no Python venv at $ZOO_VENV (run conformance/tests/zoo/setup.sh)"
    local module
    for module in "$@"; do
        "$ZOO_VENV/bin/python" -c "import $module" 2>/dev/null \
            || skip "Python module $module is not in $ZOO_VENV (run conformance/tests/zoo/setup.sh)"
    done
}

# need_node_packages PACKAGE...: skips the case unless node and these npm packages are there.
need_node_packages() {
    command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
    local package
    for package in "$@"; do
        [ -d "$ZOO_NODE/node_modules/$package" ] \
            || skip "npm package $package is not installed in $ZOO_NODE (run conformance/tests/zoo/setup.sh)"
    done
}

# start_app NAME PORT PROGRAM ARGS...: runs an app in the background with its output in
# $WORK/NAME.log, and waits (at most 20 s) until it listens on 127.0.0.1:PORT.
start_app() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    wait_listening "$name" $! 127.0.0.1 "$port" 20
}

# start_litellm [UPSTREAM]: LiteLLM's proxy server (the zoo venv's `litellm` CLI, one uvicorn
# worker) on a free port with apps/python/litellm_config.yaml, offline: the cost map is read
# from the package instead of fetched (LITELLM_LOCAL_MODEL_COST_MAP), and UPSTREAM (an
# OpenAI-compatible /v1 base URL, for the `upstream` model) is all it talks to. Sets
# LITELLM_PORT and LITELLM_KEY (the master key, sent as `Authorization: Bearer`). LiteLLM
# imports for ~25 s, over 60 s when several start on a loaded 2-core machine, so it gets far
# longer than start_app's 20 s (the harness allows a case 150 s to start).
start_litellm() {
    [ -x "$ZOO_VENV/bin/litellm" ] \
        || skip "LiteLLM is not in $ZOO_VENV (run conformance/tests/zoo/setup.sh)"
    LITELLM_PORT=$(free_port)
    LITELLM_KEY="sk-zoo-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    ZOO_UPSTREAM=${1:-http://127.0.0.1:9/v1} LITELLM_MASTER_KEY=$LITELLM_KEY \
        LITELLM_LOCAL_MODEL_COST_MAP=True \
        "$ZOO_VENV/bin/litellm" --config "$ZOO/apps/python/litellm_config.yaml" \
        --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1 >"$WORK/litellm.log" 2>&1 &
    wait_listening litellm $! 127.0.0.1 "$LITELLM_PORT" 140
}

# litellm_request MODEL: writes $WORK/request.json, a streaming chat completion for MODEL (or,
# with a second argument `messages`, an Anthropic messages request), and sends it once,
# unjudged: LiteLLM's first request after start spends ~1.2 s on its own set-up (measured),
# which a deployed proxy has long done, so the runner meets it warm.
litellm_request() {
    local model=$1 path=/v1/chat/completions
    if [ "${2:-}" = messages ]; then
        path=/v1/messages
        printf '{"model":"%s","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"Say something."}]}\n' \
            "$model" >"$WORK/request.json"
    else
        printf '{"model":"%s","stream":true,"messages":[{"role":"user","content":"Say something."}]}\n' \
            "$model" >"$WORK/request.json"
    fi
    curl -s -o /dev/null --max-time 20 -H "Authorization: Bearer $LITELLM_KEY" \
        -H 'Content-Type: application/json' --data "@$WORK/request.json" \
        "http://127.0.0.1:$LITELLM_PORT$path" || true
    LITELLM_URL="http://127.0.0.1:$LITELLM_PORT$path"
}

# emit_args ARGS...: tells the harness how to run `ssekit check` (one line, shell-quoted),
# then keeps the case alive until the harness kills its process group.
emit_args() {
    local quoted
    printf -v quoted ' %q' "$@"
    echo "ARGS${quoted}"
    hold
}

# django_app SERVER FACTORY [CHECK-ARGS...]: apps/python/django_sse_app.py on a free port, served
# by SERVER (`gthread`: gunicorn's gthread worker, 32 threads; `sync`: gunicorn's defaults, one
# sync worker; `uvicorn`: ASGI) from FACTORY (`application(gzip=...)` for gunicorn, `asgi_plain`
# or `asgi_gzip` for uvicorn); then the runner's arguments for /events, with /publish as the
# hook, a 20 s heartbeat limit (the app pings every 15 s) and CHECK-ARGS.
django_app() {
    local server=$1 factory=$2 port
    shift 2
    port=$(free_port)
    case $server in
        gthread | sync)
            need_python_packages django gunicorn
            local workers=()
            [ "$server" = gthread ] && workers=(--worker-class gthread --threads 32 --workers 1)
            start_app django "$port" "$ZOO_VENV/bin/gunicorn" --chdir "$ZOO/apps/python" \
                --bind "127.0.0.1:$port" "${workers[@]}" "django_sse_app:$factory"
            ;;
        uvicorn)
            need_python_packages django uvicorn
            start_app django "$port" "$ZOO_VENV/bin/uvicorn" --factory \
                --app-dir "$ZOO/apps/python" --host 127.0.0.1 --port "$port" "django_sse_app:$factory"
            ;;
        *) echo "django_app: unknown server $server" >&2; exit 1 ;;
    esac
    emit_args "http://127.0.0.1:$port/events" --publish "http://127.0.0.1:$port/publish" \
        --heartbeat-max 20 "$@"
}

# hold: waits for the harness to kill the process group (or for the started programs to end).
hold() {
    # `wait` returns when every background job has ended; a case whose servers died is over.
    wait || true
}
