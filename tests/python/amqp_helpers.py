"""Small helpers shared by the tutorial tests.

Everything here is plain pika, used the way the RabbitMQ tutorials use it;
the helpers only add timeouts so that a misbehaving broker fails a test
instead of hanging it.
"""

import os
import threading
import time

import pika

HOST = os.environ.get("WARREN_AMQP_HOST", "127.0.0.1")
PORT = int(os.environ.get("WARREN_AMQP_PORT", "5672"))

# How long any single wait for the broker may take before the test fails.
WAIT = 10.0


def parameters():
    """Connection parameters: guest/guest on the broker under test."""
    return pika.ConnectionParameters(
        host=HOST,
        port=PORT,
        credentials=pika.PlainCredentials("guest", "guest"),
        socket_timeout=WAIT,
        blocked_connection_timeout=WAIT,
        connection_attempts=3,
        retry_delay=0.5,
    )


def connect():
    """Open a blocking connection, like `pika.BlockingConnection(...)` in the tutorials."""
    return pika.BlockingConnection(parameters())


def wait_until(condition, timeout=WAIT, what="condition"):
    """Poll `condition()` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def receive(channel, queue, count, timeout=WAIT, auto_ack=True):
    """Consume exactly `count` messages from `queue`; return (method, properties, body) tuples.

    Uses pika's consume generator with an inactivity timeout, so it never blocks forever.
    """
    got = []
    deadline = time.monotonic() + timeout
    for method, properties, body in channel.consume(
        queue, auto_ack=auto_ack, inactivity_timeout=0.1
    ):
        if method is not None:
            got.append((method, properties, body))
            if len(got) == count:
                break
        if time.monotonic() > deadline:
            break
    channel.cancel()
    assert len(got) == count, (
        f"expected {count} messages from {queue!r} within {timeout}s, "
        f"got {len(got)}: {[b for _, _, b in got]}"
    )
    return got


def receive_until(channel, queue, last_body, timeout=WAIT):
    """Consume bodies from `queue` up to and including the message whose body is `last_body`.

    Messages published on one channel reach a queue in publishing order, so a
    final "sentinel" message proves nothing else was routed there before it:
    this lets tests assert that a message was *not* delivered without sleeping.
    """
    bodies = []
    deadline = time.monotonic() + timeout
    for method, _properties, body in channel.consume(
        queue, auto_ack=True, inactivity_timeout=0.1
    ):
        if method is not None:
            bodies.append(body)
            if body == last_body:
                break
        if time.monotonic() > deadline:
            channel.cancel()
            raise AssertionError(
                f"timed out waiting for {last_body!r} on {queue!r}; got {bodies}"
            )
    channel.cancel()
    return bodies


def delete_quietly(queues=(), exchanges=()):
    """Delete queues and exchanges, ignoring ones that do not exist.

    Each delete gets its own channel, so a 404 from one cannot affect the others.
    """
    connection = connect()
    try:
        for name in queues:
            try:
                connection.channel().queue_delete(queue=name)
            except pika.exceptions.ChannelClosedByBroker:
                pass
        for name in exchanges:
            try:
                connection.channel().exchange_delete(exchange=name)
            except pika.exceptions.ChannelClosedByBroker:
                pass
    finally:
        connection.close()


class ConsumerThread(threading.Thread):
    """Runs a pika consumer on its own connection in a background thread.

    `setup(channel)` declares what it needs and calls basic_consume; `ready` is
    set once it returned (the broker has answered basic.consume-ok), so the
    test can publish knowing the consumer is registered.
    """

    def __init__(self, setup, name=None):
        super().__init__(name=name, daemon=True)
        self._setup = setup
        self.ready = threading.Event()
        self._stop_requested = threading.Event()
        self.error = None
        self.connection = None

    def run(self):
        try:
            self.connection = connect()
            channel = self.connection.channel()
            self._setup(channel)
            self.ready.set()
            while not self._stop_requested.is_set():
                self.connection.process_data_events(time_limit=0.05)
            self.connection.close()
        except Exception as exc:  # reported to the test by wait_ready()/stop()
            self.error = exc
            self.ready.set()

    def wait_ready(self, timeout=WAIT):
        assert self.ready.wait(timeout), f"{self.name} did not start within {timeout}s"
        if self.error is not None:
            raise self.error

    def stop(self, timeout=WAIT):
        """Ask the thread to close its connection, and wait for it."""
        self._stop_requested.set()
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not stop within {timeout}s"
        if self.error is not None:
            raise self.error
