#!/bin/bash
# Records tests/golden/recorded/*.golden from RabbitMQ 3.10.8 (the Debian
# package rabbitmq-server). Run by hand, as root, from anywhere:
#
#   crates/warren-amqp/tests/golden/record.sh            # every scenario file
#   GOLDEN_ONLY=queue crates/warren-amqp/tests/golden/record.sh   # one file
#
# It starts a throwaway node on its own ports, node name and directories (so
# it disturbs no other RabbitMQ on the machine), creates the users the
# scenarios log in as, runs the ignored test `record_from_reference`, and
# stops the node. GOLDEN_AMQP_ADDR=host:port records from a broker already
# running instead (it must have the same users: see create_users below).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${GOLDEN_PORT:-5795}
node=rabbit-golden-record@localhost

create_users() {
    local ctl=(rabbitmqctl -n "$node" -q)
    "${ctl[@]}" add_user golden-limited golden-limited
    "${ctl[@]}" set_permissions -p / golden-limited '^lim-conf' '^lim-(conf|write)' '^lim-(conf|read)'
    "${ctl[@]}" add_user golden-nowhere golden-nowhere
    "${ctl[@]}" add_user golden-nowrite golden-nowrite
    "${ctl[@]}" set_permissions -p / golden-nowrite '.*' '' '.*'
}

if [ -z "${GOLDEN_AMQP_ADDR:-}" ]; then
    base=$(mktemp -d /tmp/warren-golden.XXXXXX)
    mkdir -p "$base/mnesia" "$base/log"
    printf 'listeners.tcp.default = %s\nloopback_users = none\n' "$port" >"$base/rabbitmq.conf"
    echo '[].' >"$base/enabled_plugins"
    chown -R rabbitmq:rabbitmq "$base"
    stop() {
        rabbitmqctl -n "$node" -q stop >/dev/null 2>&1 || true
        rm -rf "$base"
    }
    trap stop EXIT
    RABBITMQ_NODENAME=$node RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$((port + 20000)) \
        RABBITMQ_MNESIA_BASE=$base/mnesia RABBITMQ_LOG_BASE=$base/log \
        RABBITMQ_CONFIG_FILE=$base/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$base/enabled_plugins \
        rabbitmq-server >"$base/server.out" 2>&1 &
    for _ in $(seq 60); do
        rabbitmqctl -n "$node" -q await_startup --timeout 60 >/dev/null 2>&1 && break
        sleep 1
    done
    rabbitmqctl -n "$node" -q await_startup --timeout 10
    rabbitmqctl -n "$node" -q status | grep -q '3.10.8' \
        || { echo "not RabbitMQ 3.10.8" >&2; exit 1; }
    create_users
    export GOLDEN_AMQP_ADDR=127.0.0.1:$port
fi

cd "$here/../.."
cargo test --test golden -- --ignored record_from_reference --nocapture
