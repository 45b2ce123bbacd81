// The reference consumer in the local edge emulator: wal2edge events pushed over the HTTP
// API, out of order and duplicated, end up applied exactly once to D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startEdge, waitFor } from "../../../tests/edge/test/helpers.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DB = "qc-test";
const QUEUE = "qc-changes";
let edge, dir;

before(async () => {
  // the consumer module plus a wrapper choosing the emulator's D1 database (no bindings there)
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "qc-"));
  fs.copyFileSync(path.join(HERE, "../src/index.mjs"), path.join(dir, "consumer.mjs"));
  fs.writeFileSync(path.join(dir, "worker.mjs"),
    `import { makeConsumer } from "./consumer.mjs";\nexport default makeConsumer({ d1DatabaseId: "${DB}", retryDelaySeconds: 0 });\n`);
  edge = await startEdge({ EDGE_CONSUMER_SCRIPT: path.join(dir, "worker.mjs"), EDGE_QUEUE_MAX_RETRIES: "20" });
  const r = await edge.api("POST", `/d1/database/${DB}/query`, { batch: [
    { sql: "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, data BLOB)" },
    { sql: "CREATE TABLE logs (id INTEGER PRIMARY KEY, msg TEXT)" },
    { sql: "CREATE TABLE docs (id INTEGER PRIMARY KEY, jb TEXT, js TEXT, ajb TEXT, n TEXT)" },
    { sql: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, score TEXT)" },
    { sql: "INSERT INTO users VALUES (1, 'a', '1.5')" },
  ] });
  assert.equal(r.json.success, true, r.text);
});

