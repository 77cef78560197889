# shellcheck shell=bash
# Helpers shared by the proxy cases (cases/proxy-*.sh). Sourced after "$ZOO/lib.sh", whose
# free_port, wait_port, skip and start_ssekit_serve it uses.
# Everything a proxy writes goes under $WORK.

PROXIES="$ZOO/proxies"

# need BIN...: skip the case unless every program is installed (PATH plus the sbin directories,
# where Debian puts the daemons).
need() {
    local b
    for b in "$@"; do
        PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v "$b" >/dev/null 2>&1 ||
            skip "$b is not installed (apt-get install -y $(proxy_package "$b"))"
    done
}

proxy_package() {
    case $1 in
    varnishd) echo varnish ;;
    apache2) echo apache2 ;;
    *) echo "$1" ;;
    esac
}

# upstream ARGS...: `ssekit serve` with these arguments (lib.sh's start_ssekit_serve); UP is its
# port.
upstream() {
    start_ssekit_serve "$@"
    UP=$SERVE_PORT
}

# render TEMPLATE OUT: copy a config, replacing each @NAME@ with the value of $NAME (exported).
render() {
    perl -pe 's/\@([A-Z_][A-Z0-9_]*)\@/exists $ENV{$1} ? $ENV{$1} : die "render: \$$1 unset\n"/ge' \
        "$1" >"$2"
}

# ready PORT WHAT LOG: wait (10 s at most) for a proxy's listening port, or fail with its log.
ready() {
    wait_port 127.0.0.1 "$1" 10 || {
        echo "$2 did not listen on $1:" >&2
        tail -n 20 "$3" >&2 2>/dev/null
        exit 1
    }
}

# nginx_start CONF: nginx in the foreground (no master process) from nginx/CONF; sets PORT.
nginx_start() {
    need nginx
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/nginx"
    render "$PROXIES/nginx/common.conf" "$WORK/nginx/common.conf"
    render "$PROXIES/nginx/$1" "$WORK/nginx/nginx.conf"
    /usr/sbin/nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
        >"$WORK/nginx/stdout.log" 2>&1 &
    ready "$PORT" nginx "$WORK/nginx/error.log"
}

# haproxy_start CFG: HAProxy in the foreground (-db) from haproxy/CFG; sets PORT.
haproxy_start() {
    need haproxy
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/haproxy"
    render "$PROXIES/haproxy/$1" "$WORK/haproxy/haproxy.cfg"
    /usr/sbin/haproxy -db -f "$WORK/haproxy/haproxy.cfg" >"$WORK/haproxy/haproxy.log" 2>&1 &
    ready "$PORT" haproxy "$WORK/haproxy/haproxy.log"
}

# varnish_start VCL [PARAM=VALUE...]: varnishd in the foreground (-F) from varnish/VCL, its
# working directory under $WORK (-n), no privilege separation (-j none: $WORK belongs to the
# user running the zoo), no management port; sets PORT.
varnish_start() {
    need varnishd
    local vcl=$1 p params=()
    shift
    for p in "$@"; do params+=(-p "$p"); done
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/varnish"
    render "$PROXIES/varnish/$vcl" "$WORK/varnish/site.vcl"
    /usr/sbin/varnishd -F -j none -n "$WORK/varnish/n" -a "127.0.0.1:$PORT" \
        -f "$WORK/varnish/site.vcl" -s malloc,32m "${params[@]}" \
        >"$WORK/varnish/varnishd.log" 2>&1 &
    ready "$PORT" varnishd "$WORK/varnish/varnishd.log"
}

# squid_start CONF: squid in the foreground (-N) from squid/CONF; sets PORT. Squid drops its
# privileges to the "proxy" user, so its directory must be reachable by that user.
squid_start() {
    need squid
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/squid"
    chmod a+rwx "$WORK/squid"
    chmod a+x "$WORK"
    render "$PROXIES/squid/common.conf" "$WORK/squid/common.conf"
    render "$PROXIES/squid/$1" "$WORK/squid/squid.conf"
    /usr/sbin/squid -N -f "$WORK/squid/squid.conf" >"$WORK/squid/squid.log" 2>&1 &
    ready "$PORT" squid "$WORK/squid/cache.log"
}

# caddy_start CADDYFILE: caddy run in the foreground from caddy/CADDYFILE (admin endpoint off,
# no automatic HTTPS, its home and data under $WORK); sets PORT.
caddy_start() {
    need caddy
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/caddy"
    render "$PROXIES/caddy/$1" "$WORK/caddy/Caddyfile"
    HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" XDG_DATA_HOME="$WORK/caddy" \
        caddy run --config "$WORK/caddy/Caddyfile" --adapter caddyfile \
        >"$WORK/caddy/caddy.log" 2>&1 &
    ready "$PORT" caddy "$WORK/caddy/caddy.log"
}

# apache_start CONF: Apache httpd in the foreground (-DFOREGROUND) from apache/CONF, with none of
# /etc/apache2 (-f with an absolute path, ServerRoot under $WORK); sets PORT. Its children run as
# www-data, so its directory must be reachable by that user.
apache_start() {
    need apache2
    PORT=$(free_port)
    export WORK UP PORT
    mkdir -p "$WORK/apache"
    chmod a+rwx "$WORK/apache"
    chmod a+x "$WORK"
    render "$PROXIES/apache/common.conf" "$WORK/apache/common.conf"
    render "$PROXIES/apache/$1" "$WORK/apache/httpd.conf"
    /usr/sbin/apache2 -DFOREGROUND -f "$WORK/apache/httpd.conf" >"$WORK/apache/stdout.log" 2>&1 &
    ready "$PORT" apache2 "$WORK/apache/stdout.log"
}

# mcp_python_behind_nginx CONF: the official MCP Python SDK's Streamable HTTP server
# (apps/python/mcp_python_app.py, one progress notification every 200 ms) behind nginx from
# nginx/CONF; the runner opens a session through nginx and sends a tools/call with a progress
# token.
mcp_python_behind_nginx() {
    need nginx
    need_python_packages mcp uvicorn
    UP=$(free_port)
    start_app mcp-python "$UP" "$ZOO_VENV/bin/python" "$ZOO/apps/python/mcp_python_app.py" "$UP" --step-ms 200
    nginx_start "$1"
    cat >"$WORK/call.json" <<'JSON'
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"count","arguments":{"n":5},"_meta":{"progressToken":"zoo-1"}}}
JSON
    emit_args "http://127.0.0.1:$PORT/mcp" --profile mcp --data "@$WORK/call.json"
}
