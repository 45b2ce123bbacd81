// @wal2edge/workers - read-your-writes for a Worker that writes to Postgres (through Hyperdrive)
// and reads the copy wal2edge keeps in D1 or KV.
//
// How it works: after a write commits, the Worker takes a token, the origin's WAL insert
// position, in the form wal2edge writes to D1's checkpoint row (`_wal2edge_state.position`, the
// end LSN as 16 hex digits). Fixed width makes text order LSN order, so D1 compares the two in
// SQL and JavaScript never does 64-bit arithmetic. waitFor polls that one row on the primary
// (withSession("first-primary")) with a short backoff until position >= token, and hands back the
// session's bookmark for later replica reads. See docs/workers.md for what each wait guarantees.

export const TOKEN_HEADER = "x-wal2edge-lsn";
export const TOKEN_COOKIE = "wal2edge_lsn";
export const BOOKMARK_HEADER = "x-d1-bookmark";
export const DEFAULT_SLOT = "wal2edge";

const TOKEN_RE = /^[0-9A-F]{16}$/;
const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
// one indexed lookup (slot is the primary key); the comparison is D1's
const POSITION_SQL =
  'SELECT "position", "position" >= ?2 AS "reached" FROM "_wal2edge_state" WHERE "slot" = ?1';
// short first waits (the checkpoint is often a flush away), then every 100 ms: one cheap indexed
// read on the primary per poll, and at most 100 ms of latency added to the wait
const BACKOFF_MS = [10, 20, 40, 80, 100];

/** "16/B374D848" (Postgres' pg_lsn text) -> "00000016B374D848". Throws on anything else. */
export function lsnToToken(lsn) {
  const m = typeof lsn === "string" ? LSN_RE.exec(lsn) : null;
  if (!m) throw new TypeError(`not an LSN: ${JSON.stringify(lsn)} (expected hex "X/X")`);
  return (m[1].padStart(8, "0") + m[2].padStart(8, "0")).toUpperCase();
}

/** Whether s is a token (16 upper-case hex digits). */
export function isToken(s) {
  return typeof s === "string" && TOKEN_RE.test(s);
}

function checkToken(token) {
  if (!isToken(token)) throw new TypeError(`not a wal2edge token: ${JSON.stringify(token)} (expected 16 hex digits)`);
}

/** Bytes from position to token (0 when position is at or past it); a Number, exact below 2^53. */
export function lagBytes(position, token) {
  if (!isToken(position)) return null;
  const d = BigInt(`0x${token}`) - BigInt(`0x${position}`);
  return d > 0n ? Number(d) : 0;
}

// The insert position: at or past the end of every record inserted so far, our commit record
// included, also when synchronous_commit = off returned before that record was written (where
// pg_current_wal_lsn(), the write position, may still be before it).
const POSITION_QUERY = "SELECT pg_current_wal_insert_lsn()::text AS lsn";

async function queryLsn(client) {
  if (client && typeof client.unsafe === "function") {
    // postgres.js (a sql`` function, or a reserved connection / transaction)
    const rows = await client.unsafe(POSITION_QUERY);
    return rows[0].lsn;
  }
  if (client && typeof client.query === "function") {
    // node-postgres (a Client, or a PoolClient)
    const res = await client.query(POSITION_QUERY);
    return res.rows[0].lsn;
  }
  throw new TypeError("tokenAfterCommit: pass a postgres.js sql or a node-postgres client");
}

/**
 * The token for everything committed so far: call it after COMMIT returned, on the same
 * connection (or any other to the same primary). Inside the transaction the position is before our
 * commit record, and a later unrelated commit could carry the checkpoint past it while ours is not
 * applied yet.
 */
export async function tokenAfterCommit(client) {
  return lsnToToken(await queryLsn(client));
}

/**
 * A floor for the commit LSN of the transaction in progress: call it as the transaction's last
 * statement, before COMMIT. Only for kvWaitFor (KV's metadata carries a commit LSN, which is
 * before the commit's end, so tokenAfterCommit's token is past it).
 */
export async function tokenBeforeCommit(client) {
  return lsnToToken(await queryLsn(client));
}

