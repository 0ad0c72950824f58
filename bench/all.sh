#!/usr/bin/env bash
# Runs every `warren perf` scenario of docs/performance.md against one broker
# started here with an empty data directory, with the broker's CPU per message
# and RSS (read from /proc by `warren perf --broker-pid`). Memory scenarios
# (backlog, queue-count, connection-count) each get a freshly started broker.
#
# usage: bench/all.sh warren|rabbitmq OUTDIR [SCENARIO...]
#   env: WARREN_BIN (broker binary, default target/release/warren),
#        PERF_BIN (load generator, default WARREN_BIN), DURATION (s, default 10)
# Appends one JSON object per scenario to OUTDIR/KIND.jsonl; bench/table.py
# turns two such files into the comparison table.
set -euo pipefail
kind=$1; out=$2; shift 2
mkdir -p "$out"
WARREN_BIN=${WARREN_BIN:-target/release/warren}
PERF_BIN=${PERF_BIN:-$WARREN_BIN}
DURATION=${DURATION:-10}
here=$(cd "$(dirname "$0")" && pwd)
ulimit -n "$(ulimit -Hn)"
results="$out/$kind.jsonl"
pid=""; tmp=""

case $kind in
  warren) port=5680 ;;
  rabbitmq) port=5699; node=warrenperf@$(hostname -s) ;;
  *) echo "unknown broker kind $kind" >&2; exit 2 ;;
esac
uri="amqp://guest:guest@127.0.0.1:$port/%2f"

start_broker() {
  tmp=$(mktemp -d /tmp/warren-bench.XXXXXX)
  local started
  if [ "$kind" = warren ]; then
    started=$(python3 "$here/startup.py" "$port" "$out/$kind.log" -- \
      "$WARREN_BIN" --amqp-port "$port" --data-dir "$tmp/data")
    pid=${started% *}
  else
    chown rabbitmq: "$tmp"
    # setpriv, not su: su's PAM session would reset the open-file limit to 1024.
    started=$(cd /var/lib/rabbitmq && HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=$node \
      RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=25699 RABBITMQ_MNESIA_BASE=$tmp \
      RABBITMQ_LOG_BASE=$tmp python3 "$here/startup.py" "$port" "$out/$kind.log" -- \
      setpriv --reuid rabbitmq --regid rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server)
    for p in $(pgrep -x beam.smp); do
      if grep -qa "RABBITMQ_NODENAME=$node" "/proc/$p/environ"; then pid=$p; fi
    done
  fi
  echo "{\"scenario\":\"startup\",\"startup_ms\":${started#* },\"broker_rss_kb\":$(awk '/VmRSS/{print $2}' /proc/$pid/status),\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >> "$results"
  echo "started $kind (pid $pid) in ${started#* } ms"
}

stop_broker() {
  if [ "$kind" = warren ]; then
    kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  else
    HOME=/var/lib/rabbitmq setpriv --reuid rabbitmq --regid rabbitmq --init-groups \
      /usr/lib/rabbitmq/bin/rabbitmqctl -n "$node" stop >/dev/null
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$tmp"
}

# run LABEL SCENARIO FLAGS...: one scenario, its JSON summary tagged with the
# label, the flags and the machine load before it started.
run() {
  local label=$1; shift
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  local line
  line=$("$PERF_BIN" perf "$@" --uri "$uri" --json --broker-pid "$pid" -z "${Z:-$DURATION}" | tail -1)
  echo "${line%\}},\"label\":\"$label\",\"flags\":\"$*\",\"load\":\"$load\"}" | tee -a "$results"
}

scenarios=${*:-"throughput fanout topic latency rpc backlog queues connections"}
start_broker
for s in $scenarios; do
  case $s in
    throughput)
      run "1P/1C auto-ack" throughput -a
      run "1P/1C manual ack, prefetch 1000" throughput -q 1000 -A 100
      run "2P/2C one queue" throughput -x 2 -y 2 -q 1000 -A 100
      run "1 KB confirms 1000, manual ack (transient)" throughput -q 1000 -A 100 -c 1000 -s 1024
      run "4P/4C, 4 queues" throughput -x 4 -y 4 --queues 4 -q 1000 -A 100 ;;
    persistent)
      run "persistent 1 KB, confirms 1000, manual ack" throughput --persistent -q 1000 -A 100 -c 1000 -s 1024 ;;
    fanout) run "fanout 1→10" fanout --queues 10 ;;
    topic) run "topic, 1,000 bindings" topic --bindings 1000 --queues 10 ;;
    latency) Z=$((DURATION * 2)) run "latency at 10k msg/s" throughput -a -r 10000 ;;
    rpc)
      run "rpc, reply queue" rpc
      run "rpc, direct reply-to" rpc --direct-reply-to ;;
    backlog)
      stop_broker; start_broker
      Z=300 run "backlog 1M × 16 B" backlog -C 1000000 ;;
    queues)
      stop_broker; start_broker
      Z=300 run "10,000 queues" queue-count -C 10000 --hold 5 ;;
    connections)
      stop_broker; start_broker
      Z=300 run "10,000 idle connections" connection-count -C 10000 --hold 5 ;;
    *) echo "unknown scenario $s" >&2 ;;
  esac
done
stop_broker
