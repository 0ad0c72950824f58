// The broker under test, from WARREN_AMQP_HOST / WARREN_AMQP_PORT
// (default 127.0.0.1:5672), as guest/guest on the default vhost.
const host = process.env.WARREN_AMQP_HOST || "127.0.0.1";
const port = process.env.WARREN_AMQP_PORT || "5672";

/** The AMQP URL every program here connects to. */
export const AMQP_URL = `amqp://guest:guest@${host}:${port}/`;

/** How long a test waits for any one event before it fails. */
export const WAIT_MS = 10000;

/** A name no other run uses: prefix plus a random suffix. */
export function unique(prefix) {
  return `${prefix}.${Math.random().toString(16).slice(2, 14)}`;
}

/** Resolves with promise's value, or rejects after ms with a message naming `what`. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
