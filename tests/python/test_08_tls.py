"""TLS with Python's own TLS stack (OpenSSL through the ssl module): pika and
aio-pika over amqps, the EXTERNAL mechanism with a client certificate, and the
management API over HTTPS.

.ci/run generates a CA, a server certificate for localhost/127.0.0.1 and a
client certificate with CN=guest (tests/python/gen_certs.sh), starts the
broker with verify_peer (fail_if_no_peer_cert = false) and passes the ports and
the certificate directory in WARREN_AMQPS_PORT, WARREN_HTTPS_PORT and
WARREN_TLS_DIR. Without them these tests are skipped.
"""

import asyncio
import base64
import json
import os
import ssl
import urllib.request
import uuid

import aio_pika
import pika
import pytest

from amqp_helpers import HOST, WAIT

AMQPS_PORT = os.environ.get("WARREN_AMQPS_PORT")
HTTPS_PORT = os.environ.get("WARREN_HTTPS_PORT")
CERTS = os.environ.get("WARREN_TLS_DIR")

pytestmark = pytest.mark.skipif(
    not (AMQPS_PORT and HTTPS_PORT and CERTS),
    reason="the broker under test was started without TLS",
)


def context(client_cert=False):
    """A client context trusting the test CA, optionally presenting the client certificate."""
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca_certificate.pem"))
    if client_cert:
        ctx.load_cert_chain(
            os.path.join(CERTS, "client_certificate.pem"),
            os.path.join(CERTS, "client_key.pem"),
        )
    return ctx


def tls_parameters(credentials, client_cert=False):
    return pika.ConnectionParameters(
        host="localhost",
        port=int(AMQPS_PORT),
        credentials=credentials,
        ssl_options=pika.SSLOptions(context(client_cert), "localhost"),
        socket_timeout=WAIT,
        blocked_connection_timeout=WAIT,
    )


def round_trip(connection):
    """Publish one message to a fresh queue and get it back; returns the body."""
    channel = connection.channel()
    queue = channel.queue_declare(queue="", exclusive=True).method.queue
    body = uuid.uuid4().hex.encode()
    channel.confirm_delivery()
    channel.basic_publish(exchange="", routing_key=queue, body=body)
    method, _, got = channel.basic_get(queue=queue, auto_ack=True)
    assert method is not None, "the message did not arrive"
    return body, got


def test_pika_over_tls_with_plain_login():
    conn = pika.BlockingConnection(tls_parameters(pika.PlainCredentials("guest", "guest")))
    try:
        sent, got = round_trip(conn)
        assert got == sent
    finally:
        conn.close()


def test_pika_external_login_with_a_client_certificate():
    """CN=guest in the client certificate logs in as guest with no password."""
    conn = pika.BlockingConnection(
        tls_parameters(pika.credentials.ExternalCredentials(), client_cert=True)
    )
    try:
        sent, got = round_trip(conn)
        assert got == sent
    finally:
        conn.close()


def test_external_without_a_certificate_is_refused():
    """EXTERNAL is not offered to a client that presented no certificate."""
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(tls_parameters(pika.credentials.ExternalCredentials()))


def test_aio_pika_over_amqps():
    async def main():
        conn = await aio_pika.connect(
            host="localhost",
            port=int(AMQPS_PORT),
            login="guest",
            password="guest",
            ssl=True,
            ssl_context=context(),
        )
        async with conn:
            channel = await conn.channel()
            queue = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(
                aio_pika.Message(body=b"over tls"), routing_key=queue.name
            )
            message = await queue.get(timeout=WAIT)
            await message.ack()
            return message.body

    assert asyncio.run(asyncio.wait_for(main(), 30)) == b"over tls"


def test_management_api_over_https():
    request = urllib.request.Request(f"https://localhost:{HTTPS_PORT}/api/overview")
    token = base64.b64encode(b"guest:guest").decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, context=context(), timeout=WAIT) as response:
        overview = json.load(response)
    protocols = {listener["protocol"] for listener in overview["listeners"]}
    assert {"amqp", "amqp/ssl", "https"} <= protocols, protocols


def test_https_server_certificate_is_checked_against_the_ca():
    """The server certificate is only trusted through the test CA."""
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(
            f"https://localhost:{HTTPS_PORT}/api/overview",
            context=ssl.create_default_context(),
            timeout=WAIT,
        )
