#!/usr/bin/env bash
# Runs the same `warren perf` scenarios against two Warren binaries (say, the
# commit before a change and the change), alternating scenario by scenario so
# that both see the same machine load, each on a freshly started broker with
# an empty data directory. bench/commits.py turns the results into a table of
# new/old ratios and broker CPU per message.
#
# usage: bench/commits.sh OLD_BIN NEW_BIN OUTDIR [SCENARIO...]
#   scenarios: those of bench/all.sh (default: throughput persistent fanout
#   topic rpc backlog); env DURATION (s per run, default 10), ROUNDS (default 1)
set -euo pipefail
old=$1; new=$2; out=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
scenarios=${*:-"throughput persistent fanout topic rpc backlog"}
for round in $(seq "${ROUNDS:-1}"); do
  for s in $scenarios; do
    # Alternate which binary goes first, so neither always runs on a
    # machine the other just warmed up.
    if (( round % 2 )); then order="old new"; else order="new old"; fi
    for which in $order; do
      bin=$old; [ "$which" = new ] && bin=$new
      echo "== round $round, $s, $which ($bin)"
      WARREN_BIN=$bin PERF_BIN=$new "$here/all.sh" warren "$out/$which" "$s"
    done
  done
done
python3 "$here/commits.py" "$out"
