// The WebSocket chat against the broker: clients on two chat servers see each
// other's messages through the fanout exchange; the history service stores
// every message, including those sent while it was down (they wait in its
// durable queue), and a client that joins later gets them all.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import amqp from "amqplib";
import { WebSocket } from "ws";
import { AMQP_URL, unique, within } from "../broker.mjs";
import { startChatServer } from "../chat/chat-server.mjs";
import { readHistory, startHistoryService } from "../chat/history-service.mjs";

const names = {
  exchange: unique("node.chat"),
  queue: unique("node.chat.history"),
  requestQueue: unique("node.chat.history.requests"),
};
let dir;
let file;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "warren-chat-"));
  file = join(dir, "history.jsonl");
});

after(async () => {
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.deleteQueue(names.queue);
  await channel.deleteExchange(names.exchange);
  await connection.close();
  await rm(dir, { recursive: true, force: true });
});

/** A chat client: a WebSocket whose incoming events queue up for next(). */
async function joinChat(server, user) {
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}`);
  const events = [];
  const waiters = [];
  socket.on("message", (data) => {
    const event = JSON.parse(data);
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else events.push(event);
  });
  await within(new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  }), `${user} to connect`);
  const client = {
    user,
    next() {
      if (events.length > 0) return Promise.resolve(events.shift());
      return within(new Promise((resolve) => waiters.push(resolve)), `a chat event for ${user}`);
    },
    say(text) {
      socket.send(JSON.stringify({ user, text }));
    },
    async messages(count) {
      const got = [];
      while (got.length < count) {
        const event = await client.next();
        assert.equal(event.type, "message", `${user} got ${JSON.stringify(event)}`);
        got.push(event);
      }
      return got;
    },
    close() {
      socket.close();
    },
  };
  client.history = await client.next();
  assert.equal(client.history.type, "history");
  return client;
}

/** Each client says its lines, interleaved; every listener must see every line. */
async function chat(speakers, listeners, lines, topic) {
  const said = [];
  for (let i = 0; i < lines; i++) {
    for (const speaker of speakers) {
      const text = `${speaker.user} on ${topic}, line ${i}`;
      speaker.say(text);
      said.push(text);
    }
  }
  for (const listener of listeners) {
    const heard = (await listener.messages(said.length)).map((m) => m.text);
    assert.deepEqual([...heard].sort(), [...said].sort(), `${listener.user} heard every line once`);
    for (const speaker of speakers) {
      const own = heard.filter((t) => t.startsWith(`${speaker.user} `));
      assert.deepEqual(own, said.filter((t) => t.startsWith(`${speaker.user} `)), "in the order said");
    }
  }
  return said;
}

test("chat fans out across servers and history survives a history-service restart", async () => {
  let history = await startHistoryService({ url: AMQP_URL, file, ...names });
  const servers = [await startChatServer({ url: AMQP_URL, ...names }), await startChatServer({ url: AMQP_URL, ...names })];
  try {
    const alice = await joinChat(servers[0], "alice");
    const bob = await joinChat(servers[1], "bob");
    const carol = await joinChat(servers[0], "carol");
    assert.deepEqual(alice.history.messages, [], "a new chat has no history");
    const everyone = [alice, bob, carol];
    const said = await chat([alice, bob], everyone, 10, "the weather");

    await history.stop();
    said.push(...(await chat([carol, bob], everyone, 5, "the outage")));
    const late = await joinChat(servers[1], "dave");
    assert.equal(late.history.messages, null, "no history while the history service is down");
    late.close();

    history = await startHistoryService({ url: AMQP_URL, file, ...names });
    const dave = await joinChat(servers[1], "dave");
    const stored = dave.history.messages.map((m) => m.text);
    assert.deepEqual([...stored].sort(), [...said].sort(), "history holds every message once");
    assert.deepEqual(await readHistory(file), dave.history.messages, "as stored in its file");
    for (const m of dave.history.messages) {
      assert.ok(m.id && m.user && typeof m.sentAt === "number", `message fields: ${JSON.stringify(m)}`);
    }
    for (const client of [...everyone, dave]) client.close();
  } finally {
    for (const server of servers) await server.close();
    await history.stop();
  }
});
