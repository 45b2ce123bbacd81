// The example page: subscribes to one channel (?channel=NAME, default "public.orders") and keeps
// a table of its rows up to date. Plain HTML and a little script, no framework, no external asset.
// It remembers the last position it rendered and resumes from it after a reconnect; on "resync"
// it starts over (a real app would reload the rows from D1 first).
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wal2edge live</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
  table { border-collapse: collapse; margin: 1em 0; }
  td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
  #status { font-weight: bold; }
  #status.live { color: #0a7d5a; }
  #status.down { color: #b3261e; }
  tr.fresh { background: #fff4c2; }
  #log { font: 12px monospace; white-space: pre; color: #555; }
</style>
</head>
<body>
<h1>wal2edge live: <span id="channel"></span></h1>
<p>Status: <span id="status">connecting</span> &middot; position <code id="pos">none</code></p>
<table><thead id="head"></thead><tbody id="rows"></tbody></table>
<div id="log"></div>
<script>
"use strict";
const channel = new URLSearchParams(location.search).get("channel") || "public.orders";
const $ = (id) => document.getElementById(id);
const rows = new Map();          // JSON of the key -> <tr>
let columns = [];
let pos = sessionStorage.getItem("wal2edge-live:" + channel);
let retry = 500;
$("channel").textContent = channel;

function status(text, cls) { $("status").textContent = text; $("status").className = cls || ""; }
function log(text) {
  const l = $("log");
  l.textContent = (new Date().toISOString().slice(11, 23) + " " + text + "\\n" + l.textContent).slice(0, 4000);
}
function header(row) {
  const names = Object.keys(row);
  if (names.join() === columns.join()) return;
  columns = names;
  const tr = document.createElement("tr");
  for (const c of ["op"].concat(names)) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
  $("head").replaceChildren(tr);
}
function render(ch) {
  const key = JSON.stringify(ch.key);
  if (ch.op === "t") { rows.clear(); $("rows").replaceChildren(); return; }
  if (ch.op === "d") { const tr = rows.get(key); if (tr) tr.remove(); rows.delete(key); return; }
  if (!ch.row) return;
  header(ch.row);
  let tr = rows.get(key);
  if (!tr) { tr = document.createElement("tr"); tr.dataset.key = key; rows.set(key, tr); $("rows").appendChild(tr); }
  tr.replaceChildren();
  for (const v of [ch.op].concat(columns.map((c) => ch.row[c]))) {
    const td = document.createElement("td");
    td.textContent = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    tr.appendChild(td);
  }
  tr.className = "fresh";
  setTimeout(() => { tr.className = ""; }, 1500);
}
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?channel=" + encodeURIComponent(channel));
  ws.onopen = () => { retry = 500; ws.send(JSON.stringify({ type: "subscribe", after: pos })); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "change") {
      render(m);
      if (!m.late) { pos = m.pos; sessionStorage.setItem("wal2edge-live:" + channel, pos); $("pos").textContent = pos; }
      log(m.op + " " + JSON.stringify(m.key) + " at " + m.pos + (m.late ? " (late)" : ""));
    } else if (m.type === "subscribed") {
      status("live", "live");
      if (!pos && m.head) { pos = m.head; $("pos").textContent = pos; }
      log("subscribed, " + m.replayed + " missed change(s) replayed");
    } else if (m.type === "resync") {
      rows.clear(); $("rows").replaceChildren();
      pos = m.head; sessionStorage.removeItem("wal2edge-live:" + channel);
      log("resync: " + m.reason);
    } else if (m.type === "error") {
      log("error: " + m.message);
    }
  };
  ws.onclose = () => {
    status("reconnecting", "down");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}
connect();
</script>
</body>
</html>
`;
