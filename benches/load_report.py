#!/usr/bin/env python3
"""Ratio table of a benches/load.sh run: ssekit serve / axum baseline, scenario by scenario."""
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
