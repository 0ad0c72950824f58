// A hash-cracking worker (run as its own process: node cracker/worker.mjs
// <amqp-url> <work-queue> <name>). It takes one work range at a time
// (prefetch 1, manual ack) from the shared work queue, searches it, replies
// to the range's reply-to queue with what it found, and acks after replying.
import amqp from "amqplib";
import { searchRange } from "./search-space.mjs";

/** Starts consuming work; resolves with { stop() }. */
export async function startWorker({ url, workQueue, name }) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertQueue(workQueue, { durable: true });
  await channel.prefetch(1);
  await channel.consume(workQueue, (message) => {
    const range = JSON.parse(message.content);
    const found = searchRange(range);
    const reply = { worker: name, start: range.start, end: range.end, found };
    channel.sendToQueue(message.properties.replyTo, Buffer.from(JSON.stringify(reply)), {
      correlationId: message.properties.correlationId,
      contentType: "application/json",
    });
    channel.ack(message);
  });
  return {
    async stop() {
      await channel.close();
      await connection.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, workQueue, name] = process.argv.slice(2);
  const worker = await startWorker({ url, workQueue, name });
  process.send?.("ready");
  process.once("SIGTERM", () => worker.stop().then(() => process.exit(0)));
}
