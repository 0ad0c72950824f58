"""Tutorial four, "Routing": emit_log_direct.py to the direct exchange 'direct_logs'.

Severity is the routing key; receive_logs_direct.py binds its queue once per severity.
"""

from amqp_helpers import connect, receive_until

SEVERITIES = ["info", "warning", "error"]


def receive_logs_direct(connection, severities):
    """Bind a fresh exclusive queue to 'direct_logs' for each severity; returns (channel, queue)."""
    channel = connection.channel()
    channel.exchange_declare(exchange="direct_logs", exchange_type="direct")
    queue_name = channel.queue_declare(queue="", exclusive=True).method.queue
    for severity in severities:
        channel.queue_bind(exchange="direct_logs", queue=queue_name, routing_key=severity)
    return channel, queue_name


def emit_log_direct(channel, severity, message):
    channel.basic_publish(exchange="direct_logs", routing_key=severity, body=message)


def emit_all(connection, last=b"error: END"):
    """Publish one message per severity, then a final 'error' message used as the end marker."""
    channel = connection.channel()
    channel.exchange_declare(exchange="direct_logs", exchange_type="direct")
    for severity in SEVERITIES + ["debug"]:
        emit_log_direct(channel, severity, f"{severity}: Hello World!".encode())
    emit_log_direct(channel, "error", last)


def test_error_subscriber_gets_only_errors(connection, names):
    """A queue bound with 'error' receives the error messages and nothing else."""
    names.exchange("direct_logs")
    subscriber = connect()
    try:
        channel, queue = receive_logs_direct(subscriber, ["error"])
        emit_all(connection)
        assert receive_until(channel, queue, b"error: END") == [
            b"error: Hello World!",
            b"error: END",
        ]
    finally:
        subscriber.close()


def test_queue_bound_to_several_severities(connection, names):
    """Binding one queue with info, warning and error gets all three, but not 'debug'."""
    names.exchange("direct_logs")
    subscriber = connect()
    try:
        channel, queue = receive_logs_direct(subscriber, SEVERITIES)
        emit_all(connection)
        assert receive_until(channel, queue, b"error: END") == [
            b"info: Hello World!",
            b"warning: Hello World!",
            b"error: Hello World!",
            b"error: END",
        ]
    finally:
        subscriber.close()


def test_multiple_bindings_with_same_key(connection, names):
    """Two queues bound with the same key both get the message, like a fanout."""
    names.exchange("direct_logs")
    sub1, sub2 = connect(), connect()
    try:
        ch1, q1 = receive_logs_direct(sub1, ["error"])
        ch2, q2 = receive_logs_direct(sub2, ["error", "info"])
        emit_all(connection)
        assert receive_until(ch1, q1, b"error: END") == [b"error: Hello World!", b"error: END"]
        assert receive_until(ch2, q2, b"error: END") == [
            b"info: Hello World!",
            b"error: Hello World!",
            b"error: END",
        ]
    finally:
        sub1.close()
        sub2.close()


def test_routing_key_reported_on_delivery(connection, names):
    """The consumer sees the severity as method.routing_key, as receive_logs_direct.py prints it."""
    names.exchange("direct_logs")
    channel, queue = receive_logs_direct(connection, ["warning"])
    emit_log_direct(connection.channel(), "warning", b"disk almost full")
    method, _props, body = next(channel.consume(queue, auto_ack=True, inactivity_timeout=10))
    channel.cancel()
    assert method is not None, "no message within 10s"
    assert (method.exchange, method.routing_key, body) == ("direct_logs", "warning", b"disk almost full")
