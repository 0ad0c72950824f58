// The cracker's producer: splits the search space into ranges, publishes each
// as a persistent work message to the shared work queue with its own reply
// queue (exclusive, server-named) as reply-to, and gathers one reply per range.
import { randomUUID } from "node:crypto";
import amqp from "amqplib";

/**
 * Searches every word of `length` letters of `alphabet` for a SHA-256 preimage
 * of target. Resolves with { found, replies } once every range is answered.
 */
export async function crack({ url, workQueue, target, alphabet, length, rangeSize }) {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(workQueue, { durable: true });
    const { queue: replyQueue } = await channel.assertQueue("", { exclusive: true });
    const ranges = splitSpace(alphabet.length ** length, rangeSize);
    const answered = collectReplies(channel, replyQueue, ranges.length);
    const ids = new Set();
    for (const [start, end] of ranges) {
      const correlationId = randomUUID();
      ids.add(correlationId);
      const work = { start, end, alphabet, length, target };
      channel.sendToQueue(workQueue, Buffer.from(JSON.stringify(work)), {
        persistent: true,
        correlationId,
        replyTo: replyQueue,
      });
    }
    await channel.waitForConfirms();
    const replies = await answered;
    for (const reply of replies) {
      if (!ids.delete(reply.correlationId)) throw new Error(`unexpected reply ${reply.correlationId}`);
    }
    return { found: replies.flatMap((r) => r.found), replies };
  } finally {
    await connection.close();
  }
}

/** [start, end) ranges of at most size covering 0 .. total - 1. */
function splitSpace(total, size) {
  const ranges = [];
  for (let start = 0; start < total; start += size) ranges.push([start, Math.min(start + size, total)]);
  return ranges;
}

/** Resolves with `count` replies from the reply queue (each with its correlation id). */
async function collectReplies(channel, replyQueue, count) {
  const replies = [];
  let done;
  const all = new Promise((resolve) => {
    done = resolve;
  });
  await channel.consume(
    replyQueue,
    (message) => {
      replies.push({ ...JSON.parse(message.content), correlationId: message.properties.correlationId });
      if (replies.length === count) done(replies);
    },
    { noAck: true },
  );
  return all;
}
