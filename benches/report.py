#!/usr/bin/env python3
"""Turns criterion's output and the parse bench's log into the Markdown tables of docs/benchmarks.md.

Usage: python3 benches/report.py target/criterion parse.log [serialize.log]

Figures are criterion's median estimate (more robust than the mean on a shared machine).
GB/s is 10^9 bytes per second; ns/event divides by the corpus's expected events. Ratios are
peer time / ssekit time in the same group of the same run (> 1: ssekit is faster).
"""
import json
import os
import sys


def load_criterion(root):
    """{group: {function: median_ns}} from <root>/<group>/<function>/new/."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        group = bench["group_id"]
        out.setdefault(group, {})[bench["function_id"]] = est["median"]["point_estimate"]
    return out


def load_log(path):
    meta, skips, answers = {}, {}, []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "META":
                meta[parts[1]] = (int(parts[2]), int(parts[3]))
            elif parts[0] == "SKIP":
                skips.setdefault(parts[1], []).append((parts[2], parts[3]))
            elif parts[0] == "ANSWER":
                answers.append(parts[1:])
    return meta, skips, answers


def fmt_time(ns):
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.1f} ns"


def group_tables(results, meta, skips):
    lines = []
    for group in sorted(meta, key=list(meta).index):
        size, events = meta[group]
        row = results.get(group, {})
        base = row.get("ssekit")
        lines.append(f"\n#### {group} ({size / 2**20:.2f} MiB, {events} events)\n")
        lines.append("| parser | median time | GB/s | ns/event | ssekit speed-up |")
        lines.append("|---|---:|---:|---:|---:|")
        for name, ns in sorted(row.items(), key=lambda kv: kv[1]):
            ratio = f"{ns / base:.2f}×" if base else "-"
            lines.append(
                f"| {name} | {fmt_time(ns)} | {size / ns:.3f} | {ns / events:.1f} | {ratio} |"
            )
        for name, why in skips.get(group, []):
            lines.append(f"| {name} | not timed: {why} | | | |")
    return lines


def summary(results, meta):
    lines = [
        "| group | ssekit GB/s | ssekit ns/event | vs eventsource-stream | vs sseer | vs sse-stream | vs ssekit-stream |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in meta:
        size, events = meta[group]
        row = results.get(group, {})
        base = row.get("ssekit")
        if not base:
            continue

        def ratio(peer):
            return f"{row[peer] / base:.2f}×" if peer in row else "n/a"

        lines.append(
            f"| {group} | {size / base:.2f} | {base / events:.1f} | {ratio('eventsource-stream')} "
            f"| {ratio('sseer')} | {ratio('sse-stream')} | {ratio('ssekit-stream')} |"
        )
    return lines


def answers_table(answers):
    lines = ["| corpus | chunking | parser | answer |", "|---|---|---|---|"]
    for corpus, chunking, peer, verdict, *rest in answers:
        if verdict == "correct":
            continue
        if rest[0] == "error":
            got = "error: " + rest[1].replace("|", "\\|")
        else:
            got = f"{rest[0]} events, {rest[1]} data bytes (expected {rest[2]} events)"
        lines.append(f"| {corpus} | {chunking} | {peer} | {got} |")
    return lines


def main():
    root, log = sys.argv[1], sys.argv[2]
    results = load_criterion(root)
    meta, skips, answers = load_log(log)
    print("### Summary (ratios: peer time / ssekit time, same run)\n")
    print("\n".join(summary(results, meta)))
    print("\n### Peers that answered differently from the spec\n")
    print("\n".join(answers_table(answers)))
    print("\n### Every group\n")
    print("\n".join(group_tables(results, meta, skips)))
    serialize = results.get("serialize@id+event+100B")
    if serialize:
        print("\n### Serializer (id + event + 100 B data)\n")
        print("| encoder | median ns/frame | axum time / this |")
        print("|---|---:|---:|")
        axum = serialize.get("axum-event")
        for name, ns in sorted(serialize.items(), key=lambda kv: kv[1]):
            print(f"| {name} | {ns:.1f} | {axum / ns:.2f}× |" if axum else f"| {name} | {ns:.1f} | - |")


if __name__ == "__main__":
    main()
