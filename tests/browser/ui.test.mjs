// Warren's web UI in a real browser (Debian's Chromium through playwright-core):
// log in, declare a queue, publish a message to it, watch the counters move,
// get the message back. Screenshots go to $SCREENSHOT_DIR.
//
// Usage: WARREN_HTTP_URL=http://127.0.0.1:15672 SCREENSHOT_DIR=ci-artifacts/screenshots node ui.test.mjs
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.env.WARREN_HTTP_URL || "http://127.0.0.1:15672";
const shots = process.env.SCREENSHOT_DIR || "ci-artifacts/screenshots";
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "warren-chromium-"));
const queue = "browser-test-" + Date.now();

function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok - " + what);
}

// A fresh profile directory (Chromium's --user-data-dir, which playwright
// passes itself for a persistent context).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1200, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let page;
try {
  page = await browser.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(base + "/");
  await page.screenshot({ path: join(shots, "01-login.png") });
  await page.fill("#username", "guest");
  await page.fill("#password", "wrong");
  await page.click("#login-button");
  await page.waitForSelector("#login-error:not([hidden])");
  check(await page.isHidden("#app"), "a wrong password does not log in");
  await page.fill("#password", "guest");
  await page.click("#login-button");
  await page.waitForSelector("#app:not([hidden])");
  await page.waitForFunction(() => document.querySelector("#node-info td"));
  check((await page.textContent("#user-name")) === "guest", "logged in as guest");
  await page.screenshot({ path: join(shots, "02-overview.png") });

  await page.click("nav a[data-tab=queues]");
  await page.fill("#queue-name", queue);
  await page.click("#declare-queue-button");
  await page.waitForFunction((q) => document.querySelector("#queues-table").textContent.includes(q), queue);
  await page.waitForSelector("#queue-detail:not([hidden])");
  check((await page.textContent("#queue-ready")) === "0", "new queue shows 0 ready messages");
  await page.screenshot({ path: join(shots, "03-queue-declared.png") });

  await page.click("nav a[data-tab=exchanges]");
  await page.click("#exchanges-table tr.clickable:has-text('(AMQP default)')");
  await page.waitForSelector("#exchange-detail:not([hidden])");
  await page.fill("#publish-key", queue);
  await page.fill("#publish-payload", "hello from chromium");
  await page.click("#publish-button");
  await page.waitForFunction(() => document.querySelector("#publish-result").textContent === "Message published.");
  check(true, "published a message to the default exchange");
  await page.screenshot({ path: join(shots, "04-published.png") });

  await page.click("nav a[data-tab=queues]");
  await page.waitForFunction(() => document.querySelector("#queue-ready").textContent === "1", null, { timeout: 15000 });
  check((await page.textContent("#queue-total")) === "1", "queue counters moved to 1 message");
  await page.click("nav a[data-tab=overview]");
  await page.waitForFunction(() => document.querySelector("#total-ready").textContent !== "0");
  check(+(await page.textContent("#total-ready")) >= 1, "overview shows the queued message");
  await page.screenshot({ path: join(shots, "05-overview-counters.png") });

  await page.click("nav a[data-tab=queues]");
  await page.selectOption("#get-ackmode", "ack_requeue_false");
  await page.click("#get-button");
  await page.waitForSelector("#get-results .message");
  const payload = await page.textContent("#get-results pre.payload");
  check(payload === "hello from chromium", "got the message back: " + payload);
  await page.waitForFunction(() => document.querySelector("#queue-ready").textContent === "0");
  check(true, "queue is empty after getting the message with ack");
  await page.screenshot({ path: join(shots, "06-message-got.png") });

  page.once("dialog", (d) => d.accept());
  await page.click("#delete-queue");
  await page.waitForSelector("#queue-detail", { state: "hidden" });
  check(errors.length === 0, "no JavaScript errors: " + errors.join("; "));
} catch (e) {
  if (page) await page.screenshot({ path: join(shots, "failure.png") }).catch(() => {});
  console.error(e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
