// @wal2edge/workers: the pure parts in Node, waitFor and kvWaitFor on real D1 and KV bindings in
// workerd (Miniflare), and the tokens on the real local Postgres when it runs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, Log, LogLevel } from "miniflare";
// the local cluster's settings (scripts/pg-local.sh env), shared with the shop's loop test
import { pgEnv } from "../../shop/test/harness.mjs";
import {
  lsnToToken, isToken, lagBytes, tokenFromRequest, withToken, bookmarkFromRequest, tokenAfterCommit,
  tokenBeforeCommit, TOKEN_HEADER,
} from "../src/index.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
let mf, db, kv;

// A Worker that runs one wait per request and answers its result or its error as JSON.
const WORKER = `
import { waitFor, kvWaitFor } from "./src/index.mjs";
export default {
  async fetch(req, env) {
    const q = new URL(req.url).searchParams;
    const timeoutMs = Number(q.get("timeout") || 1000);
    try {
      const r = q.get("key")
        ? await kvWaitFor(env.KV, q.get("key"), q.get("token"), { timeoutMs })
        : await waitFor(env.DB, q.get("token"), { slot: q.get("slot") || undefined, timeoutMs });
      return Response.json({ ok: true, ...r });
    } catch (e) {
      return Response.json({ ok: false, name: e.name, message: e.message, position: e.position ?? null,
                             lagBytes: e.lagBytes ?? null, waitedMs: e.waitedMs ?? null });
    }
  },
};`;

before(async () => {
  mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    cf: false,
    modules: [
      { type: "ESModule", path: path.join(HERE, "../worker.mjs"), contents: WORKER },
      { type: "ESModule", path: path.join(HERE, "../src/index.mjs") },
    ],
    compatibilityDate: "2025-04-01",
    d1Databases: { DB: "lib-test-db" },
    kvNamespaces: { KV: "lib-test-kv" },
  });
  db = await mf.getD1Database("DB");
  kv = await mf.getKVNamespace("KV");
  // the checkpoint table as wal2edge makes it (src/d1/ddl.c)
  await db.exec('CREATE TABLE "_wal2edge_state" ("slot" TEXT NOT NULL PRIMARY KEY, "commit_lsn" TEXT NOT NULL, ' +
    '"end_lsn" TEXT NOT NULL, "updated_at" TEXT NOT NULL, "position" TEXT NOT NULL DEFAULT \'\')');
});

after(async () => {
  if (mf) await mf.dispose();
});

async function checkpoint(slot, endLsn) {
  await db.prepare('INSERT INTO "_wal2edge_state" VALUES (?1, ?2, ?2, ?3, ?4) ON CONFLICT ("slot") DO UPDATE SET ' +
    '"end_lsn" = excluded."end_lsn", "position" = excluded."position"')
    .bind(slot, endLsn, new Date().toISOString(), lsnToToken(endLsn)).run();
}

async function wait(params) {
  const r = await mf.dispatchFetch(`http://w/?${new URLSearchParams(params)}`);
  return r.json();
}

test("lsnToToken: fixed width, upper case, text order is LSN order", () => {
  assert.equal(lsnToToken("16/B374D848"), "00000016B374D848");
  assert.equal(lsnToToken("0/0"), "0000000000000000");
  assert.equal(lsnToToken("ffffffff/ffffffff"), "FFFFFFFFFFFFFFFF");
  // "0/A0" > "1/0" as text, but not as tokens
  assert.ok(lsnToToken("0/A0") < lsnToToken("1/0"));
  assert.ok(lsnToToken("1/FFFFFFF") < lsnToToken("1/10000000"));
  for (const bad of ["", "16B374D848", "1/2/3", "0x1/0", "123456789/0", " 1/0", null, 7])
    assert.throws(() => lsnToToken(bad), /not an LSN/, String(bad));
  assert.ok(isToken("00000016B374D848"));
  assert.ok(!isToken("00000016b374d848") && !isToken("16/B374D848") && !isToken("0000016B374D848"));
});

test("lagBytes: exact past 2^53, 0 when caught up, null without a position", () => {
  assert.equal(lagBytes("0000000000000000", "0000000000000100"), 256);
  assert.equal(lagBytes("0000000000000200", "0000000000000100"), 0);
  assert.equal(lagBytes(null, "0000000000000100"), null);
  assert.equal(lagBytes("FFFFFFFF00000000", "FFFFFFFF00000010"), 16);
});

test("tokens travel in a header and a cookie; malformed ones are ignored", () => {
  const tok = "00000016B374D848";
  const res = withToken(new Response("hi", { status: 201, headers: { "content-type": "text/plain" } }),
    { token: tok, bookmark: "bm-1" });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get(TOKEN_HEADER), tok);
  assert.equal(res.headers.get("x-d1-bookmark"), "bm-1");
  assert.match(res.headers.get("set-cookie"), /^wal2edge_lsn=00000016B374D848; Max-Age=300; Path=\/; HttpOnly/);
  assert.equal(withToken(new Response("x"), { token: tok, cookie: false }).headers.get("set-cookie"), null);
  assert.throws(() => withToken(new Response("x"), { token: "16/B374D848" }), /not a wal2edge token/);

  const req = (headers) => new Request("http://x/", { headers });
  assert.equal(tokenFromRequest(req({ [TOKEN_HEADER]: tok })), tok);
  assert.equal(tokenFromRequest(req({ cookie: `a=b; wal2edge_lsn=${tok}; c=d` })), tok);
  assert.equal(tokenFromRequest(req({ [TOKEN_HEADER]: tok, cookie: "wal2edge_lsn=0000000000000001" })), tok, "header first");
  assert.equal(tokenFromRequest(req({ [TOKEN_HEADER]: "16/B374D848" })), null);
  assert.equal(tokenFromRequest(req({ cookie: "wal2edge_lsn=zz" })), null);
  assert.equal(tokenFromRequest(req({})), null);
  assert.equal(bookmarkFromRequest(req({ "x-d1-bookmark": "bm-2" })), "bm-2");
});

