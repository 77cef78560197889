#!/usr/bin/env python3
"""The transport matrix of one benches/transports.sh run: Markdown tables and SVG plots.

    transports_report.py OUT_DIR [--plots-dir DIR]

Reads what the run left in OUT_DIR (ssekit-load/1 reports of the `transports*` and
`transports-memory*` sets of benches/load.sh, `peer-*.json` of benches/transport_peers.sh,
`browser/*.json` of conformance/tests/browser_transports.rs, and `matrix.json`, the run's own
notes) and writes OUT_DIR/report.md (also printed) and three plots: memory per idle connection
against connections (memory.svg), the delivery latency distribution (latency.svg) and the time
to resume in the reconnect wave (resume.svg), into --plots-dir (default OUT_DIR).

Every ratio is between runs of the same invocation: client and servers share the machine's
cores, so absolute figures say little and ratios are what carry over. The SVGs are
reproducible: the same JSON gives the same bytes (no date, fixed ids). Exits non-zero when the
run left nothing to report, or a plot cannot be drawn; a missing part (no nginx, no Chromium,
no peers) is said in the report and leaves the rest standing.
"""
import argparse
import json
import math
import pathlib
import subprocess
import re
import sys

TRANSPORTS = ("sse", "ws", "long-poll", "poll")
# Columns of the load tables: the direct transports, then through nginx.
COLUMNS = TRANSPORTS + ("sse-nginx", "ws-nginx")
NAMES = {
    "sse": "SSE",
    "ws": "WebSocket",
    "long-poll": "long poll",
    "poll": "short poll",
    "sse-nginx": "SSE via nginx",
    "ws-nginx": "WebSocket via nginx",
}
# One colour per transport in every plot (matplotlib's default cycle, fixed by name so that a
# missing transport does not shift the others' colours).
COLOURS = {"sse": "C0", "ws": "C1", "long-poll": "C2", "poll": "C3"}
# The percentiles drawn on the "nines" axis (100, the maximum, has no place on it).
NINES_TICKS = (50.0, 90.0, 99.0, 99.9, 99.99, 99.999)


class ReportError(Exception):
    """What stops the report, said so that the user knows what to run."""


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: cannot read it as JSON ({e}); rerun the step that wrote it") from e


def get(r, *path):
    for key in path:
        if r is None:
            return None
        r = r.get(key) if isinstance(r, dict) else None
    return r


def num(v):
    """Counts as they are; measures to about three significant digits."""
    if v is None:
        return "-"
    if isinstance(v, int) or v == 0 or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def ratio(v, base):
    if v is None or not base:
        return ""
    return f" ({v / base:.2f}x)"


class Run:
    """The files of one run directory."""

    def __init__(self, out):
        self.out = out
        self.notes = read_json(out / "matrix.json") if (out / "matrix.json").exists() else {}
        self.reports = {p.stem: read_json(p) for p in sorted(out.glob("*.json"))
                        if p.name != "matrix.json"}
        self.reports = {k: v for k, v in self.reports.items()
                        if isinstance(v, dict) and v.get("schema") == "ssekit-load/1"}
        # The load set: `transports` or `transports-smoke` (the full one when both are there).
        sets = sorted({m.group(1) for k in self.reports
                       if (m := re.fullmatch(r"(transports(?:-smoke)?)-sse", k))})
        self.set = self.notes.get("set") or (sets[0] if sets else None)
        memory = sorted({m.group(1) for k in self.reports
                         if (m := re.fullmatch(r"(transports-memory(?:-smoke)?)-sse-\d+", k))})
        self.memory_set = self.notes.get("memory_set") or (memory[0] if memory else None)
        self.browser = {p.stem: read_json(p) for p in sorted((out / "browser").glob("*.json"))}
        self.peers = {k: v for k, v in self.reports.items() if k.startswith("peer-")}

    def load(self, column, suffix=""):
        """The report of one transport column of the load set (`-reconnect` for the wave)."""
        return self.reports.get(f"{self.set}-{column}{suffix}") if self.set else None

    def memory(self):
        """{transport: [(connections, bytes per idle connection, connected)]}, by count."""
        points = {}
        if not self.memory_set:
            return points
        for name, r in self.reports.items():
            m = re.fullmatch(re.escape(self.memory_set) + r"-(.+)-(\d+)", name)
            per = get(r, "server_rss", "per_idle_connection_bytes")
            if m and m.group(1) in TRANSPORTS and per is not None:
                points.setdefault(m.group(1), []).append((int(m.group(2)), per, get(r, "connect", "ok")))
        return {t: sorted(v) for t, v in points.items()}


