// "D1 through the queue" under what Queues really does (docs/scale.md): batches of any size,
// shuffled, duplicated, and consumed by several consumers at once. A random workload's events
// are applied that way to a real D1 (Miniflare) and the table must equal the workload's final
// state, row for row; the consumer's checkpoint must name the newest position applied.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const HERE = path.dirname(fileURLToPath(import.meta.url));
let mf, db;

before(async () => {
  mf = new Miniflare({
    modules: true,
    scriptPath: path.join(HERE, "scale-worker.mjs"),
    modulesRoot: path.resolve(HERE, ".."),
    compatibilityDate: "2025-04-01",
    d1Databases: { DB: "app" },
  });
  db = await mf.getD1Database("DB");
  await db.exec("CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT, balance INTEGER)");
});

after(async () => {
  if (mf) await mf.dispose();
});

// a small deterministic PRNG, so a failure can be replayed from its seed
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (n) => n.toString(16).toUpperCase();
function event(op, lsn, index, count, key, before, after) {
  return {
    id: `0/${hex(lsn)}:${index}`, op, key, before, after,
    source: { version: "test", connector: "wal2edge", name: "s", ts_ms: Date.now(), snapshot: "false", db: "shop",
              schema: "public", table: "acct", txId: lsn, lsn, commit_lsn: `0/${hex(lsn)}` },
    ts_ms: Date.now(),
    transaction: { id: `${lsn}:0/${hex(lsn)}`, total_order: index + 1, data_collection_order: index + 1,
                   ...(index === count - 1 ? { event_count: count } : {}) },
  };
}

// Transactions of 1..4 changes (insert, update, delete, key change) over 40 ids; returns the
// events in commit order and the final table.
function workload(rand, txns) {
  const rows = new Map();
  const events = [];
  let lsn = 0x1000;
  for (let t = 0; t < txns; t++) {
    lsn += 0x28 + Math.floor(rand() * 0x100);
    const n = 1 + Math.floor(rand() * 4);
    const evs = [];
    for (let i = 0; i < n; i++) {
      const id = 1 + Math.floor(rand() * 40);
      const r = rand();
      if (!rows.has(id)) {
        const row = { id, owner: `o${Math.floor(rand() * 5)}`, balance: Math.floor(rand() * 1000) };
        rows.set(id, row);
        evs.push(["c", { id }, null, { ...row }]);
      } else if (r < 0.6) {
        const row = { ...rows.get(id), balance: Math.floor(rand() * 1000) };
        rows.set(id, row);
        evs.push(["u", { id }, null, { ...row }]);
      } else if (r < 0.85) {
        rows.delete(id);
        evs.push(["d", { id }, { id }, null]);
      } else {
        const to = 41 + Math.floor(rand() * 40);
        if (rows.has(to)) continue;
        const row = { ...rows.get(id), id: to };
        rows.delete(id);
        rows.set(to, row);
        evs.push(["u", { id: to }, { id }, { ...row }]);
      }
    }
    evs.forEach(([op, key, b, a], i) => events.push(event(op, lsn, i, evs.length, key, b, a)));
  }
  return { events, rows: [...rows.values()].sort((a, b) => a.id - b.id), lastLsn: lsn };
}

function shuffle(rand, xs) {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

async function deliver(queue, messages) {
  const r = await mf.dispatchFetch("http://consumer/batch", { method: "POST", body: JSON.stringify({ queue, messages }) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

// Delivers every event at least once: shuffled, 30% sent twice, in batches of 1..25 handed to
// `concurrency` consumers at once; retried messages go back into the pool.
async function consume(rand, queue, events, concurrency) {
  let pool = shuffle(rand, [...events, ...events.filter(() => rand() < 0.3)]);
  let deliveries = 0;
  while (pool.length) {
    const batches = [];
    while (pool.length && batches.length < concurrency) {
      const n = 1 + Math.floor(rand() * 25);
      batches.push(pool.splice(0, n));
    }
    const answers = await Promise.all(batches.map((b) => deliver(queue, b)));
    answers.forEach((a, i) => {
      deliveries += batches[i].length;
      assert.equal(a.acked.length + a.retried.length, batches[i].length);
      for (const j of a.retried) pool.push(batches[i][j]);
    });
    pool = shuffle(rand, pool);
  }
  return deliveries;
}

async function table() {
  return (await db.prepare("SELECT id, owner, balance FROM acct ORDER BY id").all()).results;
}

for (const [seed, concurrency] of [[1, 1], [7, 4], [42, 8]]) {
  test(`seed ${seed}, ${concurrency} concurrent consumers: D1 equals the source's final state`, async () => {
    await db.exec("DELETE FROM acct; DELETE FROM _wal2edge_rows; DELETE FROM _wal2edge_consumer").catch(() => {});
    const rand = rng(seed);
    const w = workload(rand, 300);
    const queue = `changes-${seed}`;
    const deliveries = await consume(rand, queue, w.events, concurrency);
    assert.ok(deliveries > w.events.length, "some events were delivered twice");
    assert.deepEqual(await table(), w.rows);
    const cp = await db.prepare("SELECT lsn, commit_lsn, events FROM _wal2edge_consumer WHERE queue = ?").bind(queue).first();
    assert.equal(cp.lsn, w.lastLsn);
    assert.equal(cp.commit_lsn, `0/${hex(w.lastLsn)}`);
    assert.ok(cp.events >= w.events.length, `${cp.events} events counted for ${w.events.length} sent`);
  });
}

test("replaying the whole stream again, in another order, changes nothing", async () => {
  const rand = rng(99);
  await db.exec("DELETE FROM acct; DELETE FROM _wal2edge_rows; DELETE FROM _wal2edge_consumer").catch(() => {});
  const w = workload(rand, 150);
  await consume(rand, "replay", w.events, 4);
  const first = await table();
  assert.deepEqual(first, w.rows);
  await consume(rand, "replay", shuffle(rand, [...w.events]), 6);
  assert.deepEqual(await table(), first);
});
