// Warren's management UI: plain JavaScript, no external assets. It keeps the
// credentials in sessionStorage and calls the RabbitMQ-compatible /api.
"use strict";

const state = { auth: sessionStorage.getItem("warren-auth"), tab: "overview", vhost: "/",
  queue: null, exchange: null, history: [], timer: null };
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

async function api(method, path, body) {
  const headers = { "Authorization": "Basic " + state.auth, "X-Requested-With": "XMLHttpRequest" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch("/api" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error((data && data.reason) || res.statusText);
  return data;
}

function flash(text, error) {
  const f = $("flash");
  f.textContent = text; f.className = error ? "error" : ""; f.hidden = false;
  clearTimeout(flash.timer); flash.timer = setTimeout(() => { f.hidden = true; }, 4000);
}

function esc(v) {
  return String(v === undefined || v === null ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c]));
}

function rate(obj, key) {
  const d = obj && obj[key + "_details"];
  return d ? d.rate.toFixed(1) : "0.0";
}

// Renders rows into a table; columns are [title, fn(row) -> value, numeric?].
function table(id, columns, rows, onClick) {
  const head = "<tr>" + columns.map((c) => `<th>${esc(c[0])}</th>`).join("") + "</tr>";
  const body = rows.map((r, i) => `<tr data-i="${i}"${onClick ? ' class="clickable"' : ""}>` +
    columns.map((c) => `<td${c[2] ? ' class="num"' : ""}>${esc(c[1](r))}</td>`).join("") + "</tr>").join("");
  const el = $(id);
  el.innerHTML = head + (body || `<tr><td colspan="${columns.length}">… no items …</td></tr>`);
  if (onClick) el.querySelectorAll("tr.clickable").forEach((tr) => tr.addEventListener("click", () => onClick(rows[+tr.dataset.i])));
}

