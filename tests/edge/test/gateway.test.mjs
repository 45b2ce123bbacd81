import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEdge, request, uid, sleep } from "./helpers.mjs";

let edge;
before(async () => { edge = await startEdge(); });
after(async () => { await edge?.stop(); });

const query = (db) => edge.api("POST", `/d1/database/${db}/query`, { sql: "SELECT 1 AS one" });

test("Authorization: missing, malformed, wrong token, wrong account", async () => {
  const url = `${edge.acct}/d1/database/x/query`;
  const body = { sql: "SELECT 1" };
  const missing = await request(url, { method: "POST", body });
  assert.equal(missing.status, 403);
  assert.equal(missing.json.success, false);
  assert.equal(missing.json.errors[0].code, 10000);
  const malformed = await request(url, { method: "POST", body, headers: { authorization: "Token abc" } });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.json.errors[0].code, 6003);
  const wrong = await request(url, { method: "POST", body, headers: { authorization: "Bearer wrong" } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.errors[0].code, 9109);
  const acct = await request(`${edge.info.CLOUDFLARE_API_BASE_URL}/accounts/ffffffffffffffffffffffffffffffff/d1/database`, {
    headers: { authorization: `Bearer ${edge.info.CLOUDFLARE_API_TOKEN}` } });
  assert.equal(acct.status, 403);
  const verify = await request(`${edge.info.CLOUDFLARE_API_BASE_URL}/user/tokens/verify`, { headers: { authorization: `Bearer ${edge.info.CLOUDFLARE_API_TOKEN}` } });
  assert.equal(verify.json.result.status, "active");
  const rejected = await request(`${edge.info.CLOUDFLARE_API_BASE_URL}/user/tokens/verify`, { headers: { authorization: "Bearer wrong" } });
  assert.equal(rejected.status, 401);
  assert.equal(rejected.json.success, false);
  assert.equal(rejected.json.errors[0].code, 9109);
  const nope = await edge.api("GET", "/no/such/thing");
  assert.equal(nope.status, 404);
  assert.equal(nope.json.success, false);
  assert.equal(nope.json.errors[0].code, 7003);
});

test("fault injection: next N matching requests answer 429/500/502/503, then normal service", async () => {
  const db = uid("db");
  const f = await edge.admin("POST", "/faults", { path: `/d1/database/${db}/`, count: 2, status: 503, retry_after: 7 });
  assert.equal(f.status, 200);
  const r1 = await query(db);
  assert.equal(r1.status, 503);
  assert.equal(r1.headers["retry-after"], "7");
  assert.equal(r1.json.success, false);
  assert.equal((await query(db)).status, 503);
  assert.equal((await query(db)).status, 200);
  assert.equal((await query(uid("other"))).status, 200);
  for (const st of [429, 500, 502]) {
    await edge.admin("POST", "/faults", { path: `/d1/database/${db}/`, status: st });
    const r = await query(db);
    assert.equal(r.status, st);
    if (st === 429) { assert.equal(r.json.errors[0].code, 971); assert.ok(r.headers["retry-after"]); }
  }
  // S3 paths get S3's XML errors
  await edge.admin("POST", "/faults", { path: "/faultbucket/", method: "GET", status: 503 });
  const s = await edge.s3("GET", "/faultbucket/k");
  assert.equal(s.status, 503);
  assert.match(s.text, /<Code>ServiceUnavailable<\/Code>/);
  const list = await edge.admin("GET", "/faults");
  assert.ok(list.json.faults.every((x) => x.remaining === 0));
  await edge.admin("DELETE", "/faults");
});

