// Warren's management UI: plain JavaScript, no external assets. It keeps the
// credentials in sessionStorage and calls the RabbitMQ-compatible /api.
"use strict";

const state = { auth: sessionStorage.getItem("warren-auth"), tab: "overview",
  vhost: sessionStorage.getItem("warren-vhost") || "", vhosts: [], tags: [],
  queue: null, exchange: null, history: [], timer: null };
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

async function api(method, path, body, extra) {
  const headers = { "Authorization": "Basic " + state.auth, "X-Requested-With": "XMLHttpRequest", ...(extra || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch("/api" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = new Error((data && data.reason) || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

// The vhost part of a listing path: "" for all vhosts, "/{vhost}" for one.
function inVhost() {
  return state.vhost ? "/" + enc(state.vhost) : "";
}

// A readable text for a permission-denied answer (401 after login).
function deniedText(e, what) {
  return `You are not allowed to see ${what}: ${e.message}. Your tags: ${state.tags.join(", ") || "none"}.`;
}

function html(markup) {
  return { html: markup };
}

function cell(v) {
  return v && typeof v === "object" && "html" in v ? v.html : esc(v);
}

function bytes(n) {
  if (typeof n !== "number") return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + units[i];
}

function duration(ms) {
  const s = Math.floor((ms || 0) / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}

// "name=value" lines into an object; numbers stay numbers where asked.
function pairs(text, numeric) {
  const out = {};
  text.split("\n").map((l) => l.trim()).filter(Boolean).forEach((line) => {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`"${line}" is not name=value`);
    const k = line.slice(0, at).trim(), v = line.slice(at + 1).trim();
    out[k] = numeric.includes(k) && /^-?\d+$/.test(v) ? +v : v;
  });
  return out;
}

function kv(obj) {
  const keys = Object.keys(obj || {});
  return keys.length ? keys.map((k) => `${k}: ${typeof obj[k] === "object" ? JSON.stringify(obj[k]) : obj[k]}`).join(", ") : "";
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
    columns.map((c) => `<td${c[2] ? ' class="num"' : ""}>${cell(c[1](r))}</td>`).join("") + "</tr>").join("");
  const el = $(id);
  el.innerHTML = head + (body || `<tr><td colspan="${columns.length}">… no items …</td></tr>`);
  if (onClick) el.querySelectorAll("tr.clickable").forEach((tr) => tr.addEventListener("click", (ev) => {
    if (ev.target.closest("button")) return;
    onClick(rows[+tr.dataset.i]);
  }));
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
  await showNodePanel();
}

function used(u, total, fmt) {
  const f = fmt || String;
  return total ? `${f(u)} of ${f(total)} (${Math.round(100 * u / total)}%)` : f(u);
}

// Memory, file descriptors, sockets, disk, uptime and alarms of each node
// (GET /api/nodes needs the monitoring tag; others get a readable note).
async function showNodePanel() {
  let nodes;
  try { nodes = await api("GET", "/nodes"); } catch (e) {
    if (e.status !== 401) throw e;
    $("node-panel").hidden = true;
    $("node-panel-denied").textContent = "Node resources need the monitoring or administrator tag.";
    $("node-panel-denied").hidden = false;
    return;
  }
  $("node-panel").hidden = false; $("node-panel-denied").hidden = true;
  const alarm = (on) => html(on ? '<span class="alarm">alarm</span>' : '<span class="ok">ok</span>');
  table("node-panel", [["Name", (n) => n.name],
    ["Memory", (n) => used(n.mem_used, n.mem_limit, bytes)], ["Memory alarm", (n) => alarm(n.mem_alarm)],
    ["File descriptors", (n) => used(n.fd_used, n.fd_total)], ["Sockets", (n) => used(n.sockets_used, n.sockets_total)],
    ["Disk free", (n) => `${bytes(n.disk_free)} (limit ${bytes(n.disk_free_limit)})`], ["Disk alarm", (n) => alarm(n.disk_free_alarm)],
    ["Uptime", (n) => duration(n.uptime)]], nodes);
}

async function showConnections() {
  const rows = (await api("GET", "/connections")).filter((c) => !state.vhost || c.vhost === state.vhost);
  table("connections-table", [["Name", (r) => r.name], ["Client name", (r) => r.user_provided_name || ""], ["User", (r) => r.user], ["Vhost", (r) => r.vhost],
    ["Channels", (r) => r.channels, 1], ["From client /s", (r) => rate(r, "recv_oct"), 1], ["To client /s", (r) => rate(r, "send_oct"), 1],
    ["", (r) => html(`<button type="button" class="small danger close-connection" data-name="${esc(r.name)}">Close</button>`)]],
    rows);
  $("connections-table").querySelectorAll("button.close-connection").forEach((b) => b.addEventListener("click", () => closeConnection(b.dataset.name)));
}

// DELETE /api/connections/{name} with the reason in X-Reason, as RabbitMQ's UI.
async function closeConnection(name) {
  const reason = prompt(`Close connection ${name}? Reason:`, "Closed via management UI");
  if (reason === null) return;
  await act(() => api("DELETE", `/connections/${enc(name)}`, undefined, { "X-Reason": reason }), "Connection closed");
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
    await api("GET", "/exchanges" + inVhost()), (x) => { state.exchange = x; showExchangeDetail(); });
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
    (await api("GET", "/queues" + inVhost())).filter((q) => q.name.includes($("queue-filter").value)), (q) => { state.queue = q; showQueueDetail(); });
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
  table("queue-info", [["Virtual host", (r) => r.vhost], ["Type", (r) => r.type], ["Durable", (r) => r.durable],
    ["Auto delete", (r) => r.auto_delete], ["Exclusive", (r) => r.exclusive], ["Arguments", (r) => kv(r.arguments)],
    ["Policy", (r) => r.policy || ""], ["Effective policy definition", (r) => kv(r.effective_policy_definition)]], [q]);
  table("queue-consumers-table", [["Consumer tag", (c) => c.consumer_tag], ["Channel", (c) => (c.channel_details || {}).name],
    ["Ack required", (c) => c.ack_required], ["Exclusive", (c) => c.exclusive], ["Prefetch", (c) => c.prefetch_count, 1],
    ["Active", (c) => c.active]], q.consumer_details || []);
  const b = await api("GET", `/queues/${enc(vhost)}/${enc(name)}/bindings`);
  table("queue-bindings", [["From", (r) => r.source || "(AMQP default)"], ["Routing key", (r) => r.routing_key]], b);
}

// A "Delete" button cell whose click asks, then calls DELETE /api{path}.
function deleteButton(what, path) {
  return html(`<button type="button" class="small danger delete-row" data-what="${esc(what)}" data-path="${esc(path)}">Delete</button>`);
}

function wireDeletes(id) {
  $(id).querySelectorAll("button.delete-row").forEach((b) => b.addEventListener("click", () =>
    confirm(`Delete ${b.dataset.what}?`) && act(() => api("DELETE", b.dataset.path).then(() => b.dataset.path.startsWith("/vhosts/") && loadVhosts()),
      "Deleted " + b.dataset.what)));
}

async function showUsers() {
  table("users-table", [["Name", (r) => r.name], ["Tags", (r) => (r.tags || []).join(", ")],
    ["", (r) => deleteButton("user " + r.name, `/users/${enc(r.name)}`)]], await api("GET", "/users"));
  wireDeletes("users-table");
  const perms = (await api("GET", "/permissions")).filter((p) => !state.vhost || p.vhost === state.vhost);
  table("permissions-table", [["User", (p) => p.user], ["Virtual host", (p) => p.vhost], ["Configure", (p) => p.configure],
    ["Write", (p) => p.write], ["Read", (p) => p.read],
    ["", (p) => deleteButton(`permission of ${p.user} in ${p.vhost}`, `/permissions/${enc(p.vhost)}/${enc(p.user)}`)]], perms);
  wireDeletes("permissions-table");
}

async function showVhosts() {
  table("vhosts-table", [["Name", (r) => r.name], ["Ready", (r) => r.messages_ready, 1], ["Unacked", (r) => r.messages_unacknowledged, 1],
    ["Total", (r) => r.messages, 1], ["", (r) => deleteButton("virtual host " + r.name, `/vhosts/${enc(r.name)}`)]], await api("GET", "/vhosts"));
  wireDeletes("vhosts-table");
}

async function showPolicies() {
  table("policies-table", [["Virtual host", (r) => r.vhost], ["Name", (r) => r.name], ["Pattern", (r) => r.pattern],
    ["Apply to", (r) => r["apply-to"]], ["Definition", (r) => JSON.stringify(r.definition)], ["Priority", (r) => r.priority, 1],
    ["", (r) => deleteButton(`policy ${r.name} in ${r.vhost}`, `/policies/${enc(r.vhost)}/${enc(r.name)}`)]],
    await api("GET", "/policies" + inVhost()));
  wireDeletes("policies-table");
}

const views = { overview: showOverview, connections: showConnections, channels: showChannels, exchanges: showExchanges,
  queues: showQueues, users: showUsers, vhosts: showVhosts, policies: showPolicies };

// Shows or clears the permission-denied note on the current tab.
function tabDenied(text) {
  const section = $("tab-" + state.tab);
  let note = section.querySelector("p.tab-denied");
  if (!note) {
    note = document.createElement("p");
    note.className = "denied tab-denied";
    section.insertBefore(note, section.children[1]);
  }
  note.textContent = text || ""; note.hidden = !text;
  // A refused page shows only the note, not forms the API would refuse too.
  section.querySelectorAll(":scope > form, :scope > table, :scope > h3").forEach((el) => { el.hidden = !!text; });
}

async function refresh() {
  try { await views[state.tab](); tabDenied(""); } catch (e) {
    if (e.status === 401) tabDenied(deniedText(e, "this page")); else flash(e.message, true);
  }
}

// Vhosts the user may see, into the header selector and the forms' choices.
async function loadVhosts() {
  try { state.vhosts = (await api("GET", "/vhosts")).map((v) => v.name); } catch (e) { state.vhosts = ["/"]; }
  if (state.vhost && !state.vhosts.includes(state.vhost)) state.vhost = "";
  $("vhost-select").innerHTML = '<option value="">All</option>' +
    state.vhosts.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
  $("vhost-select").value = state.vhost;
  syncVhostChoices();
}

function syncVhostChoices() {
  const chosen = state.vhost || (state.vhosts.includes("/") ? "/" : state.vhosts[0]);
  document.querySelectorAll("select.vhost-choice").forEach((s) => {
    s.innerHTML = state.vhosts.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
    s.value = chosen;
  });
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
    const vhost = $("queue-vhost").value;
    await api("PUT", `/queues/${enc(vhost)}/${enc(name)}`, { durable: $("queue-durable").checked, auto_delete: $("queue-auto-delete").checked, arguments: {} });
    state.queue = { vhost, name };
  }, "Queue declared"));
  bind("declare-exchange-form", () => act(() => api("PUT", `/exchanges/${enc($("exchange-vhost").value)}/${enc($("exchange-name").value)}`,
    { type: $("exchange-type").value, durable: $("exchange-durable").checked, arguments: {} }), "Exchange declared"));
  bind("publish-form", () => act(async () => {
    const x = state.exchange;
    const r = await api("POST", `/exchanges/${enc(x.vhost)}/${enc(x.name || "amq.default")}/publish`,
      { routing_key: $("publish-key").value, payload: $("publish-payload").value, payload_encoding: "string", properties: publishProperties() });
    $("publish-result").textContent = r.routed ? "Message published." : "Message published, but not routed.";
  }));
  bind("bind-form", () => act(() => api("POST", `/bindings/${enc(state.queue.vhost)}/e/${enc($("bind-exchange").value)}/q/${enc(state.queue.name)}`,
    { routing_key: $("bind-key").value, arguments: {} }), "Binding added"));
  bind("get-form", () => act(async () => {
    const msgs = await api("POST", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}/get`,
      { count: +$("get-count").value, ackmode: $("get-ackmode").value, encoding: "auto" });
    $("get-results").innerHTML = msgs.length ? msgs.map((m, i) => `<div class="panel message"><b>Message ${i + 1}</b> ` +
      `exchange: ${esc(m.exchange)}, routing key: ${esc(m.routing_key)}, redelivered: ${m.redelivered}, remaining: ${m.message_count}` +
      messageProperties(m.properties || {}) + `<pre class="payload">${esc(m.payload)}</pre></div>`).join("") : "<p>Queue is empty</p>";
  }));
  $("queue-filter").addEventListener("input", () => refresh());
  $("export-definitions").addEventListener("click", () => act(exportDefinitions));
  $("import-definitions").addEventListener("change", () => act(importDefinitions, "Definitions imported"));
  $("vhost-select").addEventListener("change", () => {
    state.vhost = $("vhost-select").value; sessionStorage.setItem("warren-vhost", state.vhost);
    state.queue = null; state.exchange = null; $("queue-detail").hidden = true; $("exchange-detail").hidden = true;
    syncVhostChoices(); refresh();
  });
  $("purge-queue").addEventListener("click", () => confirm(`Purge all ready messages of queue ${state.queue.name}?`) && act(() => api("DELETE", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}/contents`), "Queue purged"));
  $("delete-queue").addEventListener("click", () => confirm(`Delete queue ${state.queue.name}?`) && act(async () => {
    await api("DELETE", `/queues/${enc(state.queue.vhost)}/${enc(state.queue.name)}`);
    state.queue = null; $("queue-detail").hidden = true;
  }, "Queue deleted"));
  $("delete-exchange").addEventListener("click", () => confirm(`Delete exchange ${state.exchange.name}?`) && act(async () => {
    await api("DELETE", `/exchanges/${enc(state.exchange.vhost)}/${enc(state.exchange.name)}`);
    state.exchange = null; $("exchange-detail").hidden = true;
  }, "Exchange deleted"));
  bind("add-user-form", () => act(() => api("PUT", `/users/${enc($("new-user-name").value)}`,
    { password: $("new-user-password").value, tags: $("new-user-tags").value }), "User added"));
  bind("set-permission-form", () => act(() => api("PUT", `/permissions/${enc($("permission-vhost").value)}/${enc($("permission-user").value)}`,
    { configure: $("permission-configure").value, write: $("permission-write").value, read: $("permission-read").value }), "Permission set"));
  bind("add-vhost-form", () => act(() => api("PUT", `/vhosts/${enc($("new-vhost-name").value)}`, {}).then(loadVhosts), "Virtual host added"));
}

