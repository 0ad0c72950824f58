"""Tutorial six, "RPC": a Fibonacci server on 'rpc_queue' and a client awaiting replies.

The client sends reply_to (its callback queue) and a correlation_id; the
server answers through the default exchange. The direct reply-to variant uses
the pseudo-queue 'amq.rabbitmq.reply-to' instead of a callback queue.
"""

import functools
import time
import uuid

import pika
import pytest

from amqp_helpers import WAIT, ConsumerThread, connect

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


@functools.lru_cache(maxsize=None)
def fib(n):
    if n == 0:
        return 0
    if n == 1:
        return 1
    return fib(n - 1) + fib(n - 2)


class RpcServer(ConsumerThread):
    """rpc_server.py: consumes 'rpc_queue' with prefetch 1, replies to reply_to, acks."""

    def __init__(self):
        super().__init__(self._setup_server, name="rpc-server")
        self.reply_to_seen = []

    def _setup_server(self, channel):
        channel.queue_declare(queue="rpc_queue")
        channel.basic_qos(prefetch_count=1)
        channel.basic_consume(queue="rpc_queue", on_message_callback=self._on_request)

    def _on_request(self, ch, method, props, body):
        self.reply_to_seen.append(props.reply_to)
        response = fib(int(body))
        ch.basic_publish(
            exchange="",
            routing_key=props.reply_to,
            properties=pika.BasicProperties(correlation_id=props.correlation_id),
            body=str(response),
        )
        ch.basic_ack(delivery_tag=method.delivery_tag)


class FibonacciRpcClient:
    """rpc_client.py, with a deadline on each call.

    With `direct_reply_to=True` it consumes from 'amq.rabbitmq.reply-to'
    (auto_ack, as RabbitMQ requires) instead of declaring a callback queue.
    """

    def __init__(self, direct_reply_to=False):
        self.connection = connect()
        self.channel = self.connection.channel()
        if direct_reply_to:
            self.callback_queue = DIRECT_REPLY_TO
        else:
            result = self.channel.queue_declare(queue="", exclusive=True)
            self.callback_queue = result.method.queue
        self.channel.basic_consume(
            queue=self.callback_queue, on_message_callback=self.on_response, auto_ack=True
        )
        self.responses = {}

    def on_response(self, ch, method, props, body):
        self.responses[props.correlation_id] = int(body)

    def send(self, n):
        """Publish one request; returns its correlation id."""
        corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key="rpc_queue",
            properties=pika.BasicProperties(reply_to=self.callback_queue, correlation_id=corr_id),
            body=str(n),
        )
        return corr_id

    def wait(self, corr_id, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while corr_id not in self.responses:
            assert time.monotonic() < deadline, f"no RPC reply within {timeout}s"
            self.connection.process_data_events(time_limit=0.05)
        return self.responses.pop(corr_id)

    def call(self, n):
        return self.wait(self.send(n))

    def close(self):
        if self.connection.is_open:
            self.connection.close()


@pytest.fixture
def rpc_server(names):
    names.queue("rpc_queue")
    server = RpcServer()
    server.start()
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def make_client():
    clients = []

    def make(**kwargs):
        client = FibonacciRpcClient(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_fib_30(rpc_server, make_client):
    """' [x] Requesting fib(30)' gets ' [.] Got 832040'."""
    assert make_client().call(30) == 832040


def test_sequential_calls_match(rpc_server, make_client):
    """Each call gets the answer for its own n."""
    client = make_client()
    assert [client.call(n) for n in range(15)] == [fib(n) for n in range(15)]


def test_concurrent_requests_matched_by_correlation_id(rpc_server, make_client):
    """Several outstanding requests: correlation_id pairs each reply with its request."""
    client = make_client()
    pending = {client.send(n): n for n in [20, 3, 11, 0, 7]}
    for corr_id, n in pending.items():
        assert client.wait(corr_id) == fib(n)


def test_two_clients_get_their_own_replies(rpc_server, make_client):
    """Replies go to each client's own callback queue."""
    alice, bob = make_client(), make_client()
    alice_id, bob_id = alice.send(10), bob.send(12)
    assert bob.wait(bob_id) == fib(12)
    assert alice.wait(alice_id) == fib(10)
    assert alice.callback_queue != bob.callback_queue


def test_direct_reply_to(rpc_server, make_client):
    """RPC without a callback queue: reply_to 'amq.rabbitmq.reply-to' and consume from it."""
    client = make_client(direct_reply_to=True)
    assert client.call(30) == 832040
    assert [client.call(n) for n in range(8)] == [fib(n) for n in range(8)]
    # The server sees a generated name under the pseudo-queue, not the pseudo-queue itself.
    assert all(r.startswith(DIRECT_REPLY_TO + ".") for r in rpc_server.reply_to_seen)


def test_direct_reply_to_concurrent_clients(rpc_server, make_client):
    """Two direct reply-to clients each get only their own replies."""
    alice, bob = make_client(direct_reply_to=True), make_client(direct_reply_to=True)
    alice_id, bob_id = alice.send(9), bob.send(13)
    assert alice.wait(alice_id) == fib(9)
    assert bob.wait(bob_id) == fib(13)
    assert len(set(rpc_server.reply_to_seen)) == 2


def test_direct_reply_to_requires_consuming_first(connection, names):
    """Publishing with reply_to 'amq.rabbitmq.reply-to' before consuming from it is a 406."""
    names.queue("rpc_queue")
    channel = connection.channel()
    channel.queue_declare(queue="rpc_queue")
    channel.basic_publish(
        exchange="",
        routing_key="rpc_queue",
        properties=pika.BasicProperties(reply_to=DIRECT_REPLY_TO),
        body="1",
    )
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.queue_declare(queue="rpc_queue", passive=True)
    assert refused.value.reply_code == 406
    assert refused.value.reply_text.startswith("PRECONDITION_FAILED")


def test_direct_reply_to_requires_auto_ack(connection):
    """Consuming from 'amq.rabbitmq.reply-to' with manual acks is refused with 406."""
    channel = connection.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        channel.basic_consume(queue=DIRECT_REPLY_TO, on_message_callback=print, auto_ack=False)
    assert refused.value.reply_code == 406
    assert refused.value.reply_text.startswith("PRECONDITION_FAILED")
