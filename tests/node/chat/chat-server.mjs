// A WebSocket chat server. Every message a client sends is published to the
// chat's fanout exchange; each server instance has its own exclusive queue
// bound to that exchange and broadcasts what arrives there to its clients, so
// clients of different instances talk to each other. A client that connects
// first gets the history, asked of the history service over RPC (direct
// reply-to).
import { randomUUID } from "node:crypto";
import amqp from "amqplib";
import { WebSocketServer } from "ws";

const REPLY_TO = "amq.rabbitmq.reply-to";

/** Starts a chat server on an ephemeral port; resolves with { port, close() }. */
export async function startChatServer({ url, exchange, requestQueue }) {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, "fanout", { durable: true });
  const { queue } = await channel.assertQueue("", { exclusive: true });
  await channel.bindQueue(queue, exchange, "");

  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  await channel.consume(
    queue,
    (message) => broadcast(wss, { type: "message", ...JSON.parse(message.content) }),
    { noAck: true },
  );

  const historyRequests = await askHistory(channel, requestQueue);
  wss.on("connection", (socket) => {
    socket.on("message", (data) => publishChat(channel, exchange, data));
    historyRequests
      .ask()
      .then((messages) => socket.send(JSON.stringify({ type: "history", messages })))
      .catch((error) => socket.close(1011, error.message.slice(0, 100)));
  });

  return {
    port: wss.address().port,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await connection.close();
    },
  };
}

/** Publishes one chat message ({ user, text }) with an id and the time it was sent. */
function publishChat(channel, exchange, data) {
  const { user, text } = JSON.parse(data);
  const message = { id: randomUUID(), user, text, sentAt: Date.now() };
  channel.publish(exchange, "", Buffer.from(JSON.stringify(message)), {
    persistent: true,
    contentType: "application/json",
    messageId: message.id,
  });
}

/** Sends an event to every open client of the server. */
function broadcast(wss, event) {
  const frame = JSON.stringify(event);
  for (const client of wss.clients) {
    if (client.readyState === client.OPEN) client.send(frame);
  }
}

/** An RPC client for the history service over direct reply-to: ask() resolves with the history. */
async function askHistory(channel, requestQueue) {
  const pending = new Map();
  await channel.consume(
    REPLY_TO,
    (reply) => {
      const resolve = pending.get(reply.properties.correlationId);
      pending.delete(reply.properties.correlationId);
      if (resolve) resolve(JSON.parse(reply.content));
    },
    { noAck: true },
  );
  // While the history service is down its request queue (auto-delete) is gone:
  // the mandatory request comes back, and the client gets no history (null).
  channel.on("return", (request) => {
    const resolve = pending.get(request.properties.correlationId);
    pending.delete(request.properties.correlationId);
    if (resolve) resolve(null);
  });
  return {
    ask() {
      const correlationId = randomUUID();
      const answer = new Promise((resolve) => pending.set(correlationId, resolve));
      channel.sendToQueue(requestQueue, Buffer.from("history"), {
        correlationId,
        replyTo: REPLY_TO,
        mandatory: true,
      });
      return answer;
    },
  };
}
