import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEdge, uid, waitFor, sleep } from "./helpers.mjs";

let edge;
before(async () => { edge = await startEdge(); });
after(async () => { await edge?.stop(); });

const okEnv = (r) => { assert.equal(r.status, 200, r.text); assert.equal(r.json.success, true); assert.deepEqual(r.json.errors, []); };
const delivered = async (q) => (await edge.admin("GET", `/queues/${q}/delivered`)).json;

test("a message pushed over HTTP reaches the consumer Worker", async () => {
  const q = uid("q");
  const body = { op: "c", table: "users", after: { id: 42 } };
  const r = await edge.api("POST", `/queues/${q}/messages`, { body, content_type: "json" });
  okEnv(r);
  assert.ok(r.json.result.metadata.metrics);
  const got = await waitFor(async () => { const d = await delivered(q); return d.length ? d : null; });
  assert.equal(got.length, 1);
  assert.deepEqual(got[0].body, body);
  assert.equal(got[0].attempts, 1);
  assert.equal(got[0].outcome, "ack");
  assert.equal(got[0].queue_name, q);
});

test("batch push, json and text, reaches the consumer", async () => {
  const q = uid("q");
  okEnv(await edge.api("POST", `/queues/${q}/messages/batch`, { messages: [
    { body: { n: 1 }, content_type: "json" },
    { body: "plain text", content_type: "text" },
    { body: { n: 3 } },
  ] }));
  const got = await waitFor(async () => { const d = await delivered(q); return d.length === 3 ? d : null; });
  const bodies = got.map((d) => JSON.stringify(d.body)).sort();
  assert.deepEqual(bodies, [JSON.stringify({ n: 1 }), JSON.stringify({ n: 3 }), JSON.stringify("plain text")].sort());
});

test("delay_seconds holds a message back", async () => {
  const q = uid("q");
  const t0 = Date.now();
  okEnv(await edge.api("POST", `/queues/${q}/messages`, { body: { late: true }, delay_seconds: 2 }));
  await sleep(1000);
  assert.equal((await delivered(q)).length, 0);
  const got = await waitFor(async () => { const d = await delivered(q); return d.length ? d : null; });
  assert.ok(got[0].delivered_at - t0 >= 1900, `delivered after ${got[0].delivered_at - t0} ms`);
});

test("a consumer that retries gets the message again with attempts+1", async () => {
  const q = uid("q");
  okEnv(await edge.api("POST", `/queues/${q}/messages`, { body: { edge_test_retry_until_attempt: 2 } }));
  const got = await waitFor(async () => { const d = await delivered(q); return d.length >= 2 ? d : null; });
  assert.deepEqual(got.map((d) => [d.attempts, d.outcome]), [[1, "retry"], [2, "ack"]]);
});

test("limits: 128 KB per message, 100 messages and 256 KB per batch, content types, delay", async () => {
  const q = uid("q");
  const big = await edge.api("POST", `/queues/${q}/messages`, { body: "x".repeat(128_000), content_type: "text" });
  assert.equal(big.status, 413);
  assert.equal(big.json.errors[0].code, 10204);
  okEnv(await edge.api("POST", `/queues/${q}/messages`, { body: "x".repeat(127_000), content_type: "text" }));
  const many = await edge.api("POST", `/queues/${q}/messages/batch`, { messages: Array.from({ length: 101 }, (_, i) => ({ body: { i } })) });
  assert.equal(many.status, 400);
  assert.equal(many.json.errors[0].code, 10206);
  const heavy = await edge.api("POST", `/queues/${q}/messages/batch`, { messages: Array.from({ length: 3 }, () => ({ body: "y".repeat(90_000), content_type: "text" })) });
  assert.equal(heavy.status, 413);
  assert.equal(heavy.json.errors[0].code, 10205);
  const ct = await edge.api("POST", `/queues/${q}/messages`, { body: "x", content_type: "v8" });
  assert.equal(ct.status, 400);
  assert.equal(ct.json.errors[0].code, 10203);
  const delay = await edge.api("POST", `/queues/${q}/messages/batch`, { messages: [{ body: 1 }], delay_seconds: 43_201 });
  assert.equal(delay.status, 400);
  okEnv(await edge.api("POST", `/queues/${q}/messages/batch`, { messages: Array.from({ length: 100 }, (_, i) => ({ body: { i } })) }));
});