def table(lines, header, rows, text_columns=1):
    """A Markdown table: the first text_columns columns left-aligned, the figures right."""
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * text_columns + "---:|" * (len(header) - text_columns))
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")


def measured(r, path):
    """The figure at path, or None where it measures nothing (latency over no events)."""
    if path[0] == "latency" and not get(r, "latency", "count"):
        return None
    if path[:2] == ("reconnect", "time_to_resume") and not get(r, *path[:2], "count"):
        return None
    return get(r, *path)


def figure_rows(runs, cols, figures):
    rows = []
    for what, path, scale, unit in figures:
        values = {c: measured(runs[c], path) for c in cols}
        values = {c: (v * scale if isinstance(v, (int, float)) else None) for c, v in values.items()}
        base = values.get("sse")
        cells = [f"{what}{unit}"]
        for c in cols:
            v = values[c]
            cells.append(num(v) + (ratio(v, base) if c != "sse" else ""))
        rows.append(cells)
    return rows


def load_tables(run, lines, missing):
    plain = {c: run.load(c) for c in COLUMNS}
    cols = [c for c in COLUMNS if plain[c]]
    if not cols:
        missing.append("the transports load set (no transports*-sse.json)")
        return
    first = plain[cols[0]]
    la = first.get("load_average") or [0, 0, 0]
    lines.append(f"### Under load ({run.set})\n")
    lines.append(
        f"{first['connections']:,} subscribers, {first.get('rate')} events/s for {first['duration_s']} s, "
        f"short polls every {get(plain.get('poll'), 'poll_interval_ms') or '-'} ms; load average "
        f"{la[0]:.1f} at the first start. Ratios are to SSE in the same run; through nginx the "
        f"server CPU is the server's alone.\n")
    table(lines, ["figure"] + [NAMES[c] for c in cols], figure_rows(plain, cols, [
        ("connected", ("connect", "ok"), 1, ""),
        ("events missing (all readers)", ("delivery", "missing"), 1, ""),
        ("events repeated", ("delivery", "duplicates"), 1, ""),
        ("bytes on the wire per delivered event", ("wire", "bytes_per_event"), 1, ""),
        ("payload bytes per event", ("wire", "payload_bytes_per_event"), 1, ""),
        ("bytes per connection per second", ("wire", "bytes_per_connection_s"), 1, ""),
        ("deliveries per server CPU second", ("cpu", "deliveries_per_server_cpu_s"), 1, ""),
        ("client CPU", ("cpu", "client_s"), 1, ", s"),
        ("latency p50", ("latency", "p50_us"), 1e-3, ", ms"),
        ("latency p99", ("latency", "p99_us"), 1e-3, ", ms"),
        ("latency p99.9", ("latency", "p99_9_us"), 1e-3, ", ms"),
        ("server RSS per idle connection", ("server_rss", "per_idle_connection_bytes"), 1e-3, ", KB"),
    ]))
    wave = {c: run.load(c, "-reconnect") for c in TRANSPORTS}
    wcols = [c for c in TRANSPORTS if wave[c]]
    if not wcols:
        missing.append("the reconnect wave (no transports*-reconnect.json)")
        return
    lines.append("### Reconnect wave\n")
    lines.append("Halfway through publishing every reader drops and resumes from its last id "
                 "(256 at a time) while publishing goes on.\n")
    table(lines, ["figure"] + [NAMES[c] for c in wcols], figure_rows(wave, wcols, [
        ("readers resumed", ("reconnect", "resumed"), 1, ""),
        ("reconnects failed", ("reconnect", "failed"), 1, ""),
        ("events missing", ("reconnect", "missing"), 1, ""),
        ("events repeated", ("reconnect", "duplicates"), 1, ""),
        ("time to resume p50", ("reconnect", "time_to_resume", "p50_us"), 1e-3, ", ms"),
        ("time to resume p99", ("reconnect", "time_to_resume", "p99_us"), 1e-3, ", ms"),
        ("whole wave", ("reconnect", "wave_ms"), 1, ", ms"),
        ("server CPU per reconnect", ("reconnect", "server_cpu_per_reconnect_us"), 1, ", µs"),
    ]))


