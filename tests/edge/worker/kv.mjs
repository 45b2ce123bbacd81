// Workers KV REST endpoints on top of real KV bindings.
import { ApiError, envelope, readJson, utf8len, b64decode, randomHex, nowSec } from "./util.mjs";
import { resolve, lookup, list, binding } from "./registry.mjs";

export const KV_LIMITS = {
  keyBytes: 512,
  valueBytes: 25 * 1024 * 1024,
  metadataBytes: 1024,
  minTtl: 60,
  bulkPairs: 10_000,
  bulkBytes: 100 * 1000 * 1000,
  bulkGetKeys: 100,
};

// Error codes the emulator answers with (see tests/edge/README.md).
const E = {
  malformed: 10001,
  notFound: 10009,
  keyInvalid: 10010,
  keyTooLong: 10011,
  valueTooLarge: 10012,
  metadataTooLarge: 10013,
  expiration: 10014,
  tooManyPairs: 10015,
  bodyTooLarge: 10016,
  titleExists: 10017,
  limitInvalid: 10018,
  sameKeyRate: 10048,
};

const lastWrite = new Map(); // `${ns}\0${key}` -> ms of last accepted write

function writeIntervalMs(env) {
  const v = parseInt(env.EDGE_KV_WRITE_INTERVAL_MS ?? "1000", 10);
  return Number.isFinite(v) ? v : 1000;
}

// One write per second per key: returns false (and records nothing) when the key
// was written less than the interval ago.
function claimWrite(env, ns, key) {
  const iv = writeIntervalMs(env);
  if (iv <= 0) return true;
  const k = `${ns}\0${key}`;
  const now = Date.now();
  const prev = lastWrite.get(k);
  if (prev !== undefined && now - prev < iv) return false;
  lastWrite.set(k, now);
  if (lastWrite.size > 200_000) {
    for (const [kk, t] of lastWrite) if (now - t >= iv) lastWrite.delete(kk);
  }
  return true;
}

function checkKey(key) {
  if (typeof key !== "string" || key === "" || key === "." || key === "..") {
    throw new ApiError(400, E.keyInvalid, `Invalid key name ${JSON.stringify(key)}: keys must be non-empty and not "." or ".."`);
  }
  const len = utf8len(key);
  if (len > KV_LIMITS.keyBytes) {
    throw new ApiError(414, E.keyTooLong, `Key length of ${len} bytes exceeds the limit of ${KV_LIMITS.keyBytes}`);
  }
}

function checkValueSize(n) {
  if (n > KV_LIMITS.valueBytes) {
    throw new ApiError(413, E.valueTooLarge, `Value length of ${n} bytes exceeds the limit of ${KV_LIMITS.valueBytes}`);
  }
}

function checkMetadata(metadata) {
  if (metadata === undefined) return undefined;
  const s = JSON.stringify(metadata);
  const len = utf8len(s);
  if (len > KV_LIMITS.metadataBytes) {
    throw new ApiError(413, E.metadataTooLarge, `Metadata length of ${len} bytes exceeds the limit of ${KV_LIMITS.metadataBytes}`);
  }
  return metadata;
}

function expirationOptions(expiration, ttl) {
  const opts = {};
  if (ttl !== undefined && ttl !== null && ttl !== "") {
    const t = Number(ttl);
    if (!Number.isInteger(t) || t < KV_LIMITS.minTtl) {
      throw new ApiError(400, E.expiration, `Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${KV_LIMITS.minTtl}.`);
    }
    opts.expirationTtl = t; // TTL wins when both are given
    return opts;
  }
  if (expiration !== undefined && expiration !== null && expiration !== "") {
    const x = Number(expiration);
    if (!Number.isInteger(x) || x < nowSec() + KV_LIMITS.minTtl) {
      throw new ApiError(400, E.expiration, `Invalid expiration of ${expiration}. Expiration times must be at least ${KV_LIMITS.minTtl} seconds in the future`);
    }
    opts.expiration = x;
  }
  return opts;
}

function rateLimited(key) {
  return new ApiError(429, E.sameKeyRate, `KV PUT failed: 429 Too Many Requests: more than one write per second to key ${JSON.stringify(key)}`, {
    headers: { "retry-after": "1" },
  });
}

async function keyExpiration(kv, key) {
  // The binding's getWithMetadata does not expose expiry; list() does.
  const res = await kv.list({ prefix: key, limit: 1 });
  const k = res.keys.find((x) => x.name === key);
  return k && k.expiration;
}

