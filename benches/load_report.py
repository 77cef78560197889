#!/usr/bin/env python3
"""Ratio tables of a benches/load.sh run: ssekit serve / axum baseline, scenario by scenario,
and, for the transport sets, each transport against SSE on the same hub in the same run."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/load")


def load(label, server):
    p = out / f"{label}-{server}.json"
    return json.loads(p.read_text()) if p.exists() else None


def row(label, what, get, lower_is_better):
    s, a = load(label, "ssekit"), load(label, "axum")
    if not s or not a:
        return
    try:
        vs, va = get(s), get(a)
    except (KeyError, TypeError):
        return
    ratio = vs / va if va else float("nan")
    better = "lower is better" if lower_is_better else "higher is better"
    la = s.get("load_average") or [0, 0, 0]
    print(f"| {label} | {what} | {vs:,.1f} | {va:,.1f} | {ratio:.2f} ({better}) | {la[0]:.1f} |")


def server_tables():
    print("| scenario | figure | ssekit | axum | ssekit/axum | load avg |")
    print("|---|---|---:|---:|---:|---:|")
    for label in ("idle-10k", "idle-19k", "idle-10k-hyper"):
        row(label, "connected", lambda r: r["connect"]["ok"], False)
        row(label, "RSS bytes / idle connection", lambda r: r["server_rss"]["per_idle_connection_bytes"], True)
        row(label, "RSS KiB with all connected", lambda r: r["server_rss"]["connected_kib"], True)
    for label in ("fanout-10k", "fanout-10k-p4", "fanout-10k-b100", "fanout-10k-b100-2m", "fanout-10k-b100-4m", "fanout-10k-b100-nc", "latency-10k", "latency-1k", "latency-10k-2", "stall0-100", "stall1-100"):
        row(label, "published events/s", lambda r: r["publish"]["rate_achieved"], False)
        row(label, "deliveries/s", lambda r: r["delivery"]["deliveries_per_s"], False)
        row(label, "deliveries per server CPU second", lambda r: r["cpu"]["deliveries_per_server_cpu_s"], False)
        row(label, "server CPU s / client CPU s", lambda r: r["cpu"]["server_s"] / r["cpu"]["client_s"], True)
        row(label, "missing (all readers)", lambda r: r["delivery"]["missing"], True)
        row(label, "closed by server", lambda r: r["delivery"]["closed_by_server"], True)
        row(label, "latency p50 µs", lambda r: r["latency"]["p50_us"], True)
        row(label, "latency p99 µs", lambda r: r["latency"]["p99_us"], True)
        row(label, "latency p99.9 µs", lambda r: r["latency"]["p99_9_us"], True)
        row(label, "latency max µs", lambda r: r["latency"]["max_us"], True)
    for server in ("ssekit", "axum"):
        h, st = load("stall0-100", server), load("stall1-100", server)
        if h and st and h["latency"]["p99_us"]:
            print(f"\n{server}: one stalled reader changes healthy p99 by "
                  f"{st['latency']['p99_us'] / h['latency']['p99_us']:.2f}x "
                  f"({h['latency']['p99_us']} -> {st['latency']['p99_us']} µs); "
                  f"stalled: {st['stalled']}; server RSS at end "
                  f"{h['server_rss']['end_kib']} -> {st['server_rss']['end_kib']} KiB")

    c, n = load("fanout-10k-b100", "ssekit"), load("fanout-10k-b100-nc", "ssekit")
    if c and n and n["delivery"]["deliveries_per_s"]:
        print(f"\nssekit write coalescing on / off (batches of 100): deliveries/s "
              f"{c['delivery']['deliveries_per_s']:,.0f} / {n['delivery']['deliveries_per_s']:,.0f} = "
              f"{c['delivery']['deliveries_per_s'] / n['delivery']['deliveries_per_s']:.2f}x")
    for label in ("fanout-10k", "fanout-10k-b100", "fanout-10k-b100-2m", "fanout-10k-b100-4m", "fanout-10k-b100-nc"):
        m = out / f"{label}-ssekit-metrics.txt"
        if m.exists():
            values = dict(line.split() for line in m.read_text().splitlines()
                          if line and not line.startswith("#"))
            sent, writes = float(values.get("ssekit_events_sent_total", 0)), float(values.get("ssekit_stream_writes_total", 0))
            if writes:
                print(f"{label}: ssekit events per write {sent / writes:.1f} ({sent:,.0f} events, {writes:,.0f} writes)")


TRANSPORTS = ("sse", "ws", "long-poll", "poll", "sse-nginx", "ws-nginx")


def get(r, *path):
    for key in path:
        if r is None:
            return None
        r = r.get(key)
    return r


def transport_table(title, runs, figures):
    """One row per figure, one column per transport: the value and its ratio to SSE's."""
    cols = [t for t in TRANSPORTS if runs.get(t)]
    if not cols:
        return
    print(f"\n{title}\n")
    print("| figure | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for what, path, lower_is_better in figures:
        values = {t: get(runs[t], *path) for t in cols}
        base = values.get("sse")
        cells = []
        for t in cols:
            v = values[t]
            if v is None:
                cells.append("-")
            elif t == "sse" or not base:
                cells.append(f"{v:,.1f}")
            else:
                cells.append(f"{v:,.1f} ({v / base:.2f}x)")
        better = " (lower is better)" if lower_is_better else ""
        print(f"| {what}{better} | " + " | ".join(cells) + " |")


def transport_tables():
    sets = sorted({p.name.rsplit("-sse.json", 1)[0] for p in out.glob("transports*-sse.json")})
    for name in sets:
        plain = {t: load(name, t) for t in TRANSPORTS}
        some = next((r for r in plain.values() if r), None)
        if not some:
            continue
        interval = next((r["poll_interval_ms"] for r in plain.values() if r and r.get("poll_interval_ms")), None)
        la = some.get("load_average") or [0, 0, 0]
        transport_table(
            f"{name}: {some['connections']} subscribers, {some.get('rate')} events/s for {some['duration_s']} s, "
            f"short polls every {interval} ms; ratios to SSE, same run (load average {la[0]:.1f} at the first start; "
            f"-nginx: through nginx, server CPU is the server's alone)",
            plain,
            [
                ("connected", ("connect", "ok"), False),
                ("missing events (all readers)", ("delivery", "missing"), True),
                ("duplicate events", ("delivery", "duplicates"), True),
                ("bytes on the wire per delivered event", ("wire", "bytes_per_event"), True),
                ("bytes read per delivered event", ("wire", "read_bytes_per_event"), True),
                ("payload bytes per event", ("wire", "payload_bytes_per_event"), True),
                ("bytes per connection per second", ("wire", "bytes_per_connection_s"), True),
                ("deliveries per server CPU second", ("cpu", "deliveries_per_server_cpu_s"), False),
                ("server CPU s", ("cpu", "server_s"), True),
                ("client CPU s", ("cpu", "client_s"), True),
                ("latency p50 µs", ("latency", "p50_us"), True),
                ("latency p99 µs", ("latency", "p99_us"), True),
                ("latency p99.9 µs", ("latency", "p99_9_us"), True),
                ("server RSS bytes per idle connection", ("server_rss", "per_idle_connection_bytes"), True),
            ],
        )
        wave = {t: load(name, f"{t}-reconnect") for t in TRANSPORTS}
        transport_table(
            f"{name}, reconnect wave: halfway through publishing every reader drops and resumes from its last id",
            wave,
            [
                ("readers resumed", ("reconnect", "resumed"), False),
                ("reconnects failed", ("reconnect", "failed"), True),
                ("missing events", ("reconnect", "missing"), True),
                ("duplicate events", ("reconnect", "duplicates"), True),
                ("resets", ("reconnect", "resets"), True),
                ("time to resume p50 µs", ("reconnect", "time_to_resume", "p50_us"), True),
                ("time to resume p99 µs", ("reconnect", "time_to_resume", "p99_us"), True),
                ("wave ms (all readers)", ("reconnect", "wave_ms"), True),
                ("server CPU µs per reconnect", ("reconnect", "server_cpu_per_reconnect_us"), True),
            ],
        )


def nginx_tables():
    """Each transport through nginx against its own direct run in the same set: what the proxy
    costs, and what nginx's defaults break."""
    sets = sorted({p.name.rsplit("-sse.json", 1)[0] for p in out.glob("transports*-sse.json")})
    for name in sets:
        cols, runs, base = [], {}, {}
        for t in ("sse", "ws", "long-poll"):
            for via in ("nginx", "nginx-default"):
                r = load(name, f"{t}-{via}")
                if r:
                    cols.append(f"{t}-{via}")
                    runs[cols[-1]], base[cols[-1]] = r, load(name, t)
                    for run, label in ((r, f"{t}-{via}"), (base[cols[-1]], t)):
                        cpu = out / f"{name}-{label}.cpu.txt"
                        if run is not None and cpu.exists():
                            run["whole"] = {k: float(v) for k, v in (line.split() for line in cpu.read_text().splitlines()) if v != "null"}
        if not cols:
            continue
        some = runs[cols[0]]
        print(f"\n{name} through nginx: {some['connections']} subscribers; each figure with its ratio to the "
              f"direct run of the same transport ({base[cols[0]]['connections'] if base[cols[0]] else '?'} subscribers); "
              "-nginx: Upgrade passed through, buffering off, upstream keepalive; -nginx-default: a bare proxy_pass\n")
        print("| figure | " + " | ".join(cols) + " |")
        print("|---|" + "---:|" * len(cols))
        for what, path in [
            ("connected", ("connect", "ok")),
            ("missing events", ("delivery", "missing")),
            ("duplicate events", ("delivery", "duplicates")),
            ("bytes on the wire per delivered event", ("wire", "bytes_per_event")),
            ("deliveries per server CPU second", ("cpu", "deliveries_per_server_cpu_s")),
            ("server CPU s (publishing)", ("cpu", "server_s")),
            ("client CPU s (publishing)", ("cpu", "client_s")),
            ("latency p50 µs", ("latency", "p50_us")),
            ("latency p99 µs", ("latency", "p99_us")),
            ("latency p99.9 µs", ("latency", "p99_9_us")),
            ("server RSS bytes per idle connection", ("server_rss", "per_idle_connection_bytes")),
            ("server CPU s (whole run)", ("whole", "server_cpu_s")),
            ("nginx CPU s (whole run)", ("whole", "nginx_cpu_s")),
        ]:
            cells = []
            for c in cols:
                v, b = get(runs[c], *path), get(base[c], *path)
                if not runs[c]["connect"]["ok"] and path[0] not in ("connect", "whole"):
                    v = None  # nobody got through: no figure, not a zero
                # Small CPU figures (the smoke set's) keep their digits.
                text = None if v is None else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
                if v is None:
                    cells.append("-")
                elif b:
                    cells.append(f"{text} ({v / b:.2f}x)")
                else:
                    cells.append(text)
            print(f"| {what} | " + " | ".join(cells) + " |")
        for c in cols:
            for why, n in runs[c]["connect"]["errors"].items():
                print(f"\n{c}: {n} x {why}")


if any(out.glob("*-ssekit.json")):
    server_tables()
transport_tables()
nginx_tables()