test("fault injection: delays and dropped connections (before and after applying)", async () => {
  const db = uid("db");
  await edge.api("POST", `/d1/database/${db}/query`, { sql: "CREATE TABLE t (id INTEGER PRIMARY KEY)" });
  await edge.admin("POST", "/faults", { path: `/d1/database/${db}/query`, delay_ms: 600 });
  const t0 = Date.now();
  assert.equal((await query(db)).status, 200);
  assert.ok(Date.now() - t0 >= 550);

  await edge.admin("POST", "/faults", { path: `/d1/database/${db}/query`, drop: "before" });
  await assert.rejects(edge.api("POST", `/d1/database/${db}/query`, { sql: "INSERT INTO t VALUES (1)" }), /socket hang up|ECONNRESET/);
  await edge.admin("POST", "/faults", { path: `/d1/database/${db}/query`, drop: "after" });
  await assert.rejects(edge.api("POST", `/d1/database/${db}/query`, { sql: "INSERT INTO t VALUES (2)" }), /socket hang up|ECONNRESET/);
  const rows = await edge.api("POST", `/d1/database/${db}/query`, { sql: "SELECT id FROM t" });
  assert.deepEqual(rows.json.result[0].results, [{ id: 2 }]); // "after" was applied, "before" was not
  const log = await edge.admin("GET", `/log?path=/d1/database/${db}/`);
  assert.deepEqual(log.json.entries.filter((e) => e.dropped).map((e) => e.dropped), ["before", "after"]);
});

test("request log and counters show how many requests a batch took and that a retry happened", async () => {
  const n = uid("ns");
  const seq0 = (await edge.admin("GET", "/counters")).json.last_seq;
  await edge.admin("POST", "/faults", { path: `/storage/kv/namespaces/${n}/bulk`, method: "PUT", status: 429, retry_after: 1 });
  const items = [{ key: "a", value: "1" }];
  const first = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, items);
  assert.equal(first.status, 429);
  const second = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, items);
  assert.equal(second.status, 200);
  const log = await edge.admin("GET", `/log?since=${seq0}&route=kv.bulk_write`);
  assert.equal(log.json.entries.length, 2);
  const [a, b] = log.json.entries;
  assert.deepEqual([a.status, b.status], [429, 200]);
  assert.equal(a.method, "PUT");
  assert.ok(a.fault);
  for (const e of [a, b]) {
    assert.ok(e.path.endsWith("/bulk"));
    assert.ok(e.req_bytes > 0 && e.resp_bytes > 0);
    assert.ok(e.time && e.duration_ms >= 0);
  }
  const c = await edge.admin("GET", "/counters");
  assert.equal(c.json.by_route["kv.bulk_write"].by_status["429"], 1);
  assert.ok(c.json.faults_injected >= 1);
});

test("account rate limit: 429 with Retry-After and code 971; pull/ack exempt", async () => {
  const cfg = await edge.admin("POST", "/config", { rate_limit: 3, rate_window_s: 2 });
  assert.equal(cfg.json.rate_limit, 3);
  const db = uid("db");
  for (let i = 0; i < 3; i++) assert.equal((await query(db)).status, 200);
  const limited = await query(db);
  assert.equal(limited.status, 429);
  assert.equal(limited.json.errors[0].code, 971);
  assert.ok(Number(limited.headers["retry-after"]) >= 1);
  // pulls and acks are not subject to the API rate limit
  const pull = await edge.api("POST", `/queues/${uid("q")}/messages/pull`, {});
  assert.notEqual(pull.status, 429);
  await sleep(2100);
  assert.equal((await query(db)).status, 200);
  await edge.admin("POST", "/config", { rate_limit: 1200, rate_window_s: 300 });
});

test("resources can be created through the admin API; reset wipes all state", async () => {
  const r = await edge.admin("POST", "/resources", { kind: "queue", id: "pre-made", consumer: "http_pull" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.consumer.type, "http_pull");
  await edge.api("POST", "/d1/database/keep/query", { sql: "CREATE TABLE t (x)" });
  const res = await edge.admin("GET", "/resources");
  assert.ok(res.json.d1.some((d) => d.id === "keep"));
  assert.ok(res.json.queue.some((q) => q.id === "pre-made"));
  const reset = await edge.admin("POST", "/reset");
  assert.equal(reset.status, 200);
  const after = await edge.admin("GET", "/resources");
  assert.deepEqual(after.json.d1, []);
  const t = await edge.api("POST", "/d1/database/keep/query", { sql: "SELECT * FROM t" });
  assert.equal(t.status, 400);
  assert.match(t.json.errors[0].message, /no such table/);
  assert.equal((await edge.admin("GET", "/counters")).json.total, 1);
});
