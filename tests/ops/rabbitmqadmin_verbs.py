#!/usr/bin/env python3
"""RabbitMQ's own rabbitmqadmin (as Debian's rabbitmq-server package ships
it) drives a running Warren with every verb an operator uses: list and show
every object kind, declare/delete queue, exchange, binding, user, vhost,
permission and policy, publish, get, purge, close connection, and
export/import definitions. Each step is checked against the API's answer;
the first failure exits non-zero with the command and its output.

Usage: rabbitmqadmin_verbs.py RABBITMQADMIN HTTP_PORT AMQP_PORT
Needs pika (for the connection, channel and consumer that are listed and
closed). Everything it creates is deleted again.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import pika

ADMIN, HTTP_PORT, AMQP_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TAG = f"ops{os.getpid()}"
VHOST = f"{TAG}-vhost"
USER, PASSWORD = f"{TAG}-user", "s3cret"
QUEUE, EXCHANGE, POLICY = f"{TAG}.q", f"{TAG}.x", f"{TAG}-policy"
steps = 0


def fail(what, detail=""):
    print(f"FAIL: {what}\n{detail}", file=sys.stderr)
    sys.exit(1)


def admin(*args, vhost=None, user="guest", password="guest"):
    """Runs rabbitmqadmin; any non-zero exit is a failure."""
    global steps
    cmd = [sys.executable, ADMIN, "-H", "127.0.0.1", "-P", HTTP_PORT,
           "-u", user, "-p", password]
    if vhost is not None:
        cmd += ["-V", vhost]
    cmd += list(args)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        fail(" ".join(args), f"exit {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}")
    steps += 1
    return run.stdout


def listed(kind, vhost=None, **kw):
    """`rabbitmqadmin -f raw_json list KIND` as Python objects."""
    return json.loads(admin("-f", "raw_json", "list", kind, vhost=vhost, **kw))


def check(cond, what, detail=""):
    if not cond:
        fail(what, json.dumps(detail, indent=1, default=str)[:4000])


def until(what, probe, timeout=10.0):
    """Polls probe() until it returns a true value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def names(items, key="name"):
    return {i[key] for i in items}


def objects_and_access():
    admin("declare", "vhost", f"name={VHOST}")
    check(VHOST in names(listed("vhosts")), "declared vhost is listed")
    admin("declare", "user", f"name={USER}", f"password={PASSWORD}",
          "tags=monitoring,policymaker")
    users = {u["name"]: u for u in listed("users")}
    check(USER in users, "declared user is listed", users)
    check("monitoring" in str(users[USER]["tags"]), "user tags", users[USER])
    admin("declare", "permission", f"vhost={VHOST}", f"user={USER}",
          "configure=.*", "write=.*", "read=.*")
    perms = [p for p in listed("permissions") if p["user"] == USER]
    check(len(perms) == 1 and perms[0]["vhost"] == VHOST and perms[0]["read"] == ".*",
          "declared permission is listed", perms)
    # Booleans as strings ("durable":"false"), as rabbitmqadmin sends them.
    admin("declare", "exchange", f"name={EXCHANGE}", "type=topic", "durable=false",
          vhost=VHOST)
    xs = {x["name"]: x for x in listed("exchanges", vhost=VHOST)}
    check(EXCHANGE in xs and xs[EXCHANGE]["type"] == "topic"
          and xs[EXCHANGE]["durable"] is False, "declared exchange", xs.get(EXCHANGE))
    admin("declare", "queue", f"name={QUEUE}", "durable=true", "auto_delete=false",
          'arguments={"x-max-length": 100}', vhost=VHOST)
    admin("declare", "queue", f"name={QUEUE}.typed", "queue_type=classic", vhost=VHOST)
    qs = {q["name"]: q for q in listed("queues", vhost=VHOST)}
    check(QUEUE in qs and qs[QUEUE]["durable"] is True
          and qs[QUEUE]["arguments"].get("x-max-length") == 100, "declared queue", qs)
    check(qs.get(f"{QUEUE}.typed", {}).get("arguments", {}).get("x-queue-type") == "classic",
          "queue_type becomes x-queue-type", qs)
    admin("declare", "binding", f"source={EXCHANGE}", f"destination={QUEUE}",
          "routing_key=ops.#", vhost=VHOST)
    bs = [b for b in listed("bindings", vhost=VHOST) if b["source"] == EXCHANGE]
    check(len(bs) == 1 and bs[0]["destination"] == QUEUE and bs[0]["routing_key"] == "ops.#",
          "declared binding is listed", bs)
    admin("declare", "policy", f"name={POLICY}", f"pattern=^{TAG}\\.q$",
          'definition={"max-length": 50}', "priority=1", "apply-to=queues", vhost=VHOST)
    ps = {p["name"]: p for p in listed("policies", vhost=VHOST)}
    check(POLICY in ps and ps[POLICY]["definition"] == {"max-length": 50}
          and ps[POLICY]["priority"] == 1 and ps[POLICY]["apply-to"] == "queues",
          "declared policy is listed", ps)
    until("the policy to apply to the queue", lambda: any(
        q["name"] == QUEUE and q.get("policy") == POLICY for q in listed("queues", vhost=VHOST)))