def latency_table(run, lines):
    runs = {c: run.load(c) for c in COLUMNS}
    cols = [c for c in COLUMNS if get(runs[c], "latency", "distribution")]
    if not cols:
        return
    lines.append("### Latency distribution\n")
    lines.append("Publish to the subscriber's parse, every delivery of the run; ratios to SSE.\n")
    wanted = (50.0, 90.0, 99.0, 99.9, 100.0)
    rows = []
    for p in wanted:
        values = {}
        for c in cols:
            at = {d["percentile"]: d["value_us"] for d in runs[c]["latency"]["distribution"]}
            values[c] = at.get(p) / 1000 if at.get(p) is not None else None
        base = values.get("sse")
        label = "max" if p == 100.0 else f"p{p:g}"
        rows.append([f"{label}, ms"] + [num(values[c]) + (ratio(values[c], base) if c != "sse" else "")
                                         for c in cols])
    table(lines, ["percentile"] + [NAMES[c] for c in cols], rows)


def memory_table(run, lines, missing):
    points = run.memory()
    if not points:
        missing.append("the memory sweep (no transports-memory*-TRANSPORT-COUNT.json)")
        return
    counts = sorted({n for v in points.values() for n, _, _ in v})
    cols = [t for t in TRANSPORTS if t in points]
    lines.append(f"### Server memory per idle connection ({run.memory_set})\n")
    lines.append("Server RSS with every connection open and idle, less before connecting, over "
                 "the connections; a fresh `ssekit serve` for each cell. KB (1 000 bytes), ratio "
                 "to SSE at the same count.\n")
    rows = []
    for n in counts:
        at = {t: next(((per, ok) for c, per, ok in points[t] if c == n), (None, None)) for t in cols}
        base = at.get("sse", (None,))[0]
        cells = [f"{n:,}"]
        for t in cols:
            per, ok = at[t]
            kb = per / 1000 if per is not None else None
            cell = num(kb) + (ratio(kb, base / 1000 if base else None) if t != "sse" else "")
            if ok is not None and ok != n:
                cell += f" ({ok:,} connected)"
            cells.append(cell)
        rows.append(cells)
    table(lines, ["connections"] + [NAMES[t] for t in cols], rows)


def peer_table(run, lines):
    if not run.peers:
        return
    lines.append("### Other servers (benches/transport_peers.sh, same run)\n")
    lines.append("Each ratio is to `ssekit serve` over the same transport at the same size in "
                 "this run, where there is one.\n")

    def key(r):
        return (r.get("transport", "sse"), r.get("connections"), r.get("rate"))

    ours = {key(r): r for r in run.peers.values() if str(r.get("label", "")).startswith("ssekit")}
    rows = []
    for name, r in sorted(run.peers.items(), key=lambda kv: (kv[1].get("connections") or 0, kv[0])):
        base = ours.get(key(r)) if not str(r.get("label", "")).startswith("ssekit") else None

        def cell(path, scale=1.0):
            # 0 means not measured here (an idle run has no latency; gunicorn's arbiter is not
            # where its workers' memory grows): a dash, not a figure.
            v = get(r, *path)
            v = v * scale if isinstance(v, (int, float)) and v > 0 else None
            b = get(base, *path)
            b = b * scale if isinstance(b, (int, float)) and b > 0 else None
            return num(v) + ratio(v, b)

        rows.append([
            str(r.get("label") or name.removeprefix("peer-")),
            r.get("transport", "sse"),
            f"{get(r, 'connect', 'ok') or 0:,} of {r.get('connections') or 0:,}",
            cell(("server_rss", "per_idle_connection_bytes"), 1e-3),
            cell(("cpu", "deliveries_per_server_cpu_s")),
            cell(("latency", "p99_us"), 1e-3),
            num(get(r, "delivery", "missing")),
            num(r.get("server_threads_max")),
        ])
    table(lines, ["server", "transport", "connected", "RSS per idle connection, KB",
                  "deliveries per server CPU s", "latency p99, ms", "missing", "server threads (max)"], rows, 2)


