#!/usr/bin/env python3
"""Turns bench/all.sh results (OUTDIR/warren.jsonl, OUTDIR/rabbitmq.jsonl) into
the Markdown comparison table of docs/performance.md.

usage: bench/table.py OUTDIR
"""
import json
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                rows.setdefault(r.get("label", r["scenario"]), []).append(r)
    return rows


def figure(r):
    """(headline number, unit, text) of one result."""
    s = r["scenario"]
    if s == "throughput":
        if "10k" in r.get("label", ""):
            lat = r["latency_us"]
            return lat["p99"], "µs", "p99 %.0f µs / p99.9 %.0f µs" % (lat["p99"], lat["p999"])
        return r["consume_rate"], "msg/s", "%s consumed/s (published %s/s)" % (
            f"{r['consume_rate']:,.0f}", f"{r['publish_rate']:,.0f}")
    if s in ("fanout", "topic"):
        return r["delivery_rate"], "deliveries/s", "%s deliveries/s (published %s/s)" % (
            f"{r['delivery_rate']:,.0f}", f"{r['publish_rate']:,.0f}")
    if s == "rpc":
        lat = r["latency_us"]
        return r["round_trip_rate"], "round trips/s", "%s/s, p50 %.0f µs" % (
            f"{r['round_trip_rate']:,.0f}", lat["p50"])
    if s == "backlog":
        return r["publish_rate"], "msg/s", "publish %s/s, drain %s/s, RSS at full backlog %d MB" % (
            f"{r['publish_rate']:,.0f}", f"{r['drain_rate']:,.0f}",
            r.get("broker_rss_kb_at_full_backlog", 0) // 1024)
    if s == "queue-count":
        return r["declare_rate"], "queues/s", "%.2f s (%s/s), %.1f KB RSS per queue" % (
            r["declare_seconds"], f"{r['declare_rate']:,.0f}",
            r.get("broker_rss_bytes_per_queue", 0) / 1024)
    if s == "connection-count":
        return r["held"], "connections", "%d held, %.1f KB RSS per connection" % (
            r["held"], r.get("broker_rss_bytes_per_connection", 0) / 1024)
    if s == "startup":
        return r["startup_ms"], "ms", "%.0f ms, RSS %d MB" % (r["startup_ms"], r["broker_rss_kb"] // 1024)
    return 0, "", json.dumps(r)


def cpu(r):
    if "broker_publish_cpu_us_per_msg" in r:
        return "%.2f / %.2f µs" % (r["broker_publish_cpu_us_per_msg"], r["broker_drain_cpu_us_per_msg"])
    if "broker_cpu_us_per_msg" in r:
        return "%.2f µs" % r["broker_cpu_us_per_msg"]
    return ""


def main():
    out = sys.argv[1]
    w, q = load(out + "/warren.jsonl"), load(out + "/rabbitmq.jsonl")
    print("| scenario | Warren | RabbitMQ | ratio | broker CPU/msg Warren / RabbitMQ | RSS after Warren / RabbitMQ | load (1/5/15 min) W / R |")
    print("|---|---|---|---|---|---|---|")
    for label, runs in w.items():
        for i, a in enumerate(runs):
            b = q.get(label, [None] * (i + 1))[i] if i < len(q.get(label, [])) else None
            fa, unit, ta = figure(a)
            fb, _, tb = figure(b) if b else (0, "", "—")
            lower_better = unit in ("ms", "µs")
            ratio = ""
            if fa and fb:
                ratio = "%.1f×" % ((fb / fa) if lower_better else (fa / fb))
            rss = "%d / %s MB" % (a.get("broker_rss_kb", 0) // 1024,
                                  (b.get("broker_rss_kb", 0) // 1024) if b else "—")
            print(f"| {label} | {ta} | {tb} | {ratio} | {cpu(a)} / {cpu(b) if b else '—'} | {rss} | {a.get('load', '')} / {b.get('load', '') if b else '—'} |")


if __name__ == "__main__":
    main()
