#!/usr/bin/env python3
"""Compares two bench/commits.sh result sets (OUTDIR/old/warren.jsonl and
OUTDIR/new/warren.jsonl): one row per scenario and run, the headline figure
of each, new/old ratio (above 1 is better, for latencies too) and broker CPU
per message.

usage: bench/commits.py OUTDIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table  # noqa: E402  (bench/table.py: load() and figure())


def cpu_us(r):
    if "broker_cpu_us_per_msg" in r:
        return r["broker_cpu_us_per_msg"]
    if "broker_publish_cpu_us_per_msg" in r:
        return r["broker_publish_cpu_us_per_msg"]
    return None


def main():
    out = sys.argv[1]
    old = table.load(os.path.join(out, "old", "warren.jsonl"))
    new = table.load(os.path.join(out, "new", "warren.jsonl"))
    print("| scenario | old | new | new/old | broker CPU/msg old → new |")
    print("|---|---|---|---|---|")
    for label, runs in new.items():
        if label == "startup":
            continue
        for i, b in enumerate(runs):
            olds = old.get(label, [])
            a = olds[i] if i < len(olds) else None
            fb, unit, tb = table.figure(b)
            fa, _, ta = table.figure(a) if a else (0, "", "—")
            ratio = ""
            if fa and fb:
                lower_better = unit in ("ms", "µs")
                ratio = "%.2f" % ((fa / fb) if lower_better else (fb / fa))
            ca, cb = (cpu_us(a) if a else None), cpu_us(b)
            cpu = "%s → %s µs" % ("%.2f" % ca if ca is not None else "—",
                                  "%.2f" % cb if cb is not None else "—")
            print(f"| {label} | {ta} | {tb} | {ratio} | {cpu} |")


if __name__ == "__main__":
    main()
