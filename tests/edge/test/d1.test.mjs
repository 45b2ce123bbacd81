import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { startEdge, request, uid } from "./helpers.mjs";

let edge;
before(async () => { edge = await startEdge(); });
after(async () => { await edge?.stop(); });

const q = (db, body, kind = "query") => edge.api("POST", `/d1/database/${db}/${kind}`, body);

function assertEnvelopeOk(r) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, true);
  assert.deepEqual(r.json.errors, []);
  assert.deepEqual(r.json.messages, []);
}

function assertMeta(meta) {
  for (const k of ["changes", "last_row_id", "rows_read", "rows_written", "duration", "changed_db", "size_after"]) {
    assert.ok(k in meta, `meta.${k} missing`);
  }
}

test("query: {sql, params} with several statements returns one result per statement", async () => {
  const db = uid("db");
  const r = await q(db, {
    sql: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (id, name) VALUES (?1, ?2); SELECT * FROM users WHERE id = ?",
    params: ["42", "alice", "42"],
  });
  assertEnvelopeOk(r);
  assert.equal(r.json.result.length, 3);
  for (const s of r.json.result) { assert.equal(s.success, true); assertMeta(s.meta); }
  assert.equal(r.json.result[1].meta.changes, 1);
  assert.equal(r.json.result[1].meta.last_row_id, 42);
  assert.ok(r.json.result[1].meta.rows_written >= 1);
  assert.deepEqual(r.json.result[2].results, [{ id: 42, name: "alice" }]);
  assert.ok(r.json.result[2].meta.rows_read >= 1);
});