after(async () => {
  if (edge) await edge.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
function ev(op, lsn, index, key, { before = null, after = null, unchanged, table = "items", json } = {}) {
  const e = {
    id: `0/${lsn.toString(16).toUpperCase()}:${index}`, op, key, before, after,
    source: { version: "test", connector: "wal2edge", name: "s", ts_ms: 0, snapshot: "false", db: "shop",
              schema: "public", table, txId: lsn, lsn, commit_lsn: `0/${lsn.toString(16).toUpperCase()}` },
    ts_ms: ++seq, transaction: { id: `${lsn}:0/${lsn.toString(16)}`, total_order: index + 1, data_collection_order: index + 1 },
  };
  if (unchanged) e.unchanged_toast = unchanged;
  if (json) e.json_columns = json;
  return e;
}

async function push(events) {
  const r = await edge.api("POST", `/queues/${QUEUE}/messages/batch`, { messages: events.map((body) => ({ body, content_type: "json" })) });
  assert.equal(r.json.success, true, r.text);
}

async function rows(table) {
  const r = await edge.api("POST", `/d1/database/${DB}/query`, { sql: `SELECT * FROM ${table} ORDER BY id` });
  return r.json.result[0].results;
}

test("out of order, duplicated and late events converge to the source state", async () => {
  const TOAST = { unchanged_toast: true };
  await push([
    ev("u", 0x200, 0, { id: 1 }, { after: { id: 1, name: "b", qty: 2, data: null } }),     // before its insert
    ev("d", 0x300, 0, { id: 2 }, { before: { id: 2 } }),                                      // delete before insert
    ev("c", 0x100, 2, { id: 3 }, { after: { id: 3, name: "c", qty: 3, data: "\\x0102" } }),
    ev("u", 0x500, 0, { id: 4 }, { after: { id: 4, name: "d2", qty: 4, data: TOAST }, unchanged: ["data"] }), // needs the row first
  ]);
  await push([
    ev("c", 0x100, 0, { id: 1 }, { after: { id: 1, name: "a", qty: 1, data: null } }),        // late: ignored
    ev("c", 0x100, 1, { id: 2 }, { after: { id: 2, name: "x", qty: 1, data: null } }),        // late: stays deleted
    ev("u", 0x400, 0, { id: 3 }, { after: { id: 3, name: "c2", qty: 30, data: TOAST }, unchanged: ["data"] }),
    ev("c", 0x450, 0, { id: 4 }, { after: { id: 4, name: "d", qty: 4, data: "\\xff" } }),
    ev("c", 0x600, 0, { id: 5 }, { after: { id: 5, name: "e", qty: 5, data: null } }),
    ev("u", 0x700, 0, { id: 6 }, { before: { id: 5 }, after: { id: 6, name: "e", qty: 5, data: null } }), // key change
    ev("c", 0x200, 0, { id: 1 }, { after: { id: 1, name: "b", qty: 2, data: null } }),        // duplicate id
  ]);
  const want = [
    { id: 1, name: "b", qty: 2, data: null },
    { id: 3, name: "c2", qty: 30, data: [1, 2] },
    { id: 4, name: "d2", qty: 4, data: [255] },
    { id: 6, name: "e", qty: 5, data: null },
  ];
  const norm = (rs) => rs.map((r) => ({ ...r, data: r.data === null ? null : Array.from(Object.values(r.data)) }));
  await waitFor(async () => JSON.stringify(norm(await rows("items"))) === JSON.stringify(want), { timeoutMs: 30_000 });
  assert.deepEqual(norm(await rows("items")), want);
  const delivered = (await edge.admin("GET", `/queues/${QUEUE}/delivered`)).json;
  assert.ok(delivered.some((d) => d.outcome === "retry"), "the early TOAST update was retried");
});

test("truncate removes older rows and ignores older events; newer rows survive", async () => {
  await push([
    ev("c", 0x1000, 0, { id: 1 }, { table: "logs", after: { id: 1, msg: "old" } }),
    ev("c", 0x3000, 0, { id: 3 }, { table: "logs", after: { id: 3, msg: "after truncate" } }),
  ]);
  await waitFor(async () => (await rows("logs")).length === 2, { timeoutMs: 20_000 });
  await push([
    ev("t", 0x2000, 0, null, { table: "logs" }),
    ev("c", 0x1500, 0, { id: 2 }, { table: "logs", after: { id: 2, msg: "late, before truncate" } }),
  ]);
  await waitFor(async () => JSON.stringify(await rows("logs")) === JSON.stringify([{ id: 3, msg: "after truncate" }]), { timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(await rows("logs"), [{ id: 3, msg: "after truncate" }]);
});

// docs/types.md, "The JSON rendering": null is SQL NULL, {"$json": V} wraps a JSON null (and a
// one-key "$json" object); json_columns names the json/jsonb columns, stored as JSON text.
test("JSON null is the text 'null', SQL NULL is NULL, json scalars are their JSON text", async () => {
  const json = ["jb", "js", "ajb"];
  const W = (v) => ({ $json: v });
  await push([
    ev("c", 0x9000, 0, { id: 1 }, { table: "docs", json, after: { id: 1, jb: null, js: null, ajb: null, n: null } }),
    ev("c", 0x9000, 1, { id: 2 }, { table: "docs", json, after: { id: 2, jb: W(null), js: W(null), ajb: [W(null), null], n: "null" } }),
    ev("c", 0x9000, 2, { id: 3 }, { table: "docs", json, after: { id: 3, jb: "null", js: 1.5, ajb: ["null"], n: "x" } }),
    ev("c", 0x9000, 3, { id: 4 }, { table: "docs", json, after: { id: 4, jb: W({ $json: 1 }), js: { a: null }, ajb: [], n: null } }),
    // an event from a producer without json_columns: the wrapper still means JSON null
    ev("c", 0x9000, 4, { id: 5 }, { table: "docs", after: { id: 5, jb: W(null), js: null, ajb: null, n: null } }),
    ev("u", 0x9100, 0, { id: 2 }, { table: "docs", json, after: { id: 2, jb: null, js: W(null), ajb: null, n: null } }),
  ]);
  const want = [
    { id: 1, jb: null, js: null, ajb: null, n: null },
    { id: 2, jb: null, js: "null", ajb: null, n: null },
    { id: 3, jb: '"null"', js: "1.5", ajb: '["null"]', n: "x" },
    { id: 4, jb: '{"$json":1}', js: '{"a":null}', ajb: "[]", n: null },
    { id: 5, jb: "null", js: null, ajb: null, n: null },
  ];
  await waitFor(async () => JSON.stringify(await rows("docs")) === JSON.stringify(want), { timeoutMs: 20_000 });
  assert.deepEqual(await rows("docs"), want);
  const r = await edge.api("POST", `/d1/database/${DB}/query`, { sql: "SELECT id, typeof(jb) AS t FROM docs WHERE id IN (1, 5) ORDER BY id" });
  assert.deepEqual(r.json.result[0].results, [{ id: 1, t: "null" }, { id: 5, t: "text" }]);
});

test("schema changes (op s) follow in D1: add with a default, rename by attnum, drop", async () => {
  const col = (attnum, name, type, dflt = null) => ({ attnum, name, type, type_oid: 25, typmod: -1, not_null: false, default: dflt, pk: attnum === 1 });
  const ddl = (lsn, columns) => ({ ...ev("s", lsn, 0, null, { table: "users" }), ddl: { v: 1, event: "ddl_command_end", command: "ALTER TABLE", schema: "public", table: "users", oid: 7, columns } });
  const base = [col(1, "id", "bigint"), col(2, "name", "text"), col(3, "score", "numeric(8,2)")];
  await push([ddl(0x1000, [...base, col(4, "plan", "text", "'free'::text")]),
              ev("c", 0x1000, 1, { id: 2 }, { table: "users", after: { id: 2, name: "b", score: "2", plan: "pro" } })]);
  await waitFor(async () => (await rows("users")).length === 2, { timeoutMs: 30000 });
  assert.deepEqual(await rows("users"), [{ id: 1, name: "a", score: "1.5", plan: "free" }, { id: 2, name: "b", score: "2", plan: "pro" }]);
  await push([ddl(0x1100, [col(1, "id", "bigint"), col(2, "full_name", "text"), col(4, "plan", "text", "'free'::text")]),
              ev("u", 0x1100, 1, { id: 1 }, { table: "users", after: { id: 1, full_name: "a2", plan: "team" } })]);
  await waitFor(async () => (await rows("users"))[0].full_name === "a2", { timeoutMs: 30000 });
  assert.deepEqual(await rows("users"), [{ id: 1, full_name: "a2", plan: "team" }, { id: 2, full_name: "b", plan: "pro" }]);
  // a late copy of the first change is skipped: nothing is added back
  await push([ddl(0x1000, [...base, col(4, "plan", "text", "'free'::text")])]);
  await push([ev("c", 0x1200, 0, { id: 3 }, { table: "users", after: { id: 3, full_name: "c", plan: "free" } })]);
  await waitFor(async () => (await rows("users")).length === 3, { timeoutMs: 30000 });
  assert.deepEqual(Object.keys((await rows("users"))[2]), ["id", "full_name", "plan"]);
});
