"""Tutorial five, "Topics": emit_log_topic.py to the topic exchange 'topic_logs'.

Routing keys are dot-separated words; in binding keys '*' stands for exactly
one word and '#' for zero or more words.
"""

import pytest

from amqp_helpers import connect, receive_until

END = "lazy.orange.rabbit"  # matches every binding below, so it is the end marker


def bind_topic(connection, binding_keys):
    """receive_logs_topic.py: a fresh exclusive queue bound with each key; returns (channel, queue)."""
    channel = connection.channel()
    channel.exchange_declare(exchange="topic_logs", exchange_type="topic")
    queue_name = channel.queue_declare(queue="", exclusive=True).method.queue
    for binding_key in binding_keys:
        channel.queue_bind(exchange="topic_logs", queue=queue_name, routing_key=binding_key)
    return channel, queue_name


def emit_log_topic(connection, routing_keys):
    """Publish one message per routing key (body = the key), then the end marker."""
    channel = connection.channel()
    channel.exchange_declare(exchange="topic_logs", exchange_type="topic")
    for key in routing_keys:
        channel.basic_publish(exchange="topic_logs", routing_key=key, body=key)
    channel.basic_publish(exchange="topic_logs", routing_key=END, body="END")


def routed(connection, binding_keys, routing_keys):
    """The routing keys (in order) that reached a queue bound with `binding_keys`.

    The queue is also bound with the end marker's key (a second matching
    binding must not deliver it twice).
    """
    subscriber = connect()
    try:
        channel, queue = bind_topic(subscriber, binding_keys + [END])
        emit_log_topic(connection, routing_keys)
        bodies = receive_until(channel, queue, b"END")
        return [body.decode() for body in bodies[:-1]]
    finally:
        subscriber.close()


# The tutorial's animals: routing key -> (reaches Q1 '*.orange.*', reaches Q2 '*.*.rabbit' + 'lazy.#')
ANIMALS = {
    "quick.orange.rabbit": (True, True),
    "lazy.orange.elephant": (True, True),
    "quick.orange.fox": (True, False),
    "lazy.brown.fox": (False, True),
    "lazy.pink.rabbit": (False, True),  # matches both of Q2's bindings, delivered once
    "quick.brown.fox": (False, False),
    "orange": (False, False),
    "quick.orange.new.rabbit": (False, False),
    "lazy.orange.new.rabbit": (False, True),
    "quick.orange.male.rabbit": (False, False),
    "lazy": (False, True),  # '#' matches zero words
}


def test_q1_orange_animals(connection, names):
    """Q1 bound with '*.orange.*' gets exactly the three-word keys whose middle word is orange."""
    names.exchange("topic_logs")
    expected = [key for key, (q1, _) in ANIMALS.items() if q1]
    assert routed(connection, ["*.orange.*"], list(ANIMALS)) == expected


def test_q2_rabbits_and_lazy_animals(connection, names):
    """Q2 bound with '*.*.rabbit' and 'lazy.#' gets each matching message once."""
    names.exchange("topic_logs")
    expected = [key for key, (_, q2) in ANIMALS.items() if q2]
    assert routed(connection, ["*.*.rabbit", "lazy.#"], list(ANIMALS)) == expected


def test_hash_alone_receives_everything(connection, names):
    """Bound with '#', a queue gets every message, like a fanout exchange."""
    names.exchange("topic_logs")
    assert routed(connection, ["#"], list(ANIMALS)) == list(ANIMALS)


def test_key_without_wildcards_acts_like_direct(connection, names):
    """A binding key without '*' or '#' matches only that exact routing key."""
    names.exchange("topic_logs")
    assert routed(connection, ["quick.orange.fox"], list(ANIMALS)) == ["quick.orange.fox"]


@pytest.mark.parametrize(
    "binding, keys, expected",
    [
        ("kern.*", ["kern", "kern.critical", "kern.info.x", "anonymous.critical"], ["kern.critical"]),
        ("*.critical", ["kern.critical", "critical", "a.b.critical", "kern.info"], ["kern.critical"]),
        ("*", ["kern", "kern.critical"], ["kern"]),
        ("#.critical", ["critical", "kern.critical", "a.b.critical", "critical.kern"],
         ["critical", "kern.critical", "a.b.critical"]),
        ("kern.#.critical", ["kern.critical", "kern.x.y.critical", "kern.x", "x.kern.critical"],
         ["kern.critical", "kern.x.y.critical"]),
    ],
)
def test_star_and_hash_patterns(connection, names, binding, keys, expected):
    """'*' is exactly one word, '#' is zero or more words, anywhere in the binding key."""
    names.exchange("topic_logs")
    assert routed(connection, [binding], keys) == expected


def test_two_bindings_on_one_queue_deliver_once(connection, names):
    """'receive_logs_topic.py "kern.*" "*.critical"': 'kern.critical' matches both, arrives once."""
    names.exchange("topic_logs")
    keys = ["kern.critical", "kern.info", "cron.critical", "cron.info"]
    assert routed(connection, ["kern.*", "*.critical"], keys) == [
        "kern.critical",
        "kern.info",
        "cron.critical",
    ]
