"""Tutorial three, "Publish/Subscribe": emit_log.py to the fanout exchange 'logs'.

Each receive_logs.py declares a server-named exclusive queue and binds it to 'logs'.
"""

import pika
import pytest

from amqp_helpers import connect, receive, receive_until


def subscribe(connection):
    """receive_logs.py: a fresh exclusive queue bound to 'logs'; returns (channel, queue)."""
    channel = connection.channel()
    channel.exchange_declare(exchange="logs", exchange_type="fanout")
    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue
    channel.queue_bind(exchange="logs", queue=queue_name)
    return channel, queue_name


def emit_log(channel, message):
    """emit_log.py: publish to 'logs'; the routing key is ignored by a fanout exchange."""
    channel.basic_publish(exchange="logs", routing_key="", body=message)


def test_every_subscriber_gets_every_message(connection, names):
    """Two subscribers each receive all log messages, in order."""
    names.exchange("logs")
    sub1, sub2 = connect(), connect()
    try:
        ch1, q1 = subscribe(sub1)
        ch2, q2 = subscribe(sub2)
        publisher = connection.channel()
        publisher.exchange_declare(exchange="logs", exchange_type="fanout")
        messages = [f"info: log line {i}".encode() for i in range(5)]
        for message in messages:
            emit_log(publisher, message)

        assert [body for _, _, body in receive(ch1, q1, 5)] == messages
        assert [body for _, _, body in receive(ch2, q2, 5)] == messages
    finally:
        sub1.close()
        sub2.close()


def test_server_named_queue(connection, names):
    """queue_declare(queue='') makes the broker pick a fresh 'amq.gen-' name for each call."""
    names.exchange("logs")
    _, first = subscribe(connection)
    _, second = subscribe(connection)
    assert first.startswith("amq.gen-")
    assert second.startswith("amq.gen-")
    assert first != second


def test_fanout_ignores_routing_key(connection, names):
    """A fanout exchange delivers whatever routing key the publisher used, and reports it."""
    names.exchange("logs")
    channel, queue = subscribe(connection)
    connection.channel().basic_publish(exchange="logs", routing_key="anything.at.all", body="hi")
    [(method, _, body)] = receive(channel, queue, 1)
    assert body == b"hi"
    assert method.exchange == "logs"
    assert method.routing_key == "anything.at.all"


def test_messages_without_subscribers_are_dropped(connection, names):
    """Logs emitted while no queue is bound are lost, not kept for later subscribers."""
    names.exchange("logs")
    publisher = connection.channel()
    publisher.exchange_declare(exchange="logs", exchange_type="fanout")
    publisher.confirm_delivery()
    emit_log(publisher, b"nobody hears this")

    channel, queue = subscribe(connection)
    emit_log(publisher, b"this one is heard")
    assert receive_until(channel, queue, b"this one is heard") == [b"this one is heard"]


def test_exclusive_queue_is_deleted_when_its_connection_closes(connection, names):
    """'Once the consumer connection is closed, the queue should be deleted.'"""
    names.exchange("logs")
    subscriber = connect()
    channel, queue = subscribe(subscriber)
    channel.queue_declare(queue=queue, passive=True)  # exists while its connection is open
    subscriber.close()

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as gone:
        connection.channel().queue_declare(queue=queue, passive=True)
    assert gone.value.reply_code == 404
    assert gone.value.reply_text.startswith("NOT_FOUND")


def test_exclusive_queue_is_locked_to_its_connection(connection, names):
    """Another connection may not use an exclusive queue: 405 RESOURCE_LOCKED."""
    names.exchange("logs")
    subscriber = connect()
    try:
        _, queue = subscribe(subscriber)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as locked:
            connection.channel().basic_consume(queue=queue, on_message_callback=print)
        assert locked.value.reply_code == 405
        assert locked.value.reply_text.startswith("RESOURCE_LOCKED")
    finally:
        subscriber.close()