def browser_tables(run, lines, missing):
    b = run.browser
    if not b:
        if not any("browser" in s for s in run.notes.get("skipped", [])):
            missing.append("the browser measurements (no browser/*.json)")
        return
    version = next((v.get("chromium") for v in b.values() if v.get("chromium")), "Chromium")
    lines.append(f"### In a real browser ({version}, one run)\n")
    rows = []
    for r in get(b.get("eventsources_per_origin"), "rows") or []:
        rows.append([f"`{r.get('origin')}` EventSources", str(r.get("protocol")),
                     f"{r.get('opened_while_held')} of {r.get('streams_asked')}",
                     num(r.get("last_open_ms")), num(get(r, "event_delivery_ms", "max")),
                     (f"held {num(r.get('fetch_stalled_ms'))}" if r.get("held_ms") else num(r.get("fetch_ms")))])
    w = b.get("websockets_per_origin")
    if w:
        rows.append([f"`{w.get('origin')}` WebSockets", "http/1.1",
                     f"{w.get('opened_while_held')} of {w.get('sockets_asked')}",
                     num(w.get("last_open_ms")), num(get(w, "event_delivery_ms", "max")), num(w.get("fetch_ms"))])
    if rows:
        table(lines, ["page opens", "protocol", "open at once", "last open after, ms",
                      "publish to message (slowest), ms", "fetch() meanwhile, ms"], rows, 2)
    d = b.get("drop")
    if d:
        table(lines, ["client", "reconnect", "back after the drop, ms", "events received", "missed"],
              [[str(r.get("client")), str(r.get("reconnect")), num(r.get("back_after_ms")),
                f"{r.get('received')} of {r.get('published')}", num(r.get("missed"))]
               for r in d.get("rows") or []], 2)


# --- plots -------------------------------------------------------------------------------


def nines(p):
    """The x of percentile p on the nines axis: 0 at the median's left end, 1 at 90, 2 at 99."""
    return -math.log10(1.0 - p / 100.0)


def plot_setup():
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    # Reproducible SVG: fixed ids instead of random ones, text kept as text (no glyph paths
    # that depend on the installed fonts' outlines), no date (see save()).
    plt.rcParams.update({
        "svg.hashsalt": "ssekit-transports",
        "svg.fonttype": "none",
        "font.size": 10,
        "axes.grid": True,
        "grid.alpha": 0.3,
    })
    return plt


