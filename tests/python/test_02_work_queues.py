"""Tutorial two, "Work Queues": new_task.py and worker.py sharing 'task_queue'.

Workers declare the queue durable, set basic_qos(prefetch_count=1) and ack
each task after doing it; tasks are published with delivery_mode=2.
"""

import threading
import time

import pika
import pytest

from amqp_helpers import WAIT, ConsumerThread, connect, wait_until

PERSISTENT = 2  # what pika.DeliveryMode.Persistent puts on the wire


def new_task(channel, message):
    """new_task.py: publish one persistent task to 'task_queue'."""
    channel.basic_publish(
        exchange="",
        routing_key="task_queue",
        body=message,
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )


class Worker(ConsumerThread):
    """worker.py: takes one task at a time, 'works' one tick per dot, then acks.

    If `hold` is given, the worker keeps its first task unacknowledged until
    `hold` is set (a worker busy with a long task).
    """

    def __init__(self, name, seconds_per_dot=0.0, hold=None):
        super().__init__(self._setup_worker, name=name)
        self.seconds_per_dot = seconds_per_dot
        self.hold = hold
        self.lock = threading.Lock()
        self.received = []  # (body, redelivered, delivery_mode)
        self.acked = []

    def _setup_worker(self, channel):
        channel.queue_declare(queue="task_queue", durable=True)
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(queue="task_queue", on_message_callback=self._callback)

    def _callback(self, channel, method, properties, body):
        with self.lock:
            self.received.append((body, method.redelivered, properties.delivery_mode))
            first = len(self.received) == 1
        if self.hold is not None and first:
            assert self.hold.wait(WAIT), "test never released the held task"
        time.sleep(body.count(b".") * self.seconds_per_dot)  # simulated work
        channel.basic_ack(delivery_tag=method.delivery_tag)
        with self.lock:
            self.acked.append(body)

    def bodies(self):
        with self.lock:
            return [body for body, _, _ in self.received]


def ready_count(channel):
    """Messages ready in 'task_queue', from a passive declare."""
    return channel.queue_declare(queue="task_queue", durable=True, passive=True).method.message_count


@pytest.fixture
def workers():
    """Collects the test's workers and stops any still running at teardown."""
    started = []
    yield started
    for worker in started:
        if worker.is_alive():
            worker.stop()


def start(workers, worker):
    workers.append(worker)
    worker.start()
    worker.wait_ready()
    return worker


def test_two_workers_share_tasks_each_acked_once(connection, names, workers):
    """Round-robin with prefetch 1: both workers get tasks, each task is delivered and acked once."""
    names.queue("task_queue")
    w1 = start(workers, Worker("worker-1", seconds_per_dot=0.02))
    w2 = start(workers, Worker("worker-2", seconds_per_dot=0.02))

    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)
    tasks = [f"Task {i} {'.' * (1 + i % 3)}".encode() for i in range(12)]
    for task in tasks:
        new_task(channel, task)

    wait_until(lambda: len(w1.acked) + len(w2.acked) == len(tasks), what="all tasks acked")
    w1.stop()
    w2.stop()

    assert w1.received and w2.received, "fair dispatch should give both workers tasks"
    assert sorted(w1.bodies() + w2.bodies()) == sorted(tasks)
    assert sorted(w1.acked + w2.acked) == sorted(tasks)
    every = w1.received + w2.received
    assert all(redelivered is False for _, redelivered, _ in every)
    assert all(mode == PERSISTENT for _, _, mode in every)
    assert ready_count(channel) == 0, "every task was acked, so none went back to the queue"


def test_prefetch_one_skips_a_busy_worker(connection, names, workers):
    """Fair dispatch: a worker still busy with its one unacked task gets no more tasks."""
    names.queue("task_queue")
    release = threading.Event()
    busy = start(workers, Worker("busy", hold=release))
    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)

    new_task(channel, b"A very long task.........")
    wait_until(lambda: busy.received, what="the busy worker to take the long task")

    idle = start(workers, Worker("idle"))
    quick = [f"quick {i}.".encode() for i in range(5)]
    for task in quick:
        new_task(channel, task)
    wait_until(lambda: len(idle.acked) == len(quick), what="the idle worker to finish the quick tasks")

    assert busy.bodies() == [b"A very long task........."]
    assert idle.bodies() == quick
    release.set()
    wait_until(lambda: busy.acked, what="the busy worker to ack its task")
    busy.stop()
    idle.stop()
    assert ready_count(channel) == 0


def test_unacked_task_is_redelivered_when_worker_dies(connection, names, workers):
    """Message acknowledgment: a task a worker never acked goes to another worker, marked redelivered."""
    names.queue("task_queue")
    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)
    new_task(channel, b"Hello...")

    doomed = connect()
    try:
        dchannel = doomed.channel()
        dchannel.basic_qos(prefetch_count=1)
        method, _props, body = next(dchannel.consume("task_queue", inactivity_timeout=WAIT))
        assert body == b"Hello...", "the first worker should receive the task"
        assert method.redelivered is False
    finally:
        doomed.close()  # the worker dies without acking

    survivor = start(workers, Worker("survivor"))
    wait_until(lambda: survivor.acked, what="the task to be redelivered")
    survivor.stop()
    assert survivor.received == [(b"Hello...", True, PERSISTENT)]
    assert ready_count(channel) == 0


def test_task_queue_is_durable(connection, names):
    """'task_queue' is durable; redeclaring it non-durable is refused with 406 PRECONDITION_FAILED."""
    names.queue("task_queue")
    channel = connection.channel()
    declared = channel.queue_declare(queue="task_queue", durable=True)
    assert declared.method.queue == "task_queue"
    channel.queue_declare(queue="task_queue", durable=True, passive=True)

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.queue_declare(queue="task_queue", durable=False)
    assert refused.value.reply_code == 406
    assert refused.value.reply_text.startswith("PRECONDITION_FAILED")
    assert "durable" in refused.value.reply_text


def test_acking_a_task_twice_is_a_channel_error(connection, names):
    """A forgotten or duplicate ack is a bug: a second ack of a tag closes the channel with 406."""
    names.queue("task_queue")
    channel = connection.channel()
    channel.queue_declare(queue="task_queue", durable=True)
    channel.confirm_delivery()
    new_task(channel, b"once.")

    method, _props, body = channel.basic_get(queue="task_queue")
    assert body == b"once."
    channel.basic_ack(delivery_tag=method.delivery_tag)
    channel.basic_ack(delivery_tag=method.delivery_tag)
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
        channel.queue_declare(queue="task_queue", durable=True, passive=True)
    assert closed.value.reply_code == 406
    assert closed.value.reply_text.startswith("PRECONDITION_FAILED")
    assert "unknown delivery tag" in closed.value.reply_text
