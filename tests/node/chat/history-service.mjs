// The chat's history service: a durable queue bound to the chat's fanout
// exchange collects every message, even while the service is down; the
// service appends each one to a JSON-lines file and acks it only once it is
// written. It answers history requests (RPC on its request queue) with the
// whole file.
import { appendFile, readFile } from "node:fs/promises";
import amqp from "amqplib";

/** Reads the stored history: the messages in the order they were stored. */
export async function readHistory(file) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/**
 * Starts the service. Resolves once it has stored the backlog that waited in
 * its durable queue when it started, with { stop() }.
 */
export async function startHistoryService({ url, exchange, queue, requestQueue, file }) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, "fanout", { durable: true });
  const { messageCount: backlog } = await channel.assertQueue(queue, { durable: true });
  await channel.bindQueue(queue, exchange, "");
  await channel.prefetch(50);

  let stored = 0;
  let caughtUp;
  const ready = new Promise((resolve) => {
    caughtUp = resolve;
  });
  if (backlog === 0) caughtUp();

  // One append at a time, in delivery order; ack after the write.
  let writes = Promise.resolve();
  const { consumerTag } = await channel.consume(queue, (message) => {
    writes = writes.then(async () => {
      await appendFile(file, `${message.content.toString()}\n`);
      channel.ack(message);
      stored += 1;
      if (stored === backlog) caughtUp();
    });
  });

  await channel.assertQueue(requestQueue, { durable: false, autoDelete: true });
  const requests = await channel.consume(requestQueue, (request) => {
    writes = writes.then(async () => {
      const history = await readHistory(file);
      channel.sendToQueue(request.properties.replyTo, Buffer.from(JSON.stringify(history)), {
        correlationId: request.properties.correlationId,
        contentType: "application/json",
      });
      channel.ack(request);
    });
  });

  await ready;
  return {
    // A clean stop: no new deliveries, finish the writes, and close the channel
    // before the connection, so that its last acks go out ahead of the
    // connection.close (a message stored but not acked would be stored twice).
    async stop() {
      await channel.cancel(consumerTag);
      await channel.cancel(requests.consumerTag);
      await writes;
      await channel.close();
      await connection.close();
    },
  };
}