export async function handleKv(req, env, parts) {
  const method = req.method;
  const url = new URL(req.url);
  if (parts.length === 0) {
    if (method === "GET") {
      const rows = await list(env, "kv");
      return envelope(rows.map((r) => ({ id: r.id, title: r.name, supports_url_encoding: true })), {
        result_info: { page: 1, per_page: rows.length, count: rows.length, total_count: rows.length },
      });
    }
    if (method === "POST") {
      const body = await readJson(req, E.malformed);
      if (!body || typeof body.title !== "string" || !body.title) throw new ApiError(400, E.malformed, "`title` is required");
      if ((await list(env, "kv")).some((r) => r.name === body.title)) {
        throw new ApiError(400, E.titleExists, "a namespace with this account ID and title already exists");
      }
      const row = await resolve(env, "kv", randomHex(16), { name: body.title });
      return envelope({ id: row.id, title: row.name, supports_url_encoding: true });
    }
    throw new ApiError(405, 10405, "Method not allowed");
  }
  const nsId = decodeURIComponent(parts[0]);
  if (parts.length === 1 && method === "GET") {
    // Get a Namespace: the one read that does not create the namespace on first use
    const found = await lookup(env, "kv", nsId);
    if (!found) throw new ApiError(404, E.notFound, "namespace not found");
    return envelope({ id: found.id, title: found.name, supports_url_encoding: true });
  }
  const row = await resolve(env, "kv", nsId);
  const kv = binding(env, "kv", row);
  const sub = parts[1] || "";
  const rest = parts.slice(2);

  if (sub === "bulk" && rest.length === 0 && method === "PUT") return bulkWrite(req, env, nsId, kv);
  if (sub === "bulk" && ((rest.length === 0 && method === "DELETE") || (rest[0] === "delete" && method === "POST"))) {
    return bulkDelete(req, env, nsId, kv);
  }
  if (sub === "bulk" && rest[0] === "get" && method === "POST") return bulkGet(req, kv);
  if (sub === "keys" && method === "GET") {
    const prefix = url.searchParams.get("prefix") ?? undefined;
    const cursor = url.searchParams.get("cursor") || undefined;
    const limit = url.searchParams.has("limit") ? Number(url.searchParams.get("limit")) : 1000;
    if (!Number.isInteger(limit) || limit < 10 || limit > 1000) {
      throw new ApiError(400, E.limitInvalid, "limit must be an integer between 10 and 1000");
    }
    const res = await kv.list({ prefix, cursor, limit });
    const keys = res.keys.map((k) => {
      const o = { name: k.name };
      if (k.expiration) o.expiration = k.expiration;
      if (k.metadata !== undefined && k.metadata !== null) o.metadata = k.metadata;
      return o;
    });
    return envelope(keys, { result_info: { count: keys.length, cursor: res.list_complete ? "" : res.cursor } });
  }
  if ((sub === "values" || sub === "metadata") && rest.length >= 1) {
    // Keys are URL-encoded in the path; a key may itself contain '/'.
    const rawKey = url.pathname.split(`/${sub}/`).slice(1).join(`/${sub}/`);
    const key = decodeURIComponent(rawKey);
    checkKey(key);
    if (sub === "metadata") {
      if (method !== "GET") throw new ApiError(405, 10405, "Method not allowed");
      const r = await kv.getWithMetadata(key, "arrayBuffer");
      if (r.value === null) throw new ApiError(404, E.notFound, "get: 'key not found'");
      return envelope(r.metadata ?? null);
    }
    if (method === "GET") {
      const r = await kv.getWithMetadata(key, "arrayBuffer");
      if (r.value === null) throw new ApiError(404, E.notFound, "get: 'key not found'");
      const headers = { "content-type": "application/octet-stream" };
      const exp = await keyExpiration(kv, key);
      if (exp) headers.expiration = String(exp);
      return new Response(r.value, { status: 200, headers });
    }
    if (method === "PUT") return singlePut(req, env, url, nsId, kv, key);
    if (method === "DELETE") {
      if (!claimWrite(env, nsId, key)) throw rateLimited(key);
      await kv.delete(key);
      return envelope({});
    }
    throw new ApiError(405, 10405, "Method not allowed");
  }
  throw new ApiError(404, 7003, `Could not route to ${url.pathname}, perhaps your object identifier is invalid?`);
}

async function singlePut(req, env, url, nsId, kv, key) {
  const opts = expirationOptions(url.searchParams.get("expiration"), url.searchParams.get("expiration_ttl"));
  let value;
  let metadata;
  const ct = req.headers.get("content-type") || "";
  if (ct.startsWith("multipart/form-data")) {
    const form = await req.formData();
    const v = form.get("value");
    if (v === null) throw new ApiError(400, E.malformed, "multipart body must have a `value` part");
    value = typeof v === "string" ? new TextEncoder().encode(v) : new Uint8Array(await v.arrayBuffer());
    const m = form.get("metadata");
    if (m !== null) {
      const ms = typeof m === "string" ? m : await m.text();
      try { metadata = JSON.parse(ms); } catch { throw new ApiError(400, E.malformed, "`metadata` must be JSON"); }
    }
  } else {
    value = new Uint8Array(await req.arrayBuffer());
  }
  checkValueSize(value.byteLength);
  metadata = checkMetadata(metadata);
  if (!claimWrite(env, nsId, key)) throw rateLimited(key);
  await kv.put(key, value, { ...opts, ...(metadata !== undefined ? { metadata } : {}) });
  return envelope({});
}