/** Rejected by waitFor and kvWaitFor when the timeout passes first. */
export class WaitTimeoutError extends Error {
  constructor(what, token, position, waitedMs) {
    const lag = lagBytes(position, token);
    super(`${what} did not reach ${token} within ${waitedMs} ms (at ${position ?? "no checkpoint"}` +
      `${lag === null ? "" : `, ${lag} bytes behind`})`);
    this.name = "WaitTimeoutError";
    this.token = token;
    this.position = position ?? null;
    this.lagBytes = lag;
    this.waitedMs = waitedMs;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll(what, token, timeoutMs, check) {
  const t0 = Date.now();
  let last = null;
  for (let i = 0; ; i++) {
    const r = await check();
    if (r.reached) return { ...r, waitedMs: Date.now() - t0, polls: i + 1 };
    last = r.position;
    const left = timeoutMs - (Date.now() - t0);
    if (left <= 0) throw new WaitTimeoutError(what, token, last, Date.now() - t0);
    await sleep(Math.min(BACKOFF_MS[Math.min(i, BACKOFF_MS.length - 1)], left));
  }
}

/**
 * Wait until wal2edge's checkpoint in this D1 database is at or past token. Resolves with
 * { bookmark, position, waitedMs, polls }: hand the bookmark to the client (withToken) so its
 * next reads may go to a replica that is at least this fresh. Rejects with WaitTimeoutError
 * (its lagBytes) after timeoutMs. The reads go to the primary, where wal2edge's REST writes land.
 */
export async function waitFor(db, token, { slot = DEFAULT_SLOT, timeoutMs = 5000 } = {}) {
  checkToken(token);
  const session = typeof db.withSession === "function" ? db.withSession("first-primary") : db;
  const stmt = session.prepare(POSITION_SQL);
  const r = await poll(`D1 (slot "${slot}")`, token, timeoutMs, async () => {
    const row = await stmt.bind(slot, token).first();
    return { reached: !!(row && row.reached), position: row ? row.position : null };
  });
  const bookmark = typeof session.getBookmark === "function" ? session.getBookmark() : null;
  return { bookmark: bookmark ?? null, position: r.position, waitedMs: r.waitedMs, polls: r.polls };
}

/**
 * Wait until KV's key holds a value that wal2edge wrote from a transaction committed at or after
 * token (its metadata's commit_lsn >= token; take the token with tokenBeforeCommit). Resolves with
 * { value, metadata, waitedMs, polls }. Only as strong as KV at this location: another location
 * may serve an older value for up to a minute (docs/workers.md). A deleted key never resolves.
 */
export async function kvWaitFor(kv, key, token, { timeoutMs = 5000, type = "text" } = {}) {
  checkToken(token);
  let got = null;
  const r = await poll(`KV key ${JSON.stringify(key)}`, token, timeoutMs, async () => {
    got = await kv.getWithMetadata(key, { type });
    const lsn = got && got.metadata && got.metadata.commit_lsn;
    const position = typeof lsn === "string" && LSN_RE.test(lsn) ? lsnToToken(lsn) : null;
    return { reached: position !== null && position >= token, position };
  });
  return { value: got.value, metadata: got.metadata, waitedMs: r.waitedMs, polls: r.polls };
}

function cookieValue(header, name) {
  for (const part of (header || "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

/** The token a client sent back: the x-wal2edge-lsn header, else the cookie; null if none or malformed. */
export function tokenFromRequest(request) {
  const h = request.headers.get(TOKEN_HEADER);
  const v = h !== null ? h.trim() : cookieValue(request.headers.get("cookie"), TOKEN_COOKIE);
  return isToken(v) ? v : null;
}

/** The D1 bookmark a client sent back (x-d1-bookmark), or null. */
export function bookmarkFromRequest(request) {
  return request.headers.get(BOOKMARK_HEADER) || null;
}

/**
 * A copy of response carrying the token (header and cookie, so a browser sends it back by itself)
 * and, when given, the D1 bookmark. cookie: false leaves the cookie out; maxAge in seconds.
 */
export function withToken(response, { token, bookmark, cookie = true, maxAge = 300 } = {}) {
  const out = new Response(response.body, response);
  if (token) {
    checkToken(token);
    out.headers.set(TOKEN_HEADER, token);
    if (cookie)
      out.headers.append("set-cookie", `${TOKEN_COOKIE}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; Secure; SameSite=Lax`);
  }
  if (bookmark) out.headers.set(BOOKMARK_HEADER, bookmark);
  return out;
}

// Sharded D1 (docs/sharding.md): which of a mapping's databases holds a row, computed exactly as
// wal2edge routes it (src/mapping/shard.c; both are tested on tests/fixtures/shard/vectors.json).
// The key is the row's shard_by values as Postgres prints them (text output): FNV-1a 64 over their
// UTF-8 bytes joined by one 0x00 byte, then jump consistent hash onto the database count.
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const JUMP_MUL = 2862933555777941757n;
const UTF8 = new TextEncoder();

function shardText(v) {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  // a float or a Date prints differently in JavaScript and Postgres: the caller must pass the text
  throw new TypeError(`shard key value ${String(v)}: pass a string (Postgres text), an integer or a bigint`);
}

/** The 64-bit hash of a shard key (one value or the shard_by columns' values in order). */
export function shardKeyHash(key) {
  const values = Array.isArray(key) ? key : [key];
  if (values.length === 0) throw new TypeError("shard key: no value");
  let h = FNV_OFFSET;
  values.forEach((v, i) => {
    const bytes = UTF8.encode(shardText(v));
    if (i > 0) h = (h * FNV_PRIME) & 0xffffffffffffffffn; // the 0x00 separator: xor with 0 is a no-op
    for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & 0xffffffffffffffffn;
  });
  return h;
}

/** Jump consistent hash of a 64-bit key into [0, buckets). */
export function jumpHash(key, buckets) {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets ${buckets}: not an integer >= 1`);
  let k = BigInt.asUintN(64, BigInt(key));
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = BigInt.asUintN(64, k * JUMP_MUL + 1n);
    j = Math.trunc((b + 1) * (2147483648 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** The index in [0, databases) of the database holding rows with this shard key. */
export function shardFor(key, databases) {
  const h = shardKeyHash(key);
  return databases === 1 ? 0 : jumpHash(h, databases);
}

/** The element of `databases` (names or D1 bindings, in the mapping's order) holding the key's rows. */
export function shardOf(key, databases) {
  if (!Array.isArray(databases) || databases.length === 0) throw new TypeError("shardOf: no databases");
  return databases[shardFor(key, databases.length)];
}
