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
