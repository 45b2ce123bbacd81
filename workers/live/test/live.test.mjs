// The live channel in Miniflare, fed the way production feeds it: wal2edge events sent to a
// real Queue, consumed by the reference consumer (workers/queue-consumer) which applies them to
// D1, publishes them to the LiveChannel Durable Objects of workers/live and writes Analytics
// Engine data points. Subscribers are WebSocket clients in Node (the global WebSocket of
// node --experimental-websocket) on the live Worker's /ws.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKERS = path.resolve(HERE, "../..");
const BUFFER = 20;
const TABLES = ["ord", "rec", "old", "many", "late", "keyed"];
let mf, base, queue;

before(async () => {
  mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    workers: [
      {
        name: "wal2edge-live",
        modules: true,
        scriptPath: path.join(WORKERS, "live/src/index.mjs"),
        modulesRoot: path.join(WORKERS, "live/src"),
        compatibilityDate: "2025-04-01",
        durableObjects: { LIVE: { className: "LiveChannel", useSQLite: true } },
        bindings: { LIVE_BUFFER: String(BUFFER) },
      },
      {
        name: "consumer",
        modules: true,
        scriptPath: path.join(HERE, "consumer-worker.mjs"),
        modulesRoot: WORKERS,
        compatibilityDate: "2025-04-01",
        d1Databases: { DB: "app" },
        r2Buckets: { CLAIMS: "lake" },
        analyticsEngineDatasets: { ANALYTICS: { dataset: "wal2edge_replication" } },
        durableObjects: { LIVE: { className: "LiveChannel", scriptName: "wal2edge-live", useSQLite: true } },
        queueProducers: { Q: { queueName: "changes" } },
        // a key-prefix channel per value of keyed.v besides the table's channel
        bindings: { LIVE_CHANNELS: JSON.stringify({ "public.keyed": ["{schema}.{table}", "keyed:{v}"] }) },
        queueConsumers: { changes: { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 5, retryDelay: 0 } },
      },
    ],
  });
  base = (await mf.ready).href.replace(/^http/, "ws");
  const db = await mf.getD1Database("DB", "consumer");
  for (const t of TABLES) await db.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, v TEXT)`);
  queue = await mf.getQueueProducer("Q", "consumer");
});

after(async () => {
  if (mf) await mf.dispose();
});

const hex = (n) => n.toString(16).toUpperCase();
// an insert of (id, v) committed at LSN `lsn` (index 0), `ageMs` ago
function ev(table, lsn, id, ageMs = 0, v = `v${id}`) {
  return {
    id: `0/${hex(lsn)}:0`, op: "c", key: { id }, before: null, after: { id, v },
    source: { version: "test", connector: "wal2edge", name: "s", ts_ms: Date.now() - ageMs, snapshot: "false", db: "shop",
              schema: "public", table, txId: lsn, lsn, commit_lsn: `0/${hex(lsn)}` },
    ts_ms: Date.now(), transaction: { id: `${lsn}:0/${hex(lsn)}`, total_order: 1, data_collection_order: 1, event_count: 1 },
  };
}
// one queue send per group of ten: the batches come in the order sent
async function send(events) {
  for (let i = 0; i < events.length; i += 10) await queue.sendBatch(events.slice(i, i + 10).map((body) => ({ body })));
}

async function until(what, pred, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

// A subscriber: connects, sends subscribe, records every message.
async function subscriber(channel, after = null) {
  const ws = new WebSocket(`${base}ws?channel=${encodeURIComponent(channel)}`);
  const s = { ws, msgs: [], closed: false };
  ws.onmessage = (e) => s.msgs.push(JSON.parse(e.data));
  ws.onclose = () => { s.closed = true; };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error(`cannot connect to ${channel}`)); });
  ws.send(JSON.stringify({ type: "subscribe", after }));
  await until(`${channel}: subscribed`, () => s.msgs.some((m) => m.type === "subscribed" || m.type === "resync"));
  s.changes = () => s.msgs.filter((m) => m.type === "change");
  s.close = async () => {
    ws.close();
    await until("close", () => s.closed);
  };
  return s;
}

test("changes reach every subscriber in commit order; data points carry events and lag by table", async () => {
  const subs = await Promise.all([1, 2, 3].map(() => subscriber("public.ord")));
  const events = Array.from({ length: 30 }, (_, i) => ev("ord", 0x1000 + i * 0x10, i + 1, 5000));
  await send(events);
  for (const s of subs) await until("30 changes", () => s.changes().length >= 30);
  const want = events.map((e) => e.id);
  for (const s of subs) {
    assert.deepEqual(s.changes().map((m) => m.pos), want);
    assert.deepEqual(s.changes()[4], { type: "change", pos: want[4], op: "c", table: "public.ord", key: { id: 5 },
      row: { id: 5, v: "v5" }, before: null, commit_ts_ms: events[4].source.ts_ms });
  }
  const db = await mf.getD1Database("DB", "consumer");
  assert.equal((await db.prepare("SELECT count(*) AS n FROM ord").first()).n, 30, "the consumer applied them to D1 too");

  const worker = await mf.getWorker("consumer");
  const all = await (await worker.fetch("http://consumer/points")).json();
  const ord = all.filter((p) => p.blobs[0] === "public.ord");
  assert.ok(ord.length >= 3, `one point per batch (${ord.length})`);
  for (const p of ord) {
    assert.deepEqual(p.indexes, ["public.ord"]);
    assert.equal(p.blobs[1], "changes", "blob2 is the queue");
    assert.equal(p.doubles.length, 8);
    assert.equal(p.doubles[4], p.doubles[0], "all inserts");
    assert.ok(p.doubles[3] >= 5000 && p.doubles[3] < 60_000, `max lag ${p.doubles[3]} ms: the commit was 5 s before`);
    assert.ok(p.doubles[2] >= 5000 * p.doubles[0], "the lag sum covers every event");
  }
  assert.equal(ord.reduce((n, p) => n + p.doubles[0], 0), 30, "double1 counts each event once");
  await Promise.all(subs.map((s) => s.close()));
});

test("a client reconnecting with its position gets exactly the changes it missed", async () => {
  const a = await subscriber("public.rec");
  const first = Array.from({ length: 5 }, (_, i) => ev("rec", 0x2000 + i, i + 1));
  await send(first);
  await until("5 changes", () => a.changes().length >= 5);
  const last = a.changes().at(-1).pos;
  await a.close();
  const watcher = await subscriber("public.rec");
  const missed = Array.from({ length: 7 }, (_, i) => ev("rec", 0x3000 + i, 10 + i));
  await send([...missed, first[2], missed[3]]); // with two redeliveries
  await until("the live subscriber sees them", async () => watcher.changes().length >= 7 && (await countIn("rec")) === 12);
  await new Promise((r) => setTimeout(r, 300)); // the redeliveries come after, and must change nothing
  assert.deepEqual(watcher.changes().map((m) => m.pos), missed.map((e) => e.id), "redeliveries are not sent again");
  const b = await subscriber("public.rec", last);
  assert.deepEqual(b.changes().map((m) => m.pos), missed.map((e) => e.id), "exactly the missed ones, in order, once");
  assert.deepEqual(b.msgs.at(-1), { type: "subscribed", replayed: 7, head: missed.at(-1).id, buffer: BUFFER });
  const c = await subscriber("public.rec", missed.at(-1).id);
  assert.equal(c.changes().length, 0, "nothing missed at the head");
  await Promise.all([b, c, watcher].map((s) => s.close()));
});

async function countIn(table) {
  const db = await mf.getD1Database("DB", "consumer");
  return (await db.prepare(`SELECT count(*) AS n FROM ${table}`).first()).n;
}

test("a position older than the buffer gets resync; an unknown or malformed one is refused", async () => {
  const a = await subscriber("public.old");
  await send([ev("old", 0x4000, 1)]);
  await until("1 change", () => a.changes().length >= 1);
  const old = a.changes()[0].pos;
  const more = Array.from({ length: BUFFER + 5 }, (_, i) => ev("old", 0x5000 + i, 2 + i));
  await send(more);
  await until(`${more.length} more`, () => a.changes().length >= 1 + more.length);
  const b = await subscriber("public.old", old);
  assert.equal(b.changes().length, 0);
  const resync = b.msgs.find((m) => m.type === "resync");
  assert.ok(resync, JSON.stringify(b.msgs));
  assert.equal(resync.head, more.at(-1).id);
  assert.match(resync.reason, /no longer buffered \(the buffer keeps the last 20/);
  // still inside the buffer: replayed
  const c = await subscriber("public.old", more[more.length - BUFFER].id);
  assert.equal(c.changes().length, BUFFER - 1);
  assert.equal(c.changes()[0].pos, more[more.length - BUFFER + 1].id);
  // beyond the head (say, the channel's storage was reset): resync too
  const d = await subscriber("public.old", "FF/0:0");
  assert.match(d.msgs.find((m) => m.type === "resync").reason, /beyond this channel's head/);
  // a malformed position: an error naming it, and the socket stays usable
  const e = new WebSocket(`${base}ws?channel=public.old`);
  const got = [];
  e.onmessage = (m) => got.push(m.data === "pong" ? m.data : JSON.parse(m.data));
  await new Promise((r) => { e.onopen = r; });
  e.send(JSON.stringify({ type: "subscribe", after: "0/xyz" }));
  e.send("ping");
  await until("the error and the pong", () => got.length >= 2);
  assert.equal(got[0].type, "error");
  assert.match(got[0].message, /"0\/xyz" is not a position/);
  assert.equal(got[1], "pong", "ping is answered without waking the object");
  e.close();
  await Promise.all([a, b, c, d].map((s) => s.close()));
});

test("50 subscribers all get every change", async () => {
  const subs = await Promise.all(Array.from({ length: 50 }, () => subscriber("public.many")));
  const events = Array.from({ length: 15 }, (_, i) => ev("many", 0x6000 + i, i + 1));
  await send(events);
  for (const s of subs) await until("15 changes", () => s.changes().length >= 15);
  const want = events.map((e) => e.id);
  for (const s of subs) assert.deepEqual(s.changes().map((m) => m.pos), want);
  await Promise.all(subs.map((s) => s.close()));
});

test("a late change is sent marked late, and replayed to a client that resumes past it", async () => {
  const a = await subscriber("public.late");
  await send([ev("late", 0x7100, 1)]);
  await until("1", () => a.changes().length >= 1);
  const pos = a.changes()[0].pos;
  await a.close();
  await send([ev("late", 0x7000, 2)]); // committed before, delivered after
  const live = await subscriber("public.late");
  await until("the late change", () => live.changes().length >= 1);
  assert.equal(live.changes()[0].late, true);
  const b = await subscriber("public.late", pos);
  assert.deepEqual(b.changes().map((m) => [m.pos, m.late]), [[`0/7000:0`, true]]);
  await Promise.all([b, live].map((s) => s.close()));
});

test("LIVE_CHANNELS: a key-prefix channel gets only its rows, the table's channel all of them", async () => {
  const [all, a, b] = await Promise.all([subscriber("public.keyed"), subscriber("keyed:a"), subscriber("keyed:b")]);
  const events = [1, 2, 3, 4, 5].map((i) => ev("keyed", 0x8000 + i, i, 0, i % 2 ? "a" : "b"));
  await send(events);
  await until("5 changes", () => all.changes().length >= 5 && a.changes().length >= 3 && b.changes().length >= 2);
  assert.deepEqual(a.changes().map((m) => m.key.id), [1, 3, 5]);
  assert.deepEqual(b.changes().map((m) => m.key.id), [2, 4]);
  await Promise.all([all, a, b].map((s) => s.close()));
});

test("a change over a WebSocket message's 1 MiB comes without its row, marked oversize", async () => {
  const s = await subscriber("public.big");
  const db = await mf.getD1Database("DB", "consumer");
  await db.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)");
  // over the queue's message limit, so wal2edge sends it claim-checked through R2
  const full = ev("big", 0x9000, 1, 0, "é".repeat(600_000));
  await (await mf.getR2Bucket("CLAIMS", "consumer")).put("claims/big-1.json", JSON.stringify(full));
  const pointer = { ...full, before: undefined, after: undefined, claim_check: { bucket: "lake", key: "claims/big-1.json" } };
  await send([pointer, ev("big", 0x9100, 2)]);
  await until("2 changes", () => s.changes().length >= 2);
  const [big, small] = s.changes();
  assert.deepEqual(big, { type: "change", pos: full.id, op: "c", table: "public.big", key: { id: 1 }, row: null, before: null,
                          commit_ts_ms: full.source.ts_ms, oversize: true });
  assert.equal(small.row.v, "v2");
  assert.equal((await db.prepare("SELECT length(v) AS n FROM big WHERE id = 1").first()).n, 600_000, "D1 has the whole row");
  await s.close();
});

test("a message that cannot be applied is retried and counted in double2", async () => {
  await send([ev("nosuchtable", 0xa000, 1)]);
  const worker = await mf.getWorker("consumer");
  await until("a retry counted", async () => {
    const points = await (await worker.fetch("http://consumer/points")).json();
    return points.some((p) => p.blobs[0] === "public.nosuchtable" && p.doubles[1] >= 1 && p.doubles[0] === 0);
  });
});

test("the page is plain HTML with its script inline and no external asset", async () => {
  const r = await fetch(base.replace(/^ws/, "http"));
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/html/);
  const html = await r.text();
  assert.match(html, /new WebSocket\(/);
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
  const bad = await fetch(base.replace(/^ws/, "http") + "ws?channel=x");
  assert.equal(bad.status, 426);
});