function chart(id, series, colors, labels) {
  const c = $(id), g = c.getContext("2d"), w = c.width, h = c.height, pad = 30;
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.flat());
  g.strokeStyle = "#ccc"; g.fillStyle = "#666"; g.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = pad / 2 + (h - pad) * i / 4;
    g.beginPath(); g.moveTo(pad, y); g.lineTo(w - 4, y); g.stroke();
    g.fillText(String(+(max * (4 - i) / 4).toFixed(1)), 2, y + 4);
  }
  series.forEach((s, k) => {
    g.strokeStyle = colors[k]; g.lineWidth = 2; g.beginPath();
    s.forEach((v, i) => {
      const x = pad + (w - pad - 4) * (s.length < 2 ? 1 : i / (s.length - 1));
      const y = pad / 2 + (h - pad) * (1 - v / max);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.fillStyle = colors[k]; g.fillText(labels[k], pad + 10 + k * 110, h - 4);
  });
}

async function showOverview() {
  const o = await api("GET", "/overview");
  const q = o.queue_totals || {}, m = o.message_stats || {};
  $("total-ready").textContent = q.messages_ready || 0;
  $("total-unacked").textContent = q.messages_unacknowledged || 0;
  $("total-messages").textContent = q.messages || 0;
  $("rate-publish").textContent = rate(m, "publish");
  $("rate-deliver").textContent = rate(m, "deliver_get");
  $("rate-ack").textContent = rate(m, "ack");
  $("rate-redeliver").textContent = rate(m, "redeliver");
  state.history.push({ ready: q.messages_ready || 0, unacked: q.messages_unacknowledged || 0,
    publish: +rate(m, "publish"), deliver: +rate(m, "deliver_get"), ack: +rate(m, "ack") });
  if (state.history.length > 60) state.history.shift();
  const hist = (k) => state.history.map((s) => s[k]);
  chart("chart-queued", [hist("ready"), hist("unacked")], ["#c80", "#36c"], ["Ready", "Unacked"]);
  chart("chart-rates", [hist("publish"), hist("deliver"), hist("ack")], ["#c80", "#3a3", "#36c"], ["Publish", "Deliver", "Ack"]);
  const t = o.object_totals || {};
  table("object-totals", [["Connections", (r) => r.connections, 1], ["Channels", (r) => r.channels, 1],
    ["Exchanges", (r) => r.exchanges, 1], ["Queues", (r) => r.queues, 1], ["Consumers", (r) => r.consumers, 1]], [t]);
  table("node-info", [["Node", (r) => r.node], ["Product", (r) => r.product_name + " " + r.product_version],
    ["Listeners", (r) => (r.listeners || []).map((l) => l.protocol + ":" + l.port).join(", ")]], [o]);
}

async function showConnections() {
  table("connections-table", [["Name", (r) => r.name], ["User", (r) => r.user], ["Vhost", (r) => r.vhost],
    ["Channels", (r) => r.channels, 1], ["From client /s", (r) => rate(r, "recv_oct"), 1], ["To client /s", (r) => rate(r, "send_oct"), 1]],
    await api("GET", "/connections"));
}

async function showChannels() {
  table("channels-table", [["Channel", (r) => r.name], ["User", (r) => r.user], ["Prefetch", (r) => r.prefetch_count, 1],
    ["Unacked", (r) => r.messages_unacknowledged, 1], ["Publish /s", (r) => rate(r.message_stats, "publish"), 1],
    ["Deliver /s", (r) => rate(r.message_stats, "deliver_get"), 1], ["Ack /s", (r) => rate(r.message_stats, "ack"), 1]],
    await api("GET", "/channels"));
}

async function showExchanges() {
  table("exchanges-table", [["Virtual host", (r) => r.vhost], ["Name", (r) => r.name || "(AMQP default)"], ["Type", (r) => r.type],
    ["Durable", (r) => r.durable], ["Rate in", (r) => rate(r.message_stats, "publish_in"), 1], ["Rate out", (r) => rate(r.message_stats, "publish_out"), 1]],
    await api("GET", "/exchanges"), (x) => { state.exchange = x; showExchangeDetail(); });
  if (state.exchange) await showExchangeDetail();
}

async function showExchangeDetail() {
  const x = state.exchange, name = x.name || "amq.default";
  $("exchange-detail").hidden = false;
  $("exchange-detail-name").textContent = x.name || "(AMQP default)";
  const b = await api("GET", `/exchanges/${enc(x.vhost)}/${enc(name)}/bindings/source`);
  table("exchange-bindings", [["To", (r) => r.destination], ["Type", (r) => r.destination_type], ["Routing key", (r) => r.routing_key]], b);
}

async function showQueues() {
  table("queues-table", [["Virtual host", (r) => r.vhost], ["Name", (r) => r.name], ["State", (r) => r.state],
    ["Ready", (r) => r.messages_ready, 1], ["Unacked", (r) => r.messages_unacknowledged, 1], ["Total", (r) => r.messages, 1],
    ["Incoming /s", (r) => rate(r.message_stats, "publish"), 1], ["Deliver /s", (r) => rate(r.message_stats, "deliver_get"), 1],
    ["Ack /s", (r) => rate(r.message_stats, "ack"), 1]],
    await api("GET", "/queues"), (q) => { state.queue = q; showQueueDetail(); });
  if (state.queue) await showQueueDetail();
}

async function showQueueDetail() {
  const { vhost, name } = state.queue;
  let q;
  try { q = await api("GET", `/queues/${enc(vhost)}/${enc(name)}`); } catch (e) { state.queue = null; $("queue-detail").hidden = true; return; }
  $("queue-detail").hidden = false;
  $("queue-detail-name").textContent = name;
  $("queue-ready").textContent = q.messages_ready;
  $("queue-unacked").textContent = q.messages_unacknowledged;
  $("queue-total").textContent = q.messages;
  $("queue-consumers").textContent = q.consumers;
  const b = await api("GET", `/queues/${enc(vhost)}/${enc(name)}/bindings`);
  table("queue-bindings", [["From", (r) => r.source || "(AMQP default)"], ["Routing key", (r) => r.routing_key]], b);
}

async function showUsers() {
  table("users-table", [["Name", (r) => r.name], ["Tags", (r) => (r.tags || []).join(", ")]], await api("GET", "/users"));
}

async function showVhosts() {
  table("vhosts-table", [["Name", (r) => r.name], ["Ready", (r) => r.messages_ready, 1], ["Unacked", (r) => r.messages_unacknowledged, 1],
    ["Total", (r) => r.messages, 1]], await api("GET", "/vhosts"));
}

async function showPolicies() {
  table("policies-table", [["Virtual host", (r) => r.vhost], ["Name", (r) => r.name], ["Pattern", (r) => r.pattern],
    ["Apply to", (r) => r["apply-to"]], ["Definition", (r) => JSON.stringify(r.definition)], ["Priority", (r) => r.priority, 1]],
    await api("GET", "/policies"));
}

const views = { overview: showOverview, connections: showConnections, channels: showChannels, exchanges: showExchanges,
  queues: showQueues, users: showUsers, vhosts: showVhosts, policies: showPolicies };

async function refresh() {
  try { await views[state.tab](); } catch (e) { flash(e.message, true); }
}

function select(tab) {
  state.tab = views[tab] ? tab : "overview";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.tab === state.tab));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === "tab-" + state.tab));
  refresh();
}

