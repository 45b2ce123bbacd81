// node --experimental-websocket cdp_until.mjs DEVTOOLS_PORT TIMEOUT_S EXPRESSION
// Evaluates EXPRESSION (JavaScript) in the page of a headless Chromium started with
// --remote-debugging-port, over the DevTools protocol, until its value is truthy: prints the
// value as JSON and exits 0, or at the timeout prints the last value and exits 1.
const [port, timeoutS, expression] = process.argv.slice(2);
const end = Date.now() + Number(timeoutS) * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pageSocket() {
  for (;;) {
    try {
      const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      const page = targets.find((t) => t.type === "page" && t.webSocketDebuggerUrl);
      if (page) return page.webSocketDebuggerUrl;
    } catch { /* Chromium not up yet */ }
    if (Date.now() > end) throw new Error(`no page on DevTools port ${port}`);
    await sleep(100);
  }
}

const ws = new WebSocket(await pageSocket());
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("DevTools socket failed")); });
let id = 0;
const pending = new Map();
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
};
const evaluate = (expr) => new Promise((resolve) => {
  pending.set(++id, resolve);
  ws.send(JSON.stringify({ id, method: "Runtime.evaluate", params: { expression: expr, returnByValue: true } }));
});
let last;
for (;;) {
  const r = await evaluate(expression);
  last = r.result && r.result.result ? r.result.result.value : r;
  if (last) break;
  if (Date.now() > end) {
    console.log(JSON.stringify(last));
    process.exit(1);
  }
  await sleep(50);
}
console.log(JSON.stringify(last));
ws.close();
process.exit(0);
