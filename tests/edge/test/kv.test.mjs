import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEdge, uid, sleep } from "./helpers.mjs";

let edge;
before(async () => { edge = await startEdge(); });
after(async () => { await edge?.stop(); });

const ns = () => uid("ns");
const okEnv = (r) => { assert.equal(r.status, 200, r.text); assert.equal(r.json.success, true); assert.deepEqual(r.json.errors, []); };

test("bulk write, then read values, metadata and expiration", async () => {
  const n = ns();
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const w = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, [
    { key: "user:42", value: JSON.stringify({ id: 42 }), metadata: { lsn: "0/16B3748" } },
    { key: "avatar:42", value: Buffer.from([0, 1, 2, 255]).toString("base64"), base64: true, expiration_ttl: 86400 },
    { key: "session:abc", value: "x", expiration: exp },
  ]);
  okEnv(w);
  assert.deepEqual(w.json.result, { successful_key_count: 3, unsuccessful_keys: [] });
  const v = await edge.api("GET", `/storage/kv/namespaces/${n}/values/user:42`);
  assert.equal(v.status, 200);
  assert.equal(v.text, JSON.stringify({ id: 42 }));
  const bin = await edge.api("GET", `/storage/kv/namespaces/${n}/values/avatar:42`);
  assert.deepEqual([...bin.body], [0, 1, 2, 255]);
  const s = await edge.api("GET", `/storage/kv/namespaces/${n}/values/session:abc`);
  assert.equal(s.headers.expiration, String(exp));
  const m = await edge.api("GET", `/storage/kv/namespaces/${n}/metadata/user:42`);
  okEnv(m);
  assert.deepEqual(m.json.result, { lsn: "0/16B3748" });
  const missing = await edge.api("GET", `/storage/kv/namespaces/${n}/values/nope`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.success, false);
  assert.equal(missing.json.errors[0].code, 10009);
});

test("single PUT (raw and multipart with metadata), GET, DELETE; URL-encoded keys", async () => {
  const n = ns();
  const key = encodeURIComponent("a/b c?");
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/values/${key}?expiration_ttl=120`, Buffer.from("raw value"),
    { "content-type": "application/octet-stream" }));
  const g = await edge.api("GET", `/storage/kv/namespaces/${n}/values/${key}`);
  assert.equal(g.text, "raw value");
  assert.ok(Number(g.headers.expiration) > Date.now() / 1000);
  const form = new FormData();
  form.set("value", "with meta");
  form.set("metadata", JSON.stringify({ v: 1 }));
  const req = new Request("http://x/", { method: "PUT", body: form });
  const body = Buffer.from(await req.arrayBuffer());
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/values/k2`, body, { "content-type": req.headers.get("content-type") }));
  const m = await edge.api("GET", `/storage/kv/namespaces/${n}/metadata/k2`);
  assert.deepEqual(m.json.result, { v: 1 });
  await sleep(1100); // a delete is a write: one per second per key
  okEnv(await edge.api("DELETE", `/storage/kv/namespaces/${n}/values/k2`));
  assert.equal((await edge.api("GET", `/storage/kv/namespaces/${n}/values/k2`)).status, 404);
});