test("HTTP pull consumer: pull with leases, ack, retry, visibility timeout", async () => {
  const q = uid("pullq");
  const noConsumer = await edge.api("POST", `/queues/${q}/messages/pull`, {});
  assert.equal(noConsumer.status, 400);
  okEnv(await edge.api("POST", `/queues/${q}/consumers`, { type: "http_pull", settings: { batch_size: 10, max_retries: 2 } }));
  okEnv(await edge.api("POST", `/queues/${q}/messages/batch`, { messages: [
    { body: { a: 1 }, content_type: "json" },
    { body: "hello", content_type: "text" },
    { body: { c: 3 }, content_type: "json", delay_seconds: 30 },
  ] }));
  const p1 = await edge.api("POST", `/queues/${q}/messages/pull`, { batch_size: 10, visibility_timeout_ms: 1000 });
  okEnv(p1);
  const msgs = p1.json.result.messages;
  assert.equal(msgs.length, 2); // the delayed one is not visible yet
  const [j, t] = msgs;
  assert.equal(Buffer.from(j.body, "base64").toString(), JSON.stringify({ a: 1 })); // json arrives base64-encoded
  assert.equal(j.metadata["CF-Content-Type"], "json");
  assert.equal(t.body, "hello");
  assert.equal(t.metadata["CF-Content-Type"], "text");
  for (const m of msgs) { assert.ok(m.lease_id); assert.ok(m.id); assert.equal(m.attempts, 1); assert.ok(m.timestamp_ms > 0); }
  // leased messages are invisible until the visibility timeout
  const p2 = await edge.api("POST", `/queues/${q}/messages/pull`, {});
  assert.equal(p2.json.result.messages.length, 0);
  const a = await edge.api("POST", `/queues/${q}/messages/ack`, { acks: [{ lease_id: j.lease_id }], retries: [{ lease_id: t.lease_id, delay_seconds: 0 }] });
  okEnv(a);
  assert.equal(a.json.result.ackCount, 1);
  assert.equal(a.json.result.retryCount, 1);
  const p3 = await edge.api("POST", `/queues/${q}/messages/pull`, { visibility_timeout_ms: 500 });
  assert.equal(p3.json.result.messages.length, 1);
  assert.equal(p3.json.result.messages[0].body, "hello");
  assert.equal(p3.json.result.messages[0].attempts, 2);
  // not acknowledged: reappears after its visibility timeout, until max_retries is used up
  await sleep(700);
  const p4 = await edge.api("POST", `/queues/${q}/messages/pull`, { visibility_timeout_ms: 200 });
  assert.equal(p4.json.result.messages.length, 1);
  assert.equal(p4.json.result.messages[0].attempts, 3);
  await sleep(400);
  const p5 = await edge.api("POST", `/queues/${q}/messages/pull`, {});
  assert.equal(p5.json.result.messages.length, 0); // 3 attempts = 1 + max_retries(2): dropped
  const stale = await edge.api("POST", `/queues/${q}/messages/ack`, { acks: [{ lease_id: "no-such-lease" }] });
  okEnv(stale);
  assert.equal(stale.json.result.ackCount, 0);
  assert.ok(stale.json.result.warnings["no-such-lease"]);
  const tooMany = await edge.api("POST", `/queues/${q}/messages/pull`, { batch_size: 101 });
  assert.equal(tooMany.status, 400);
});

test("queues: create by name, get, list", async () => {
  const name = uid("named");
  const c = await edge.api("POST", "/queues", { queue_name: name });
  okEnv(c);
  const id = c.json.result.queue_id;
  assert.match(id, /^[0-9a-f]{32}$/);
  const g = await edge.api("GET", `/queues/${id}`);
  okEnv(g);
  assert.equal(g.json.result.queue_name, name);
  const l = await edge.api("GET", "/queues");
  assert.ok(l.json.result.some((x) => x.queue_id === id));
  assert.equal((await edge.api("GET", `/queues/${uid("never")}`)).status, 404);
});