async function act(fn, ok) {
  try { await fn(); if (ok) flash(ok); await refresh(); } catch (e) { flash(e.message, true); }
}

function bind(id, handler) {
  $(id).addEventListener("submit", (ev) => { ev.preventDefault(); handler(); });
}

function wire() {
  bind("login-form", login);
  $("logout-button").addEventListener("click", () => { sessionStorage.removeItem("warren-auth"); location.hash = ""; location.reload(); });
  window.addEventListener("hashchange", () => select(location.hash.slice(1)));
  bind("declare-queue-form", () => act(async () => {
    const name = $("queue-name").value;
    await api("PUT", `/queues/${enc(state.vhost)}/${enc(name)}`, { durable: $("queue-durable").checked, auto_delete: $("queue-auto-delete").checked, arguments: {} });
    state.queue = { vhost: state.vhost, name };
  }, "Queue declared"));
  bind("declare-exchange-form", () => act(() => api("PUT", `/exchanges/${enc(state.vhost)}/${enc($("exchange-name").value)}`,
    { type: $("exchange-type").value, durable: $("exchange-durable").checked, arguments: {} }), "Exchange declared"));
  bind("publish-form", () => act(async () => {
    const x = state.exchange;
    const r = await api("POST", `/exchanges/${enc(x.vhost)}/${enc(x.name || "amq.default")}/publish`,
      { routing_key: $("publish-key").value, payload: $("publish-payload").value, payload_encoding: "string", properties: {} });
    $("publish-result").textContent = r.routed ? "Message published." : "Message published, but not routed.";
  }));
  bind("bind-form", () => act(() => api("POST", `/bindings/${enc(state.queue.vhost)}/e/${enc($("bind-exchange").value)}/q/${enc(state.queue.name)}`,
    { routing_key: $("bind-key").value, arguments: {} }), "Binding added"));
  bind("get-form", () => act(async () => {
    const msgs = await api("POST", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}/get`,
      { count: +$("get-count").value, ackmode: $("get-ackmode").value, encoding: "auto" });
    $("get-results").innerHTML = msgs.length ? msgs.map((m, i) => `<div class="panel message"><b>Message ${i + 1}</b> ` +
      `exchange: ${esc(m.exchange)}, routing key: ${esc(m.routing_key)}, redelivered: ${m.redelivered}, remaining: ${m.message_count}` +
      `<pre class="payload">${esc(m.payload)}</pre></div>`).join("") : "<p>Queue is empty</p>";
  }));
  $("purge-queue").addEventListener("click", () => act(() => api("DELETE", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}/contents`), "Queue purged"));
  $("delete-queue").addEventListener("click", () => act(async () => {
    await api("DELETE", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}`);
    state.queue = null; $("queue-detail").hidden = true;
  }, "Queue deleted"));
  $("delete-exchange").addEventListener("click", () => act(async () => {
    await api("DELETE", `/exchanges/${enc(state.exchange.vhost)}/${enc(state.exchange.name)}`);
    state.exchange = null; $("exchange-detail").hidden = true;
  }, "Exchange deleted"));
  bind("add-user-form", () => act(() => api("PUT", `/users/${enc($("new-user-name").value)}`,
    { password: $("new-user-password").value, tags: $("new-user-tags").value }), "User added"));
  bind("add-vhost-form", () => act(() => api("PUT", `/vhosts/${enc($("new-vhost-name").value)}`, {}), "Virtual host added"));
}

async function login() {
  state.auth = btoa($("username").value + ":" + $("password").value);
  await start(true);
}

async function start(fromForm) {
  if (!state.auth) return;
  try {
    const me = await api("GET", "/whoami");
    sessionStorage.setItem("warren-auth", state.auth);
    $("user-name").textContent = me.name;
    $("whoami").hidden = false; $("login").hidden = true; $("app").hidden = false;
    select(location.hash.slice(1) || "overview");
    clearInterval(state.timer);
    state.timer = setInterval(refresh, 5000);
  } catch (e) {
    state.auth = null; sessionStorage.removeItem("warren-auth");
    if (fromForm) { $("login-error").textContent = "Login failed: " + e.message; $("login-error").hidden = false; }
  }
}

wire();
start(false);