// Downloads GET /api/definitions (of the selected vhost, or all) as a file.
async function exportDefinitions() {
  const defs = await api("GET", "/definitions" + inVhost());
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(defs, null, 2)], { type: "application/json" }));
  a.download = "warren-definitions" + (state.vhost ? "-" + state.vhost.replace(/[^\w-]/g, "_") : "") + ".json";
  document.body.appendChild(a); a.click(); a.remove();
  $("definitions-result").textContent = "Definitions downloaded.";
}

// Uploads the chosen file to POST /api/definitions.
async function importDefinitions() {
  const file = $("import-definitions").files[0];
  if (!file) return;
  let defs;
  try { defs = JSON.parse(await file.text()); } catch (e) { throw new Error("Not a JSON definitions file: " + e.message); }
  await api("POST", "/definitions" + inVhost(), defs);
  $("import-definitions").value = "";
  $("definitions-result").textContent = "Definitions imported from " + file.name + ".";
}

// The publish form's properties: delivery mode, headers, the other properties.
function publishProperties() {
  const props = pairs($("publish-properties").value, ["priority", "timestamp"]);
  props.delivery_mode = +$("publish-delivery-mode").value;
  const headers = pairs($("publish-headers").value, []);
  if (Object.keys(headers).length) props.headers = headers;
  return props;
}

// A got message's properties and headers as a small table.
function messageProperties(p) {
  const rows = Object.keys(p).filter((k) => k !== "headers").map((k) => `<tr><th>${esc(k)}</th><td>${esc(p[k])}</td></tr>`);
  if (p.headers && Object.keys(p.headers).length) {
    rows.push(`<tr><th>headers</th><td>${Object.keys(p.headers).map((h) =>
      `<span class="header">${esc(h)}: ${esc(typeof p.headers[h] === "object" ? JSON.stringify(p.headers[h]) : p.headers[h])}</span>`).join("<br>")}</td></tr>`);
  }
  return rows.length ? `<table class="props">${rows.join("")}</table>` : "";
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
    state.tags = me.tags || [];
    // Definitions export/import need the administrator tag (as in RabbitMQ).
    $("definitions").hidden = !state.tags.includes("administrator");
    await loadVhosts();
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
