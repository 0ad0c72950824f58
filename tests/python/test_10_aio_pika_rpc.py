"""aio-pika's RPC pattern (aio_pika.patterns.RPC): register a method, call it,
have an error travel back, and close.

RPC.close() cancels the consumer of its auto-delete result queue, which
deletes the queue, and then unbinds that queue from its dead-letter exchange:
RabbitMQ answers unbind-ok for a queue that no longer exists (unbind is
idempotent), so close() succeeds (issue 11 item 2).
"""

import aio_pika
import pytest
from aio_pika.patterns import RPC

from test_07_aio_pika import connect, run, unique


async def multiply(*, x, y):
    return x * y


async def divide(*, x, y):
    return x / y


def test_rpc_create_call_close():
    """A method registered on one channel, called from another; close() on both succeeds."""

    async def main():
        method = unique("warren.aio.rpc.multiply")
        failing = unique("warren.aio.rpc.divide")
        connection = await connect(robust=False)
        async with connection:
            server = await RPC.create(await connection.channel())
            await server.register(method, multiply, auto_delete=True)
            await server.register(failing, divide, auto_delete=True)

            client = await RPC.create(await connection.channel())
            products = [await client.call(method, kwargs={"x": x, "y": 7}) for x in range(5)]
            with pytest.raises(ZeroDivisionError):
                await client.call(failing, kwargs={"x": 1, "y": 0})

            await client.close()
            await server.close()
            # The connection is still usable after both closes.
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"after"), routing_key=queue.name)
            message = await queue.get(timeout=10)
            await message.ack()
        return products, message.body

    products, after = run(main())
    assert products == [0, 7, 14, 21, 28]
    assert after == b"after"