test("list keys with prefix and cursor", async () => {
  const n = ns();
  const items = Array.from({ length: 25 }, (_, i) => ({ key: `p:${String(i).padStart(2, "0")}`, value: "v" }));
  items.push({ key: "other", value: "v" });
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, items));
  const seen = [];
  let cursor = "";
  for (let i = 0; i < 5; i++) {
    const r = await edge.api("GET", `/storage/kv/namespaces/${n}/keys?prefix=p:&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    okEnv(r);
    seen.push(...r.json.result.map((k) => k.name));
    assert.equal(r.json.result_info.count, r.json.result.length);
    cursor = r.json.result_info.cursor;
    if (!cursor) break;
  }
  assert.equal(seen.length, 25);
  assert.deepEqual(seen, items.slice(0, 25).map((i) => i.key));
  const bad = await edge.api("GET", `/storage/kv/namespaces/${n}/keys?limit=5`);
  assert.equal(bad.status, 400);
});

test("bulk delete: POST …/bulk/delete and DELETE …/bulk", async () => {
  const n = ns();
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, [{ key: "a", value: "1" }, { key: "b", value: "2" }, { key: "c", value: "3" }]));
  await sleep(1100); // one write per second per key: deletes are writes too
  const d1 = await edge.api("POST", `/storage/kv/namespaces/${n}/bulk/delete`, ["a", "b"]);
  okEnv(d1);
  assert.deepEqual(d1.json.result, { successful_key_count: 2, unsuccessful_keys: [] });
  const d2 = await edge.api("DELETE", `/storage/kv/namespaces/${n}/bulk`, ["c"]);
  okEnv(d2);
  const keys = await edge.api("GET", `/storage/kv/namespaces/${n}/keys`);
  assert.deepEqual(keys.json.result, []);
});

test("one write per second per key: 429 for single writes, unsuccessful_keys in bulk", async () => {
  const n = ns();
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/values/hot`, Buffer.from("1")));
  const again = await edge.api("PUT", `/storage/kv/namespaces/${n}/values/hot`, Buffer.from("2"));
  assert.equal(again.status, 429);
  assert.equal(again.json.success, false);
  const bulk = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, [{ key: "hot", value: "3" }, { key: "cold", value: "4" }]);
  okEnv(bulk);
  assert.deepEqual(bulk.json.result, { successful_key_count: 1, unsuccessful_keys: ["hot"] });
  assert.equal((await edge.api("GET", `/storage/kv/namespaces/${n}/values/hot`)).text, "1");
  await sleep(1100);
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/values/hot`, Buffer.from("5")));
  assert.equal((await edge.api("GET", `/storage/kv/namespaces/${n}/values/hot`)).text, "5");
});

test("limits: key 512 B, value 25 MiB, metadata 1024 B, expiration_ttl ≥ 60, expiration ≥ now+60", async () => {
  const n = ns();
  const bulk = (items) => edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, items);
  okEnv(await bulk([{ key: "k".repeat(512), value: "v" }]));
  const longKey = await bulk([{ key: "k".repeat(513), value: "v" }]);
  assert.ok(longKey.status >= 400 && longKey.status < 500);
  assert.equal(longKey.json.success, false);
  const md = await bulk([{ key: "m", value: "v", metadata: { x: "y".repeat(1100) } }]);
  assert.ok(md.status >= 400 && md.status < 500);
  okEnv(await bulk([{ key: "m2", value: "v", metadata: { x: "y".repeat(1000) } }]));
  const ttl = await bulk([{ key: "t", value: "v", expiration_ttl: 59 }]);
  assert.equal(ttl.status, 400);
  assert.match(ttl.json.errors[0].message, /expiration_ttl/);
  const exp = await bulk([{ key: "t2", value: "v", expiration: Math.floor(Date.now() / 1000) + 10 }]);
  assert.equal(exp.status, 400);
  const ttlq = await edge.api("PUT", `/storage/kv/namespaces/${n}/values/t3?expiration_ttl=30`, Buffer.from("v"));
  assert.equal(ttlq.status, 400);
  const big = await edge.api("PUT", `/storage/kv/namespaces/${n}/values/big`, Buffer.alloc(25 * 1024 * 1024 + 1, 97));
  assert.equal(big.status, 413);
  assert.equal(big.json.success, false);
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/values/big2`, Buffer.alloc(25 * 1024 * 1024, 97)));
  const emptyKey = await bulk([{ key: "", value: "v" }]);
  assert.equal(emptyKey.status, 400);
});

test("limits: at most 10,000 pairs and 100 MB per bulk request", async () => {
  const n = ns();
  const many = Array.from({ length: 10_001 }, (_, i) => ({ key: `k${i}`, value: "v" }));
  const r = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, many);
  assert.equal(r.status, 400);
  assert.match(r.json.errors[0].message, /10000/);
  // (writing 10,000 pairs locally takes ~15 s, so the accepted side is shown with 1,000)
  const ok = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, many.slice(0, 1_000));
  okEnv(ok);
  assert.equal(ok.json.result.successful_key_count, 1_000);
  const chunk = "x".repeat(20 * 1024 * 1024);
  const huge = Array.from({ length: 5 }, (_, i) => ({ key: `h${i}`, value: chunk }));
  const body = JSON.stringify(huge); // > 100 MB
  assert.ok(body.length > 100_000_000);
  const tooBig = await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, body, { "content-type": "application/json" });
  assert.equal(tooBig.status, 413);
  assert.equal(tooBig.json.success, false);
});

test("namespaces: create by title, list", async () => {
  const title = uid("title");
  const c = await edge.api("POST", "/storage/kv/namespaces", { title });
  okEnv(c);
  assert.match(c.json.result.id, /^[0-9a-f]{32}$/);
  const l = await edge.api("GET", "/storage/kv/namespaces");
  assert.ok(l.json.result.some((x) => x.id === c.json.result.id && x.title === title));
  const dup = await edge.api("POST", "/storage/kv/namespaces", { title });
  assert.equal(dup.status, 400);
});

test("namespace info: 404 for an unknown id, the record once the namespace is used", async () => {
  const n = ns();
  const missing = await edge.api("GET", `/storage/kv/namespaces/${n}`);
  assert.equal(missing.status, 404);
  assert.equal(missing.json.success, false);
  assert.equal(missing.json.errors[0].code, 10009);
  okEnv(await edge.api("PUT", `/storage/kv/namespaces/${n}/bulk`, [{ key: "k", value: "v" }]));
  const info = await edge.api("GET", `/storage/kv/namespaces/${n}`);
  okEnv(info);
  assert.equal(info.json.result.id, n);
});