test("query: {batch:[…]} and /raw shapes", async () => {
  const db = uid("db");
  await q(db, { sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" });
  const r = await q(db, { batch: [
    { sql: "INSERT INTO t (v) VALUES (?)", params: ["a"] },
    { sql: "INSERT INTO t (v) VALUES (?)", params: ["b"] },
    { sql: "SELECT id, v FROM t ORDER BY id" },
  ] });
  assertEnvelopeOk(r);
  assert.equal(r.json.result.length, 3);
  assert.deepEqual(r.json.result[2].results, [{ id: 1, v: "a" }, { id: 2, v: "b" }]);
  const raw = await q(db, { batch: [{ sql: "SELECT id, v FROM t ORDER BY id" }, { sql: "SELECT v FROM t WHERE id > ?", params: ["99"] }] }, "raw");
  assertEnvelopeOk(raw);
  assert.deepEqual(raw.json.result[0].results, { columns: ["id", "v"], rows: [[1, "a"], [2, "b"]] });
  assert.deepEqual(raw.json.result[1].results, { columns: ["v"], rows: [] });
  assertMeta(raw.json.result[0].meta);
});

test("a failing statement rolls back the whole request (batch and multi-statement sql)", async () => {
  const db = uid("db");
  await q(db, { sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)" });
  const bad = await q(db, { batch: [
    { sql: "INSERT INTO t (id, v) VALUES (1, 'x')" },
    { sql: "INSERT INTO t (id, v) VALUES (2, NULL)" },
  ] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.success, false);
  assert.equal(bad.json.result, null);
  assert.equal(bad.json.errors[0].code, 7500);
  assert.match(bad.json.errors[0].message, /NOT NULL constraint failed/);
  const bad2 = await q(db, { sql: "INSERT INTO t (id, v) VALUES (3, 'y'); INSERTZ INTO t" });
  assert.equal(bad2.status, 400);
  assert.match(bad2.json.errors[0].message, /syntax error/);
  const count = await q(db, { sql: "SELECT count(*) AS n FROM t" });
  assert.equal(count.json.result[0].results[0].n, 0);
});

test("explicit transactions are refused", async () => {
  const r = await q(uid("db"), { sql: "BEGIN TRANSACTION" });
  assert.equal(r.status, 400);
  assert.equal(r.json.errors[0].code, 7500);
});

test("limits: 100 bound parameters, 100 KB statements, 2 MB values, 100 columns", async () => {
  const db = uid("db");
  const ph = (n) => Array.from({ length: n }, () => "?").join(",");
  const ok = await q(db, { sql: `SELECT ${ph(100)}`, params: Array.from({ length: 100 }, (_, i) => String(i)) });
  assertEnvelopeOk(ok);
  const p101 = await q(db, { sql: `SELECT ${ph(101)}`, params: Array.from({ length: 101 }, (_, i) => String(i)) });
  assert.equal(p101.status, 400);
  assert.match(p101.json.errors[0].message, /too many SQL variables/);

  const long = await q(db, { sql: `SELECT '${"x".repeat(100_001)}'` });
  assert.equal(long.status, 400);
  assert.match(long.json.errors[0].message, /too long|TOOBIG/i);
  const justUnder = await q(db, { sql: `SELECT '${"x".repeat(99_000)}' AS v` });
  assertEnvelopeOk(justUnder);

  await q(db, { sql: "CREATE TABLE big (v TEXT)" });
  const big = await q(db, { sql: "INSERT INTO big VALUES (?)", params: ["y".repeat(2_000_001)] });
  assert.equal(big.status, 400);
  assert.match(big.json.errors[0].message, /too big/);
  const fits = await q(db, { sql: "INSERT INTO big VALUES (?)", params: ["y".repeat(1_999_000)] });
  assertEnvelopeOk(fits);

  const cols = Array.from({ length: 101 }, (_, i) => `c${i}`).join(",");
  const wide = await q(db, { sql: `CREATE TABLE wide (${cols})` });
  assert.equal(wide.status, 400);
  assert.match(wide.json.errors[0].message, /too many columns/);
});

test("bad bodies get the envelope with an error", async () => {
  const r = await edge.api("POST", `/d1/database/${uid("db")}/query`, "{not json");
  assert.equal(r.status, 400);
  assert.equal(r.json.success, false);
  assert.ok(r.json.errors[0].code >= 1000);
  const r2 = await q(uid("db"), { nope: 1 });
  assert.equal(r2.status, 400);
});

test("databases: create, list and get by id", async () => {
  const name = uid("named");
  const c = await edge.api("POST", "/d1/database", { name });
  assertEnvelopeOk(c);
  const id = c.json.result.uuid;
  assert.match(id, /^[0-9a-f-]{36}$/);
  await q(id, { sql: "CREATE TABLE a (x)" });
  const g = await edge.api("GET", `/d1/database/${id}`);
  assertEnvelopeOk(g);
  assert.equal(g.json.result.uuid, id);
  assert.equal(g.json.result.name, name);
  assert.equal(g.json.result.num_tables, 1);
  const l = await edge.api("GET", "/d1/database");
  assertEnvelopeOk(l);
  assert.ok(l.json.result.some((d) => d.uuid === id));
  assert.ok(l.json.result_info.total_count >= 1);
  const missing = await edge.api("GET", `/d1/database/${uid("never")}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.errors[0].code, 7404);
  const dup = await edge.api("POST", "/d1/database", { name });
  assert.equal(dup.status, 400);
});

async function runImport(db, sql) {
  const etag = crypto.createHash("md5").update(sql).digest("hex");
  const init = await q(db, { action: "init", etag }, "import");
  assertEnvelopeOk(init);
  const { filename, upload_url } = init.json.result;
  assert.ok(filename && upload_url);
  const put = await request(upload_url, { method: "PUT", body: sql });
  assert.equal(put.status, 200);
  assert.equal(put.headers.etag.replace(/"/g, ""), etag);
  const ingest = await q(db, { action: "ingest", etag, filename }, "import");
  assertEnvelopeOk(ingest);
  let poll = ingest.json.result;
  for (let i = 0; i < 20 && poll.status === "active"; i++) {
    const r = await q(db, { action: "poll", current_bookmark: poll.at_bookmark }, "import");
    assertEnvelopeOk(r);
    poll = r.json.result;
  }
  return poll;
}

test("import: init → upload → ingest → poll, atomic", async () => {
  const db = uid("db");
  const rows = Array.from({ length: 500 }, (_, i) => `INSERT INTO items VALUES (${i}, 'item ${i}');`).join("\n");
  const done = await runImport(db, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\n${rows}\n`);
  assert.equal(done.status, "complete", JSON.stringify(done));
  assert.equal(done.result.num_queries, 501);
  assert.ok(done.result.final_bookmark);
  assert.equal(done.result.meta.changes, 500);
  const n = await q(db, { sql: "SELECT count(*) AS n FROM items" });
  assert.equal(n.json.result[0].results[0].n, 500);

  const failed = await runImport(db, "INSERT INTO items VALUES (1000, 'new');\nINSERT INTO nosuch VALUES (1);\n");
  assert.equal(failed.status, "error");
  const n2 = await q(db, { sql: "SELECT count(*) AS n FROM items" });
  assert.equal(n2.json.result[0].results[0].n, 500);

  const nothing = await q(db, { action: "poll", current_bookmark: "nope" }, "import");
  assert.equal(nothing.json.result.success, false);
  assert.equal(nothing.json.result.error, "Not currently importing anything.");
});

test("import: an upload whose MD5 does not match the etag is refused at ingest", async () => {
  const db = uid("db");
  const etag = crypto.createHash("md5").update("SELECT 1;").digest("hex");
  const init = await q(db, { action: "init", etag }, "import");
  await request(init.json.result.upload_url, { method: "PUT", body: "SELECT 2;" });
  const ingest = await q(db, { action: "ingest", etag, filename: init.json.result.filename }, "import");
  assert.equal(ingest.status, 400);
  assert.equal(ingest.json.success, false);
});