def messages():
    admin("publish", f"exchange={EXCHANGE}", "routing_key=ops.one", "payload=hello",
          'properties={"delivery_mode": 2, "headers": {"h": "v"}}', vhost=VHOST)
    admin("publish", f"exchange={EXCHANGE}", "routing_key=ops.two", "payload=world",
          vhost=VHOST)
    got = json.loads(admin("-f", "raw_json", "get", f"queue={QUEUE}", "count=1",
                           "ackmode=ack_requeue_true", vhost=VHOST))
    check(len(got) == 1 and got[0]["payload"] == "hello" and got[0]["routing_key"] == "ops.one"
          and got[0]["properties"].get("headers") == {"h": "v"}
          and got[0]["properties"].get("delivery_mode") == 2, "get returns the message", got)
    got = json.loads(admin("-f", "raw_json", "get", f"queue={QUEUE}", "count=5",
                           "ackmode=ack_requeue_true", vhost=VHOST))
    check([m["payload"] for m in got] == ["hello", "world"], "get count=5 returns both", got)
    q = until("two messages in the queue", lambda: [
        q for q in listed("queues", vhost=VHOST) if q["name"] == QUEUE and q["messages"] == 2])
    check(q, "queue depth after publish")
    admin("purge", "queue", f"name={QUEUE}", vhost=VHOST)
    until("an empty queue after purge", lambda: any(
        q["name"] == QUEUE and q["messages"] == 0 for q in listed("queues", vhost=VHOST)))
    got = json.loads(admin("-f", "raw_json", "get", f"queue={QUEUE}", "ackmode=ack_requeue_false",
                           vhost=VHOST))
    check(got == [], "get on an empty queue", got)


def connections():
    params = pika.ConnectionParameters(
        host="127.0.0.1", port=AMQP_PORT, virtual_host=VHOST,
        credentials=pika.PlainCredentials(USER, PASSWORD),
        client_properties={"connection_name": f"{TAG}-app"})
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.basic_consume(queue=QUEUE, on_message_callback=lambda *a: None,
                     consumer_tag=f"{TAG}-consumer")
    mine = until("the connection to be listed", lambda: [
        c for c in listed("connections") if c["user"] == USER])
    check(mine[0]["vhost"] == VHOST and mine[0].get("user_provided_name") == f"{TAG}-app",
          "connection shows vhost and client-provided name", mine)
    # The new user (monitoring tag) sees the same through the API.
    check(len([c for c in listed("connections", user=USER, password=PASSWORD)
               if c["user"] == USER]) == 1, "a monitoring user lists connections")
    chans = until("the channel to be listed", lambda: [
        c for c in listed("channels") if c["user"] == USER])
    check(chans[0]["consumer_count"] == 1, "channel shows its consumer", chans)
    cons = [c for c in listed("consumers", vhost=VHOST) if c["consumer_tag"] == f"{TAG}-consumer"]
    check(len(cons) == 1 and cons[0]["queue"]["name"] == QUEUE, "consumer is listed", cons)
    admin("close", "connection", f"name={mine[0]['name']}")
    deadline = time.monotonic() + 10
    closed = None
    while time.monotonic() < deadline and closed is None:
        try:
            conn.process_data_events(time_limit=0.2)
        except pika.exceptions.ConnectionClosedByBroker as e:
            closed = e
    check(closed is not None and closed.reply_code == 320, "close connection: 320 to the client",
          str(closed))
    until("the connection to leave the list", lambda: not [
        c for c in listed("connections") if c["user"] == USER])