// Runs fn over items with at most `width` in flight.
async function pool(items, width, fn) {
  let i = 0;
  const worker = async () => {
    while (i < items.length) {
      const it = items[i++];
      await fn(it);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

// Reads and discards a request body, so that refusing it does not reset the connection.
async function drain(req) {
  if (!req.body) return;
  const r = req.body.getReader();
  for (;;) {
    const { done } = await r.read();
    if (done) break;
  }
}

async function bulkWrite(req, env, nsId, kv) {
  const len = Number(req.headers.get("content-length") || "0");
  if (len > KV_LIMITS.bulkBytes) {
    await drain(req);
    throw new ApiError(413, E.bodyTooLarge, `Request body of ${len} bytes exceeds the limit of ${KV_LIMITS.bulkBytes} bytes`);
  }
  const text = await req.text();
  if (utf8len(text) > KV_LIMITS.bulkBytes) {
    throw new ApiError(413, E.bodyTooLarge, `Request body exceeds the limit of ${KV_LIMITS.bulkBytes} bytes`);
  }
  let items;
  try { items = JSON.parse(text); } catch (e) { throw new ApiError(400, E.malformed, `Could not parse request body as JSON: ${e.message}`); }
  if (!Array.isArray(items)) throw new ApiError(400, E.malformed, "Request body must be a JSON array of key-value pairs");
  if (items.length > KV_LIMITS.bulkPairs) {
    throw new ApiError(400, E.tooManyPairs, `Bulk request has ${items.length} pairs; the limit is ${KV_LIMITS.bulkPairs}`);
  }
  // Validate everything first: a malformed pair fails the whole request.
  const prepared = items.map((it, i) => {
    if (!it || typeof it !== "object") throw new ApiError(400, E.malformed, `pair ${i} is not an object`);
    checkKey(it.key);
    if (typeof it.value !== "string") throw new ApiError(400, E.malformed, `pair ${i} (${it.key}): value must be a string`);
    let value = it.value;
    let size = utf8len(value);
    if (it.base64) {
      try { value = b64decode(it.value); } catch { throw new ApiError(400, E.malformed, `pair ${i} (${it.key}): value is not valid base64`); }
      size = value.byteLength;
    }
    checkValueSize(size);
    const opts = expirationOptions(it.expiration, it.expiration_ttl);
    const metadata = checkMetadata(it.metadata);
    return { key: it.key, value, opts: { ...opts, ...(metadata !== undefined ? { metadata } : {}) } };
  });
  const unsuccessful = [];
  let ok = 0;
  const todo = [];
  for (const p of prepared) {
    if (!claimWrite(env, nsId, p.key)) unsuccessful.push(p.key);
    else todo.push(p);
  }
  await pool(todo, 32, async (p) => {
    try {
      await kv.put(p.key, p.value, p.opts);
      ok++;
    } catch {
      unsuccessful.push(p.key);
    }
  });
  return envelope({ successful_key_count: ok, unsuccessful_keys: unsuccessful });
}

async function bulkDelete(req, env, nsId, kv) {
  const keys = await readJson(req, E.malformed);
  if (!Array.isArray(keys)) throw new ApiError(400, E.malformed, "Request body must be a JSON array of keys");
  if (keys.length > KV_LIMITS.bulkPairs) {
    throw new ApiError(400, E.tooManyPairs, `Bulk request has ${keys.length} keys; the limit is ${KV_LIMITS.bulkPairs}`);
  }
  const names = keys.map((k) => (k && typeof k === "object" ? k.key ?? k.name : k));
  names.forEach(checkKey);
  const unsuccessful = [];
  let ok = 0;
  const todo = [];
  for (const k of names) {
    if (!claimWrite(env, nsId, k)) unsuccessful.push(k);
    else todo.push(k);
  }
  await pool(todo, 32, async (k) => {
    try { await kv.delete(k); ok++; } catch { unsuccessful.push(k); }
  });
  return envelope({ successful_key_count: ok, unsuccessful_keys: unsuccessful });
}

async function bulkGet(req, kv) {
  const body = await readJson(req, E.malformed);
  const keys = body && body.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ApiError(400, E.malformed, "`keys` must be a non-empty array");
  if (keys.length > KV_LIMITS.bulkGetKeys) {
    throw new ApiError(400, E.tooManyPairs, `bulk get accepts at most ${KV_LIMITS.bulkGetKeys} keys`);
  }
  keys.forEach(checkKey);
  const type = body.type === "json" ? "json" : "text";
  const values = {};
  for (const k of keys) {
    let r;
    try {
      r = await kv.getWithMetadata(k, type);
    } catch {
      throw new ApiError(400, E.malformed, `value of ${k} is not valid JSON`);
    }
    if (body.withMetadata) {
      values[k] = r.value === null ? null : { value: r.value, metadata: r.metadata ?? null };
    } else {
      values[k] = r.value;
    }
  }
  return envelope({ values });
}
