"""kombu (py-amqp underneath) and a real Celery worker against Warren: what
Celery/kombu applications do with a RabbitMQ broker must work unchanged."""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from amqp_helpers import HOST, PORT, WAIT

URL = f"amqp://guest:guest@{HOST}:{PORT}//"
APP_DIR = os.path.join(os.path.dirname(__file__), "celery_app")


def unique(prefix):
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


def test_kombu_simple_queue_round_trip():
    name = unique("kombu.simple")
    with Connection(URL) as conn:
        queue = conn.SimpleQueue(name)
        try:
            queue.put({"hello": "world"})
            message = queue.get(timeout=WAIT)
            assert message.payload == {"hello": "world"}
            message.ack()
        finally:
            queue.close()  # cancels its consumer first: deleting under it would cancel it
            with conn.channel() as channel:
                Queue(name)(channel).delete()
                Exchange(name)(channel).delete()


def test_kombu_topic_exchange_with_priorities_and_prefetch():
    """Durable topic exchange, a priority queue bound with `a.#`, prefetch 2:
    messages published while nobody consumes come out highest priority first."""
    exchange = Exchange(unique("kombu.topic"), type="topic", durable=True)
    queue = Queue(
        unique("kombu.prio"),
        exchange,
        routing_key="a.#",
        durable=True,
        queue_arguments={"x-max-priority": 10},
    )
    with Connection(URL) as conn, conn.channel() as channel:
        bound = queue(channel)
        bound.declare()
        try:
            producer = Producer(channel, exchange=exchange, serializer="json")
            for i in range(5):
                producer.publish({"i": i}, routing_key="a.b.c", priority=i)
            got = []

            def on_message(body, message):
                got.append(body["i"])
                message.ack()

            with Consumer(channel, queues=[queue], callbacks=[on_message], prefetch_count=2):
                deadline = time.monotonic() + WAIT
                while len(got) < 5 and time.monotonic() < deadline:
                    conn.drain_events(timeout=WAIT)
            assert got == [4, 3, 2, 1, 0]
        finally:
            bound.delete()
            exchange(channel).delete()


@pytest.fixture
def celery_worker():
    """A real `celery worker` process (solo pool) for the app in celery_app/."""
    env = dict(os.environ, WARREN_AMQP_HOST=HOST, WARREN_AMQP_PORT=str(PORT))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "warren_tasks", "worker",
         "--pool=solo", "--concurrency=1", "--loglevel=warning", "--without-heartbeat"],
        cwd=APP_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    sys.path.insert(0, APP_DIR)
    try:
        yield worker
    finally:
        sys.path.remove(APP_DIR)
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        text = output.decode(errors="replace")
        assert "Traceback" not in text, text


def test_celery_worker_runs_tasks_and_returns_results(celery_worker):
    from warren_tasks import add, flaky

    # The first result also waits (with a timeout) for the worker to be up.
    assert add.delay(2, 3).get(timeout=60) == 5
    results = [add.delay(i, i) for i in range(20)]
    assert [r.get(timeout=WAIT * 3) for r in results] == [2 * i for i in range(20)]
    # A task that retries goes back through the broker twice before succeeding.
    assert flaky.delay(2).get(timeout=WAIT * 3) == 2