def node_and_overview():
    nodes = listed("nodes")
    check(len(nodes) == 1 and nodes[0]["running"] is True and nodes[0]["mem_used"] > 0
          and nodes[0]["fd_total"] > 0 and nodes[0]["partitions"] == [], "list nodes", nodes)
    overview = json.loads(admin("-f", "raw_json", "show", "overview"))
    check(overview[0]["object_totals"]["queues"] >= 2 and overview[0]["node"] == nodes[0]["name"],
          "show overview", overview)
    check(listed("vhosts")[0].get("name") is not None, "list vhosts")


def definitions():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "defs.json")
        admin("export", path)
        with open(path) as f:
            defs = json.load(f)
        check(any(q["name"] == QUEUE and q["vhost"] == VHOST for q in defs["queues"])
              and any(p["name"] == POLICY for p in defs["policies"])
              and any(u["name"] == USER for u in defs["users"]),
              "export holds the queue, policy and user", defs)
        admin("delete", "queue", f"name={QUEUE}", vhost=VHOST)
        check(QUEUE not in names(listed("queues", vhost=VHOST)), "queue deleted before import")
        admin("import", path)
        check(QUEUE in names(listed("queues", vhost=VHOST)), "import brings the queue back")
        bs = [b for b in listed("bindings", vhost=VHOST) if b["source"] == EXCHANGE]
        check(len(bs) == 1, "import brings the binding back", bs)
        vpath = os.path.join(tmp, "vhost-defs.json")
        admin("export", vpath, vhost=VHOST)
        with open(vpath) as f:
            vdefs = json.load(f)
        check(any(q["name"] == QUEUE for q in vdefs["queues"]), "per-vhost export", vdefs)


def deletions():
    bs = [b for b in listed("bindings", vhost=VHOST) if b["source"] == EXCHANGE]
    admin("delete", "binding", f"source={EXCHANGE}", "destination_type=queue",
          f"destination={QUEUE}", f"properties_key={bs[0]['properties_key']}", vhost=VHOST)
    check(not [b for b in listed("bindings", vhost=VHOST) if b["source"] == EXCHANGE],
          "binding deleted")
    admin("delete", "policy", f"name={POLICY}", vhost=VHOST)
    check(POLICY not in names(listed("policies", vhost=VHOST)), "policy deleted")
    admin("delete", "exchange", f"name={EXCHANGE}", vhost=VHOST)
    check(EXCHANGE not in names(listed("exchanges", vhost=VHOST)), "exchange deleted")
    for q in (QUEUE, f"{QUEUE}.typed"):
        admin("delete", "queue", f"name={q}", vhost=VHOST)
    check(not names(listed("queues", vhost=VHOST)) & {QUEUE, f"{QUEUE}.typed"}, "queues deleted")
    admin("delete", "permission", f"vhost={VHOST}", f"user={USER}")
    check(not [p for p in listed("permissions") if p["user"] == USER], "permission deleted")
    admin("delete", "user", f"name={USER}")
    check(USER not in names(listed("users")), "user deleted")
    admin("delete", "vhost", f"name={VHOST}")
    check(VHOST not in names(listed("vhosts")), "vhost deleted")


def main():
    started = time.monotonic()
    objects_and_access()
    messages()
    connections()
    node_and_overview()
    definitions()
    deletions()
    print(f"rabbitmqadmin: {steps} commands passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
