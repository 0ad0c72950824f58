// Issue 11 item 2: an amqplib client that publishes a burst and then closes.
// amqplib buffers publishes per channel, and connection.close (channel 0) can
// overtake them; a broker that closes the socket right after close-ok makes the
// client's remaining writes fail with `write EPIPE` (RabbitMQ keeps reading
// until the client closes its side). Closing the channel first is how a client
// makes sure its publishes arrived: channel.close goes out after them.
import assert from "node:assert/strict";
import { test } from "node:test";
import amqp from "amqplib";
import { AMQP_URL, unique, within } from "../broker.mjs";

const BURST = 10000;
const BODY = Buffer.alloc(200, "x");

/**
 * Publishes the burst on a fresh connection, closes the way `close` says, and
 * fails on any error the client saw before its connection emitted 'close'.
 */
async function burstThenClose(queue, close) {
  const connection = await amqp.connect(AMQP_URL);
  const errors = [];
  connection.on("error", (error) => errors.push(`connection error: ${error.message}`));
  const closed = new Promise((resolve) => connection.once("close", resolve));
  const channel = await connection.createChannel();
  channel.on("error", (error) => errors.push(`channel error: ${error.message}`));
  await channel.assertQueue(queue, { durable: false });
  for (let i = 0; i < BURST; i++) channel.sendToQueue(queue, BODY, { messageId: String(i) });
  const closing = close(connection, channel);
  const reason = await within(closed, "the connection's 'close' event");
  assert.deepEqual(errors, [], "no error while closing");
  assert.equal(reason, undefined, "'close' without an error");
  await within(closing, "close() to resolve");
}

/** Deletes the queue on a new connection and resolves with the number of messages it held. */
async function deleteQueue(queue) {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  const { messageCount } = await channel.deleteQueue(queue);
  await connection.close();
  return messageCount;
}

test("channel.close then connection.close after a burst: no error, every message queued", async () => {
  const queue = unique("node.burst");
  try {
    await burstThenClose(queue, async (connection, channel) => {
      await channel.close();
      await connection.close();
    });
  } finally {
    const count = await deleteQueue(queue);
    assert.equal(count, BURST, "all messages are in the queue");
  }
});

test("connection.close right after a burst: a clean close, no write EPIPE", async () => {
  const queue = unique("node.burst");
  try {
    await burstThenClose(queue, (connection) => connection.close());
  } finally {
    // The close overtakes the buffered publishes; RabbitMQ 3.10.8 discards
    // those that arrive after connection.close (it kept 0 of 10000 here), so
    // only the close itself is asserted.
    await deleteQueue(queue);
  }
});