test("waitFor: no checkpoint row times out saying so", async () => {
  const r = await wait({ token: lsnToToken("0/100"), slot: "nobody", timeout: 150 });
  assert.equal(r.ok, false);
  assert.equal(r.name, "WaitTimeoutError");
  assert.equal(r.position, null);
  assert.match(r.message, /D1 \(slot "nobody"\) did not reach 0000000000000100 within \d+ ms \(at no checkpoint\)/);
  assert.ok(r.waitedMs >= 150, `${r.waitedMs}`);
});

test("waitFor: a checkpoint behind the token times out with the lag", async () => {
  await checkpoint("s1", "1/0");
  const r = await wait({ token: lsnToToken("1/400"), slot: "s1", timeout: 200 });
  assert.equal(r.ok, false);
  assert.equal(r.position, "0000000100000000");
  assert.equal(r.lagBytes, 0x400);
  assert.match(r.message, /1024 bytes behind/);
});

test("waitFor: resolves once the checkpoint passes, with a bookmark", async () => {
  await checkpoint("s2", "0/FFFFFF00");
  const token = lsnToToken("1/10"); // the "X/X" text of the checkpoint sorts after it, the position does not
  const pending = wait({ token, slot: "s2", timeout: 3000 });
  await new Promise((r) => setTimeout(r, 300));
  await checkpoint("s2", "1/10");
  const r = await pending;
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.position, token);
  assert.ok(r.waitedMs >= 250 && r.waitedMs < 2000, `${r.waitedMs}`);
  assert.ok(r.polls > 1);
  assert.equal(typeof r.bookmark, "string");
  assert.ok(r.bookmark.length > 0);
  // already there: one query
  const again = await wait({ token: lsnToToken("0/5"), slot: "s2" });
  assert.equal(again.ok, true);
  assert.equal(again.polls, 1);
});

test("waitFor: the default slot is wal2edge, and a malformed token is refused", async () => {
  await checkpoint("wal2edge", "2/0");
  assert.equal((await wait({ token: lsnToToken("2/0") })).ok, true);
  const r = await wait({ token: "2/0" });
  assert.equal(r.ok, false);
  assert.match(r.message, /not a wal2edge token/);
});

test("kvWaitFor: waits for a value whose commit_lsn reaches the token", async () => {
  await kv.put("product:1", "old", { metadata: { commit_lsn: "0/500", commit_time: "t" } });
  const token = lsnToToken("0/600");
  const late = await wait({ key: "product:1", token, timeout: 150 });
  assert.equal(late.ok, false);
  assert.equal(late.position, "0000000000000500");
  assert.equal(late.lagBytes, 0x100);
  const pending = wait({ key: "product:1", token, timeout: 3000 });
  await new Promise((r) => setTimeout(r, 200));
  await kv.put("product:1", "new", { metadata: { commit_lsn: "0/600", commit_time: "t" } });
  const r = await pending;
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.value, "new");
  assert.equal(r.metadata.commit_lsn, "0/600");
  // a key without wal2edge's metadata never counts as fresh
  await kv.put("plain", "x");
  assert.equal((await wait({ key: "plain", token, timeout: 100 })).ok, false);
});

const pg = pgEnv();
test("tokens from the real Postgres: after a commit, past the commit; before it, a floor", { skip: pg.skip }, async () => {
  const { default: postgres } = await import("postgres");
  const sql = postgres(pg.DATABASE_URL, { max: 1, onnotice: () => {} });
  try {
    await sql`CREATE TEMP TABLE lib_t (id int)`;
    let floor;
    await sql.begin(async (tx) => {
      await tx`INSERT INTO lib_t VALUES (1)`;
      floor = await tokenBeforeCommit(tx);
    });
    const after = await tokenAfterCommit(sql);
    assert.ok(isToken(floor) && isToken(after));
    assert.ok(floor < after, `${floor} < ${after}`);
    // the token is the server's insert position in the fixed form
    const [{ lsn }] = await sql`SELECT pg_current_wal_insert_lsn()::text AS lsn`;
    assert.ok(after <= lsnToToken(lsn));
  } finally {
    await sql.end();
  }
});

test("tokenAfterCommit takes node-postgres clients too, and refuses anything else", async () => {
  const client = { query: async (q) => ({ rows: [{ lsn: /pg_current_wal_insert_lsn/.test(q) ? "1/2" : "?" }] }) };
  assert.equal(await tokenAfterCommit(client), "0000000100000002");
  await assert.rejects(tokenAfterCommit({}), /postgres.js sql or a node-postgres client/);
});
