"""Tutorial one, "Hello World!": send to the queue 'hello' and receive from it."""

import pika

from amqp_helpers import connect, receive, wait_until


def test_send_then_receive_hello_world(connection, names):
    """send.py publishes 'Hello World!' via the default exchange; receive.py gets it."""
    names.queue("hello")
    channel = connection.channel()
    channel.queue_declare(queue="hello")
    channel.basic_publish(exchange="", routing_key="hello", body="Hello World!")

    receiver = connect()
    try:
        rchannel = receiver.channel()
        rchannel.queue_declare(queue="hello")
        [(method, _props, body)] = receive(rchannel, "hello", 1)
    finally:
        receiver.close()

    assert body == b"Hello World!"
    assert method.exchange == ""
    assert method.routing_key == "hello"
    assert method.redelivered is False


def test_consumer_callback_started_before_publish(connection, names):
    """receive.py's basic_consume callback (auto_ack) gets a message sent after it started."""
    names.queue("hello")
    channel = connection.channel()
    channel.queue_declare(queue="hello")
    received = []
    channel.basic_consume(
        queue="hello",
        on_message_callback=lambda ch, method, props, body: received.append(body),
        auto_ack=True,
    )

    sender = connect()
    try:
        sender.channel().basic_publish(exchange="", routing_key="hello", body="Hello World!")
    finally:
        sender.close()

    def got_it():
        connection.process_data_events(time_limit=0.05)
        return received

    wait_until(got_it, what="'Hello World!' in the consumer callback")
    assert received == [b"Hello World!"]


def test_queue_declare_is_idempotent_and_counts_messages(connection, names):
    """Declaring 'hello' in both programs is fine; declare-ok reports the ready messages."""
    names.queue("hello")
    channel = connection.channel()
    first = channel.queue_declare(queue="hello")
    assert first.method.queue == "hello"
    assert first.method.message_count == 0
    assert first.method.consumer_count == 0

    channel.confirm_delivery()  # so the publish below is known to be enqueued
    channel.basic_publish(exchange="", routing_key="hello", body="Hello World!")

    again = channel.queue_declare(queue="hello")
    assert again.method.message_count == 1
    assert again.method.consumer_count == 0


def test_basic_get_fetches_one_message(connection, names):
    """Polling with basic_get returns the message, then None once the queue is empty."""
    names.queue("hello")
    channel = connection.channel()
    channel.queue_declare(queue="hello")
    channel.confirm_delivery()
    channel.basic_publish(
        exchange="",
        routing_key="hello",
        body="Hello World!",
        properties=pika.BasicProperties(content_type="text/plain"),
    )

    method, properties, body = channel.basic_get(queue="hello", auto_ack=True)
    assert body == b"Hello World!"
    assert properties.content_type == "text/plain"
    assert method.message_count == 0
    assert channel.basic_get(queue="hello", auto_ack=True) == (None, None, None)
