"""The table of benches/transport_peers.sh: every OUT_DIR/peer-*.json (ssekit-load/1 plus
`label` and the server's sampled threads, processes and memory), in the order they were run, with same-run ratios to
`ssekit serve` over the same transport at the same connection count.

Usage: python3 benches/peers/report.py OUT_DIR      (standard library only)
"""

import glob
import json
import os
import sys


def load(out):
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "peer-*.json")), key=os.path.getmtime):
        with open(path) as f:
            r = json.load(f)
        name = os.path.basename(path)[len("peer-"):-len(".json")]
        rss = r.get("server_rss") or {}
        cpu = r.get("cpu") or {}
        delivery = r.get("delivery") or {}
        latency = r.get("latency") or {}
        rows.append({
            "name": name,
            "label": r.get("label", name),
            "ours": name.startswith("ssekit-"),
            "transport": r.get("transport", "sse"),
            "connections": r.get("connections", 0),
            "rate": r.get("rate"),
            "ok": r["connect"]["ok"],
            "failed": r["connect"]["failed"],
            # With worker processes (gunicorn) the connections are not in the process
            # measured: only the tree's RSS says anything.
            "kib": (rss.get("per_idle_connection_bytes", 0) / 1024
                    if rss and r.get("server_processes", 1) == 1 else None),
            "threads": r.get("server_threads_max"),
            "dps": cpu.get("deliveries_per_server_cpu_s"),
            "p50": latency.get("p50_us", 0) / 1000 if latency.get("count") else None,
            "p99": latency.get("p99_us", 0) / 1000 if latency.get("count") else None,
            "complete": (f'{delivery.get("complete", 0)}/{delivery.get("readers", 0)}'
                         if r.get("rate") is not None else None),
            "published": (f'{r["publish"]["published"]}/{r["publish"]["failed"]}'
                          if r.get("publish") else None),
            "tree_mib": (r["server_tree_rss_max_kib"] / 1024
                         if r.get("server_tree_rss_max_kib") else None),
            "procs": r.get("server_processes"),
        })
    return rows


def reference(rows, row):
    """Our run of the same transport and count, at the same rate if there is one."""
    same = [o for o in rows if o["ours"] and o["transport"] == row["transport"]
            and o["connections"] == row["connections"]]
    same_rate = [o for o in same if o["rate"] == row["rate"]]
    return (same_rate or same or [None])[0]


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def ratio(mine, theirs):
    if mine is None or theirs is None or not theirs:
        return ""
    return f" ({mine / theirs:.2g}x)"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    rows = load(out)
    if not rows:
        print(f"no peer-*.json in {out}")
        return
    head = ["run", "transport", "conns ok/failed", "KiB/idle conn", "server MiB max",
            "procs/threads", "published/failed", "deliveries/server CPU s", "p50 ms", "p99 ms",
            "complete readers"]
    table = []
    for row in rows:
        ref = None if row["ours"] else reference(rows, row)
        kib = fmt(row["kib"], ".1f") + (ratio(row["kib"], ref["kib"]) if ref else "")
        dps = fmt(row["dps"], ".0f")
        if ref and ref["rate"] == row["rate"]:
            dps += ratio(row["dps"], ref["dps"])
        procs = f'{fmt(row["procs"], "d")}/{fmt(row["threads"], "d")}'
        table.append([row["label"], row["transport"], f'{row["ok"]}/{row["failed"]}', kib,
                      fmt(row["tree_mib"], ".1f"), procs, row["published"] or "-", dps,
                      fmt(row["p50"], ".1f"), fmt(row["p99"], ".1f"), row["complete"] or "-"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
    print("\nPeers (ratios: to ssekit serve over the same transport and count, same run; "
          "client and server share the cores)")
    for line in [head, ["-" * w for w in widths], *table]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())


if __name__ == "__main__":
    main()
