// The console parts of Warren's web UI in Chromium (playwright-core): the
// vhost selector, the node panel, connection names and close, queue
// arguments/policy/consumers, Publish with headers and delivery mode, Get
// with properties, confirmations; then a management-only user, who gets
// readable notes (no hung tabs, no login dialog) where the API refuses.
// A real amqplib client provides the connection and the consumer.
//
// Usage: WARREN_HTTP_URL=http://127.0.0.1:15672 WARREN_AMQP_PORT=5672 \
//   SCREENSHOT_DIR=ci-artifacts/screenshots node console.test.mjs
import { chromium } from "playwright-core";
import amqp from "amqplib";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.env.WARREN_HTTP_URL || "http://127.0.0.1:15672";
const amqpPort = process.env.WARREN_AMQP_PORT || "5672";
const shots = process.env.SCREENSHOT_DIR || "ci-artifacts/screenshots";
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "warren-chromium-"));
const stamp = Date.now();
const vhost = "console-vh-" + stamp;
const queue = "console-q-" + stamp;
const mgmtUser = "console-mgmt-" + stamp;
const clientName = "console-client-" + stamp;
const enc = encodeURIComponent;

function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok - " + what);
}

// A management API call as guest (setup and cleanup only).
async function admin(method, path, body) {
  const res = await fetch(base + "/api" + path, {
    method,
    headers: { Authorization: "Basic " + btoa("guest:guest"), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok && !(method === "DELETE" && res.status === 404)) {
    throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  }
}

async function streamText(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

const shot = (page, name) => page.screenshot({ path: join(shots, name + ".png"), fullPage: true });

await admin("PUT", `/vhosts/${enc(vhost)}`, {});
const all = { configure: ".*", write: ".*", read: ".*" };
await admin("PUT", `/permissions/${enc(vhost)}/guest`, all);
await admin("PUT", `/users/${enc(mgmtUser)}`, { password: "secret", tags: "management" });
await admin("PUT", `/permissions/${enc(vhost)}/${enc(mgmtUser)}`, all);
await admin("PUT", `/policies/${enc(vhost)}/console-limit`,
  { pattern: "^console-q-", definition: { "max-length": 100 }, "apply-to": "queues", priority: 1 });

const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}/${enc(vhost)}`,
  { clientProperties: { connection_name: clientName } });
const closed = new Promise((resolve) => conn.on("close", (e) => resolve(e)));
conn.on("error", () => {});
const ch = await conn.createChannel();
ch.on("error", () => {});

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let page;
try {
  page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const textOf = (sel) => page.textContent(sel);

  await page.goto(base + "/");
  await page.fill("#username", "guest");
  await page.fill("#password", "guest");
  await page.click("#login-button");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#node-panel td"));
  const node = await textOf("#node-panel");
  check(/Memory/.test(node) && /\d+(\.\d)? [KMG]iB of/.test(node), "node panel shows memory used of its limit: " + node);
  check(/File descriptors/.test(node) && /Sockets/.test(node) && /Uptime/.test(node) && /ok/.test(node),
    "node panel shows fds, sockets, uptime and alarms");
  await shot(page, "11-admin-node-panel");

  // Definitions: download, then upload a file declaring one more queue.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-definitions")]);
  const exported = JSON.parse(await streamText(await download.createReadStream()));
  check(exported.vhosts.some((v) => v.name === vhost), "downloaded definitions list the test vhost");
  const imported = "console-imp-" + stamp;
  await page.setInputFiles("#import-definitions", { name: "defs.json", mimeType: "application/json",
    buffer: Buffer.from(JSON.stringify({ queues: [{ name: imported, vhost, durable: true, auto_delete: false, arguments: {} }] })) });
  await page.waitForFunction(() => document.querySelector("#definitions-result").textContent.startsWith("Definitions imported"));
  const importedRes = await fetch(`${base}/api/queues/${enc(vhost)}/${enc(imported)}`, { headers: { Authorization: "Basic " + btoa("guest:guest") } });
  check(importedRes.status === 200, "uploaded definitions declared the queue");

  // Vhost selector: the queue form and listings follow it.
  await page.selectOption("#vhost-select", vhost);
  await page.click("nav a[data-tab=queues]");
  check((await page.inputValue("#queue-vhost")) === vhost, "the queue form defaults to the selected vhost");
  await page.fill("#queue-name", queue);
  await page.click("#declare-queue-button");
  await page.waitForSelector("#queue-detail:not([hidden])");
  await page.waitForFunction((q) => document.querySelector("#queues-table").textContent.includes(q), queue);
  const vhostCells = await page.$$eval("#queues-table tr.clickable td:first-child", (tds) => tds.map((t) => t.textContent));
  check(vhostCells.length === 2 && vhostCells.every((v) => v === vhost), "the queue list shows only the selected vhost: " + vhostCells);
  const info = await textOf("#queue-info");
  check(info.includes("console-limit") && info.includes("max-length: 100"), "queue page shows its policy: " + info);

  await ch.consume(queue, () => {}, { consumerTag: "console-consumer", noAck: false });
  await page.click(`#queues-table tr.clickable:has-text('${queue}')`);
  await page.waitForFunction(() => document.querySelector("#queue-consumers-table").textContent.includes("console-consumer"));
  check(true, "queue page lists the amqplib consumer");
  await shot(page, "12-admin-queue-detail");
  await ch.cancel("console-consumer");
  await page.fill("#queue-filter", "console-imp");
  await page.waitForFunction((q) => !document.querySelector("#queues-table").textContent.includes(q), queue);
  check((await textOf("#queues-table")).includes("console-imp-"), "the filter box narrows the queue list");
  await page.fill("#queue-filter", "");
  await page.waitForFunction((q) => document.querySelector("#queues-table").textContent.includes(q), queue);

  // Publish with headers, delivery mode and properties into the vhost.
  await page.click("nav a[data-tab=exchanges]");
  await page.click("#exchanges-table tr.clickable:has-text('(AMQP default)')");
  await page.waitForSelector("#exchange-detail:not([hidden])");
  await page.fill("#publish-key", queue);
  await page.selectOption("#publish-delivery-mode", "2");
  await page.fill("#publish-headers", "x-test=42\nx-origin=chromium");
  await page.fill("#publish-properties", "message_id=m-1\ncontent_type=text/plain\npriority=3");
  await page.fill("#publish-payload", "console payload");
  await page.click("#publish-button");
  await page.waitForFunction(() => document.querySelector("#publish-result").textContent === "Message published.");
  check(true, "published with headers and properties in the selected vhost");

  await page.click("nav a[data-tab=queues]");
  await page.click(`#queues-table tr.clickable:has-text('${queue}')`);
  await page.selectOption("#get-ackmode", "ack_requeue_false");
  await page.click("#get-button");
  await page.waitForSelector("#get-results .message");
  const got = await textOf("#get-results");
  check(got.includes("x-test: 42") && got.includes("x-origin: chromium"), "Get shows the headers: " + got);
  check(/delivery_mode\s*2/.test(got) && /message_id\s*m-1/.test(got) && /priority\s*3/.test(got),
    "Get shows delivery mode and properties");
  await shot(page, "13-admin-get-properties");

  // Delete asks first: dismissing keeps the queue, accepting deletes it.
  page.once("dialog", (d) => d.dismiss());
  await page.click("#delete-queue");
  check(await page.isVisible("#queue-detail"), "dismissing the confirmation keeps the queue");
  page.once("dialog", (d) => d.accept());
  await page.click("#delete-queue");
  await page.waitForSelector("#queue-detail", { state: "hidden" });
  check(true, "accepting the confirmation deletes the queue");

  // Connections: the client-provided name, and close with a reason.
  await page.click("nav a[data-tab=connections]");
  await page.waitForFunction((n) => document.querySelector("#connections-table").textContent.includes(n), clientName);
  check(true, "connections show the client-provided name");
  await shot(page, "14-admin-connections");
  page.once("dialog", (d) => d.accept("closed by the browser test"));
  await page.click(`#connections-table tr:has-text('${clientName}') button.close-connection`);
  const why = await Promise.race([closed, new Promise((_, no) => setTimeout(() => no(new Error("no close")), 10000))]);
  check(/CONNECTION.FORCED|320/.test(String(why && why.message)) && /closed by the browser test/.test(String(why.message)),
    "the client saw the close with the reason: " + (why && why.message));

  // Users tab: permissions of the selected vhost; policies: delete with confirmation.
  await page.click("nav a[data-tab=users]");
  await page.waitForFunction((u) => document.querySelector("#permissions-table").textContent.includes(u), mgmtUser);
  check(true, "the users tab lists the permissions in the selected vhost");
  await page.click("nav a[data-tab=policies]");
  await page.waitForFunction(() => document.querySelector("#policies-table").textContent.includes("console-limit"));
  await shot(page, "15-admin-policies");
  page.once("dialog", (d) => d.accept());
  await page.click("#policies-table tr:has-text('console-limit') button.delete-row");
  await page.waitForFunction(() => !document.querySelector("#policies-table").textContent.includes("console-limit"));
  check(true, "a policy is deleted after confirmation");
  check(errors.length === 0, "no JavaScript errors as administrator: " + errors.join("; "));

  // A management-only user: readable notes, no login challenge, no hang.
  await page.click("#logout-button");
  await page.waitForSelector("#login:not([hidden])");
  await page.fill("#username", mgmtUser);
  await page.fill("#password", "secret");
  await page.click("#login-button");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForSelector("#node-panel-denied:not([hidden])");
  check((await textOf("#node-panel-denied")).includes("monitoring"), "node panel explains the missing tag");
  check(await page.isHidden("#export-definitions"), "definitions buttons are for administrators only");
  await shot(page, "16-management-overview");
  await page.click("nav a[data-tab=users]");
  await page.waitForSelector("#tab-users p.tab-denied:not([hidden])");
  const denied = await textOf("#tab-users p.tab-denied");
  check(/not allowed/.test(denied) && /management/.test(denied), "users tab shows a readable refusal: " + denied);
  check(await page.isHidden("#add-user-form"), "the refused users tab hides its forms");
  await shot(page, "17-management-users-denied");
  const challenge = await page.evaluate(async (auth) => {
    const r = await fetch("/api/users", { headers: { Authorization: "Basic " + auth, "X-Requested-With": "XMLHttpRequest" } });
    return [r.status, r.headers.get("www-authenticate")];
  }, btoa(mgmtUser + ":secret"));
  check(challenge[0] === 401 && challenge[1] === null, "permission denied carries no WWW-Authenticate: " + challenge);
  await page.click("nav a[data-tab=queues]");
  await page.waitForFunction(() => document.querySelector("#queues-table th"));
  check(await page.isHidden("#tab-queues p.tab-denied"), "the queues tab works for the management user");
  check(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
} catch (e) {
  if (page) await page.screenshot({ path: join(shots, "console-failure.png") }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
  await conn.close().catch(() => {});
  await admin("DELETE", `/vhosts/${enc(vhost)}`).catch((e) => console.error(e));
  await admin("DELETE", `/users/${enc(mgmtUser)}`).catch((e) => console.error(e));
}
