"""aio-pika (asyncio) clients: a publish/consume round trip and the "microservice"
pattern of a durable topic exchange feeding a server-named queue.

aio-pika opens channels with publisher confirms on, so every publish here
also waits for the broker's basic.ack. Each test runs its coroutine with
asyncio.run under an overall deadline; no pytest-asyncio plugin is needed.
"""

import asyncio
import json
import uuid

import aio_pika
import pytest

from amqp_helpers import HOST, PORT, WAIT


def run(coroutine, timeout=30):
    """Run one test coroutine to completion, failing if it takes longer than `timeout`."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def connect(robust=True):
    """connect_robust() is what most aio-pika services use; connect() is the plain one."""
    factory = aio_pika.connect_robust if robust else aio_pika.connect
    return await factory(host=HOST, port=PORT, login="guest", password="guest")


def unique(prefix):
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


async def next_message(iterator):
    return await asyncio.wait_for(iterator.__anext__(), WAIT)


def test_publish_consume_round_trip():
    """Publish to a queue via the default exchange, consume it, ack it; the queue ends empty."""

    async def main():
        name = unique("warren.aio.round_trip")
        connection = await connect()
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name, auto_delete=True)
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=b"Hello World!",
                    content_type="text/plain",
                    headers={"attempt": 1},
                    message_id="m-1",
                ),
                routing_key=name,
            )
            async with queue.iterator() as messages:
                message = await next_message(messages)
                async with message.process():  # acks on leaving the block
                    pass
            declared = await channel.declare_queue(name, passive=True)
            remaining = declared.declaration_result.message_count
            await queue.delete(if_unused=False, if_empty=False)
        return message, remaining

    message, remaining = run(main())
    assert message.body == b"Hello World!"
    assert message.content_type == "text/plain"
    assert message.headers == {"attempt": 1}
    assert message.message_id == "m-1"
    assert message.redelivered is False
    assert remaining == 0


def test_microservice_durable_topic_exchange():
    """A service binds a server-named queue to a durable topic exchange with 'order.*'
    and receives exactly the order events, as JSON, in publishing order."""

    async def main():
        exchange_name = unique("warren.aio.events")
        # A robust connection names anonymous queues itself ('amq_<hex>'), so use
        # the plain one to have the broker name the queue.
        connection = await connect(robust=False)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(
                exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(exclusive=True)  # server-named
            await queue.bind(exchange, routing_key="order.*")

            events = [
                ("order.created", {"id": 1}),
                ("user.created", {"id": 7}),
                ("order.paid.twice", {"id": 1}),
                ("order.shipped", {"id": 1}),
            ]
            for routing_key, payload in events:
                await exchange.publish(
                    aio_pika.Message(
                        body=json.dumps(payload).encode(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=routing_key,
                    mandatory=False,
                )

            received = []
            async with queue.iterator() as messages:
                while len(received) < 2:
                    message = await next_message(messages)
                    async with message.process():
                        received.append(
                            (message.routing_key, json.loads(message.body), message.delivery_mode)
                        )
            await queue.delete(if_unused=False, if_empty=False)
            await exchange.delete()
        return queue.name, received

    queue_name, received = run(main())
    assert queue_name.startswith("amq.gen-")
    persistent = aio_pika.DeliveryMode.PERSISTENT
    assert received == [
        ("order.created", {"id": 1}, persistent),
        ("order.shipped", {"id": 1}, persistent),
    ]


def test_robust_connection_anonymous_queue():
    """connect_robust() declares anonymous queues under a client-made 'amq_<hex>' name
    (allowed: only the 'amq.' prefix is reserved) and consumes from them."""

    async def main():
        connection = await connect()
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(body=b"ping"), routing_key=queue.name)
            async with queue.iterator() as messages:
                message = await next_message(messages)
                await message.ack()
        return queue.name, message.body

    name, body = run(main())
    assert name.startswith("amq_")
    assert body == b"ping"


def test_durable_exchange_redeclare_must_match():
    """Redeclaring the durable exchange as non-durable closes the channel with 406."""

    async def main():
        exchange_name = unique("warren.aio.events")
        connection = await connect()
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
            other = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed) as refused:
                await other.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=False)
            await channel.get_exchange(exchange_name, ensure=True)  # still there
            await (await connection.channel()).exchange_delete(exchange_name)
        return refused.value

    error = run(main())
    assert "inequivalent arg 'durable'" in str(error)


def test_mandatory_publish_without_route_is_returned():
    """aio-pika publishes mandatory by default: an unroutable message comes back (312 NO_ROUTE)."""

    async def main():
        exchange_name = unique("warren.aio.events")
        connection = await connect()
        async with connection:
            channel = await connection.channel(on_return_raises=True)
            exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as returned:
                await exchange.publish(aio_pika.Message(body=b"lost"), routing_key="nobody.listens")
            await exchange.delete()
        return returned.value

    error = run(main())
    assert error.message.body == b"lost"
    frame = error.frame
    assert frame.reply_code == 312
    assert frame.reply_text == "NO_ROUTE"
