// The competing-consumers hash cracker against the broker: three worker
// processes share the work ranges of a search for a SHA-256 preimage; the
// producer gathers their replies on its reply queue.
import assert from "node:assert/strict";
import { fork } from "node:child_process";
import { randomInt } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import amqp from "amqplib";
import { AMQP_URL, unique, within } from "../broker.mjs";
import { crack } from "../cracker/producer.mjs";
import { sha256, wordAt } from "../cracker/search-space.mjs";

const WORKER = fileURLToPath(new URL("../cracker/worker.mjs", import.meta.url));
const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
const LENGTH = 4;
const RANGE_SIZE = 5000;
const WORKERS = 3;

/** Forks a worker process and resolves once it is consuming. */
async function forkWorker(workQueue, name) {
  const child = fork(WORKER, [AMQP_URL, workQueue, name], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const [message] = await within(once(child, "message"), `worker ${name} to start`);
  assert.equal(message, "ready");
  return child;
}

async function stopWorker(child) {
  if (child.exitCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await within(exited, "a worker to exit");
}

test("workers share the ranges and the producer gets the preimage back", async () => {
  const workQueue = unique("node.cracker.work");
  const total = ALPHABET.length ** LENGTH;
  const secret = wordAt(randomInt(total), ALPHABET, LENGTH);
  const workers = [];
  try {
    for (let i = 0; i < WORKERS; i++) workers.push(await forkWorker(workQueue, `worker-${i}`));
    const { found, replies } = await within(
      crack({ url: AMQP_URL, workQueue, target: sha256(secret), alphabet: ALPHABET, length: LENGTH, rangeSize: RANGE_SIZE }),
      "every range to be answered",
      60000,
    );
    assert.deepEqual(found, [secret], `the preimage of sha256(${secret})`);

    const covered = replies.map((r) => [r.start, r.end]).sort((a, b) => a[0] - b[0]);
    assert.equal(covered.length, Math.ceil(total / RANGE_SIZE), "one reply per range");
    covered.forEach(([start, end], i) => {
      assert.equal(start, i * RANGE_SIZE, "ranges answered once each, none missing");
      assert.equal(end, Math.min(start + RANGE_SIZE, total));
    });
    const perWorker = new Map();
    for (const r of replies) perWorker.set(r.worker, (perWorker.get(r.worker) || 0) + 1);
    console.log("ranges per worker:", Object.fromEntries(perWorker));
    assert.equal(perWorker.size, WORKERS, `every worker took part: ${JSON.stringify([...perWorker])}`);
  } finally {
    await Promise.all(workers.map(stopWorker));
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    const { messageCount } = await channel.deleteQueue(workQueue);
    await connection.close();
    assert.equal(messageCount, 0, "no work left in the queue");
  }
});
