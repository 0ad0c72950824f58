#!/usr/bin/env bash
# Runs one `warren perf` scenario against a broker process and reports the
# broker's CPU time per message and its RSS afterwards.
# usage: bench/compare.sh PID URI [warren perf throughput flags...]
# (PERF_BIN: the load generator, default target/release/warren; bench/all.sh
# runs every scenario, this runs one throughput scenario)
set -euo pipefail
pid=$1; uri=$2; shift 2
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu)
out=$("${PERF_BIN:-target/release/warren}" perf throughput --uri "$uri" --json "$@")
after=$(cpu)
rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
echo "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
ticks, tick, rss = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpu_s = ticks / tick
msgs = max(r["consumed"], r["published"], 1)
lat = r["latency_us"]
print("publish %.0f/s consume %.0f/s p99 %.0fus p99.9 %.0fus broker CPU %.2fs = %.2f us/msg, RSS %d MB"
      % (r["publish_rate"], r["consume_rate"], lat["p99"], lat["p999"], cpu_s, cpu_s * 1e6 / msgs, rss // 1024))
' "$((after - before))" "$tick" "$rss_kb"