def readable_log_axis(axis):
    """Log axis ticks at 1, 2, 5 of every decade, written as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def subtitle(run):
    la = run.notes.get("load_average")
    cores = run.notes.get("cores")
    parts = []
    if run.notes.get("smoke"):
        parts.append("smoke size")
    if cores:
        parts.append(f"client and server on the same {cores} cores")
    if la:
        parts.append(f"load average {la[0]:.1f} at the start")
    return "; ".join(parts)


def plot_memory(plt, run, path):
    points = run.memory()
    peers = {}
    for r in run.peers.values():
        per = get(r, "server_rss", "per_idle_connection_bytes")
        label = str(r.get("label", ""))
        if per is not None and per > 0 and label and not label.startswith("ssekit"):
            peers.setdefault(label, set()).add((r.get("connections"), per))
    if not points and not peers:
        return False
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for t in TRANSPORTS:
        if t in points:
            xs = [n for n, _, _ in points[t]]
            ys = [per / 1000 for _, per, _ in points[t]]
            ax.plot(xs, ys, marker="o", color=COLOURS[t], label=f"ssekit serve, {NAMES[t]}")
    for i, (label, pts) in enumerate(sorted(peers.items())):
        pts = sorted(pts)
        ax.plot([n for n, _ in pts], [per / 1000 for _, per in pts], marker="s", linestyle="--",
                color=f"C{4 + i % 6}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    counts = sorted({n for v in points.values() for n, _, _ in v} | {n for v in peers.values() for n, _ in v})
    ax.set_xticks(counts, [f"{n / 1000:g}k" if n >= 1000 else f"{n}" for n in counts])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("idle connections")
    ax.set_ylabel("server RSS per idle connection, KB (log)")
    ax.set_title("Server memory per idle connection\n" + subtitle(run), fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(plt, fig, path)
    return True


def plot_distribution(plt, run, path, title, ylabel, series):
    """series: [(label, colour, linestyle, summary with a distribution)]; False when there is
    nothing to draw. A percentile is drawn only where at least one measurement lies above it:
    beyond that it is only the maximum again."""
    series = [s for s in series if get(s[3], "distribution")]
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    top = 0.0
    for label, colour, style, summary in series:
        count = summary.get("count") or 0
        pts = [(nines(d["percentile"]), d["value_us"] / 1000) for d in summary["distribution"]
               if d["percentile"] < 100.0 and count * (1.0 - d["percentile"] / 100.0) >= 1.0 - 1e-9]
        if not pts:
            continue
        top = max(top, max(x for x, _ in pts))
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker=".", color=colour, linestyle=style, label=label)
    ticks = [p for p in NINES_TICKS if nines(p) <= top + 1e-9]
    ax.set_xticks([nines(p) for p in ticks], [f"{p:g}%" for p in ticks])
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)
    ax.set_xlabel("percentile (nines scale: each step is ten times rarer)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + "\n" + subtitle(run), fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(plt, fig, path)
    return True


def plots(run, plots_dir):
    plt = plot_setup()
    plots_dir.mkdir(parents=True, exist_ok=True)
    drawn = []
    if plot_memory(plt, run, plots_dir / "memory.svg"):
        drawn.append(("memory.svg", "Server memory per idle connection against connections"))
    latency = []
    for c in COLUMNS:
        r = run.load(c)
        t = c.removesuffix("-nginx")
        latency.append((NAMES[c], COLOURS[t], "--" if c.endswith("-nginx") else "-", get(r, "latency")))
    first = next((run.load(c) for c in COLUMNS if run.load(c)), None)
    size = f", {first['connections']:,} subscribers" if first else ""
    if plot_distribution(plt, run, plots_dir / "latency.svg", f"Delivery latency by transport{size}",
                         "publish to parse, ms (log)", latency):
        drawn.append(("latency.svg", "Delivery latency distribution per transport"))
    resume = [(NAMES[t], COLOURS[t], "-", get(run.load(t, "-reconnect"), "reconnect", "time_to_resume"))
              for t in TRANSPORTS]
    if plot_distribution(plt, run, plots_dir / "resume.svg", f"Time to resume in the reconnect wave{size}",
                         "reconnect to first answer, ms (log)", resume):
        drawn.append(("resume.svg", "Time to resume per reconnect, per transport"))
    return drawn


def nginx_section(out, lines):
    """The runs through nginx (recommended and default configurations) against their direct
    runs: load_report.py already tables them, so its section is taken as it prints it."""
    if not any(out.glob("transports*-nginx*.json")):
        return
    script = pathlib.Path(__file__).with_name("load_report.py")
    printed = subprocess.run([sys.executable, str(script), str(out)], check=True,
                             capture_output=True, text=True).stdout
    start = printed.find(" through nginx: ")
    if start < 0:
        return
    start = printed.rfind("\n", 0, start) + 1
    lines.append("### Through nginx\n")
    lines.append(printed[start:].strip() + "\n")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=pathlib.Path, help="the run's output directory")
    ap.add_argument("--plots-dir", type=pathlib.Path, help="where the SVGs go (default: OUT)")
    args = ap.parse_args(argv)
    if not args.out.is_dir():
        raise ReportError(f"{args.out} is not a directory: give the OUT_DIR of a benches/transports.sh run")
    run = Run(args.out)
    if not run.reports and not run.browser:
        raise ReportError(f"{args.out} holds no ssekit-load/1 report and no browser measurement: "
                          "run benches/transports.sh first")
    lines, missing = [], []
    lines.append("## The transport matrix, one run\n")
    notes = run.notes
    if notes:
        lines.append(f"`{notes.get('command', 'benches/transports.sh')}`"
                     + (" (smoke size)" if notes.get("smoke") else "")
                     + f": client and servers on the same {notes.get('cores', '?')} cores, load average "
                     + " ".join(f"{x:.2f}" for x in notes.get("load_average") or [])
                     + " at the start. Only ratios within this run carry over to other machines.\n")
    load_tables(run, lines, missing)
    nginx_section(args.out, lines)
    latency_table(run, lines)
    memory_table(run, lines, missing)
    peer_table(run, lines)
    browser_tables(run, lines, missing)
    drawn = plots(run, args.plots_dir or args.out)
    if notes:
        # A run of benches/transports.sh always has these two: without them the pipeline broke.
        lacking = {"memory.svg", "latency.svg"} - {name for name, _ in drawn}
        if lacking:
            raise ReportError(f"{args.out}: nothing to draw {', '.join(sorted(lacking))} from "
                              "(no transports-memory* reports, or no latency.distribution in the "
                              "transports* ones): see load.log in that directory")
    if drawn:
        lines.append("### Plots\n")
        for name, what in drawn:
            lines.append(f"- {what}: `{(args.plots_dir or args.out) / name}`")
        lines.append("")
    for what in missing + [f"{s}" for s in notes.get("skipped", [])]:
        lines.append(f"- Not in this run: {what}")
    text = "\n".join(lines).rstrip() + "\n"
    (args.out / "report.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ReportError as e:
        print(f"transports_report: {e}", file=sys.stderr)
        sys.exit(2)
