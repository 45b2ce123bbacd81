// The demo shop on the whole loop: products from Workers KV and orders from D1, both kept by
// wal2edge from the demo Postgres (sql/demo.sql, mappings/); new orders go to that Postgres
// through Hyperdrive. After placing an order the Worker takes a token (@wal2edge/workers) and
// reads the order back from D1 once wal2edge's checkpoint has passed it; a later GET that sends
// the token back (x-wal2edge-lsn header or cookie) waits the same way, and a GET without one reads
// whatever D1 has and says so. Every request writes one Analytics Engine data point: route,
// freshness, time waited, bytes behind.
import postgres from "postgres";
import {
  tokenAfterCommit, waitFor, kvWaitFor, withToken, tokenFromRequest, bookmarkFromRequest, isToken, WaitTimeoutError,
} from "@wal2edge/workers";

const FRESHNESS_HEADER = "x-wal2edge-freshness";
// a floor token (tokenBeforeCommit) for a KV read: the product's key must come from a
// transaction that committed at or after it (docs/workers.md, "KV")
const KV_FLOOR_HEADER = "x-wal2edge-kv-floor";

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function json(status, body) {
  return Response.json(body, { status });
}

/**
 * A D1 session for a read: with a token, one that has waited for it (state "caught-up", or
 * "behind" when the wait timed out: read on the primary anyway and say how far behind); without
 * one, any replica no older than the client's bookmark (state "unknown": D1 may not hold the
 * client's latest write yet).
 */
async function freshSession(env, request, token) {
  if (!token) {
    const bookmark = bookmarkFromRequest(request);
    return { session: env.DB.withSession(bookmark || "first-unconstrained"),
             freshness: { state: "unknown", token: null, waited_ms: 0 } };
  }
  const timeoutMs = Number(env.WAIT_TIMEOUT_MS || 3000);
  try {
    const r = await waitFor(env.DB, token, { slot: env.WAL2EDGE_SLOT, timeoutMs });
    return { session: env.DB.withSession(r.bookmark || "first-primary"),
             freshness: { state: "caught-up", token, position: r.position, waited_ms: r.waitedMs, polls: r.polls } };
  } catch (e) {
    if (!(e instanceof WaitTimeoutError)) throw e;
    return { session: env.DB.withSession("first-primary"),
             freshness: { state: "behind", token, position: e.position, waited_ms: e.waitedMs, lag_bytes: e.lagBytes } };
  }
}

async function readOrder(session, id) {
  const order = await session.prepare(
    'SELECT "id", "user_id", "status", "total", "placed_on", "notes" FROM "orders" WHERE "id" = ?1').bind(id).first();
  if (!order) return null;
  const { results } = await session.prepare(
    'SELECT "line_no", "sku", "quantity" FROM "order_items" WHERE "order_id" = ?1 ORDER BY "line_no"').bind(id).all();
  return { ...order, items: results };
}

async function listProducts(env) {
  const out = [];
  let cursor;
  do {
    const page = await env.CACHE.list({ prefix: "product:", cursor });
    const values = await Promise.all(page.keys.map((k) => env.CACHE.get(k.name, { type: "json" })));
    out.push(...values.filter(Boolean));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  out.sort((a, b) => (a.sku < b.sku ? -1 : 1));
  return json(200, { products: out });
}

async function getProduct(env, request, sku) {
  const key = `product:${sku}`;
  const floor = request.headers.get(KV_FLOOR_HEADER);
  if (floor !== null && !isToken(floor)) throw new HttpError(400, `${KV_FLOOR_HEADER}: 16 hex digits expected`);
  if (!floor) {
    const product = await env.CACHE.get(key, { type: "json" });
    return { response: json(product ? 200 : 404, product ? { product } : { error: `no product ${sku}` }) };
  }
  const timeoutMs = Number(env.WAIT_TIMEOUT_MS || 3000);
  try {
    const r = await kvWaitFor(env.CACHE, key, floor, { timeoutMs, type: "json" });
    const freshness = { state: "caught-up", token: floor, commit_lsn: r.metadata.commit_lsn, waited_ms: r.waitedMs, polls: r.polls };
    return { response: json(200, { product: r.value, freshness }), freshness };
  } catch (e) {
    if (!(e instanceof WaitTimeoutError)) throw e;
    const freshness = { state: "behind", token: floor, waited_ms: e.waitedMs, lag_bytes: e.lagBytes };
    const product = await env.CACHE.get(key, { type: "json" });
    return { response: json(product ? 200 : 404, product ? { product, freshness } : { error: `no product ${sku}`, freshness }), freshness };
  }
}

async function listOrders(env, request, url) {
  const userId = Number(url.searchParams.get("user_id"));
  if (!Number.isSafeInteger(userId) || userId <= 0) throw new HttpError(400, "user_id: a positive integer is required");
  const { session, freshness } = await freshSession(env, request, tokenFromRequest(request));
  const { results } = await session.prepare(
    'SELECT "id", "status", "total", "placed_on" FROM "orders" WHERE "user_id" = ?1 ORDER BY "placed_on" DESC, "id"')
    .bind(userId).all();
  return { response: json(200, { orders: results, freshness }), freshness, bookmark: session.getBookmark() };
}

async function getOrder(env, request, id) {
  const { session, freshness } = await freshSession(env, request, tokenFromRequest(request));
  const order = await readOrder(session, id);
  const body = order ? { order, freshness } : {
    error: freshness.state === "caught-up" ? `no order ${id}`
      : `no order ${id} in D1 yet: ${freshness.state === "unknown"
        ? "this read did not wait for your latest write (send its x-wal2edge-lsn token back)"
        : `replication is ${freshness.lag_bytes ?? "?"} bytes behind your write`}`,
    freshness,
  };
  return { response: json(order ? 200 : 404, body), freshness, bookmark: session.getBookmark() };
}

// items: [{sku, quantity}], 1-50 lines
function parseOrder(body) {
  if (!body || typeof body !== "object") throw new HttpError(400, "the body must be a JSON object");
  const { user_id: userId, items, notes = null } = body;
  if (!Number.isSafeInteger(userId) || userId <= 0) throw new HttpError(400, "user_id: a positive integer is required");
  if (!Array.isArray(items) || items.length === 0 || items.length > 50)
    throw new HttpError(400, "items: 1 to 50 lines of {sku, quantity} are required");
  items.forEach((it, i) => {
    if (!it || typeof it.sku !== "string" || !it.sku) throw new HttpError(400, `items[${i}].sku: a string is required`);
    if (!Number.isSafeInteger(it.quantity) || it.quantity <= 0)
      throw new HttpError(400, `items[${i}].quantity: a positive integer is required`);
  });
  if (notes !== null && typeof notes !== "string") throw new HttpError(400, "notes: a string or null");
  return { userId, items, notes };
}

async function placeOrder(env, request, url, ctx) {
  let body;
  try {
    body = await request.json();
  } catch {
    throw new HttpError(400, "the body must be JSON");
  }
  const { userId, items, notes } = parseOrder(body);
  const sql = postgres(env.HYPERDRIVE.connectionString, { max: 1, fetch_types: false, onnotice: () => {} });
  let id, token;
  try {
    // the lines as one JSON parameter (no array types to look up)
    const lines = JSON.stringify(items.map((it, i) => ({ line_no: i + 1, sku: it.sku, quantity: it.quantity })));
    id = await sql.begin(async (tx) => {
      const missing = await tx`
        SELECT l.sku FROM json_to_recordset(${lines}::text::json) AS l(sku text)
          LEFT JOIN products p ON p.sku = l.sku WHERE p.sku IS NULL LIMIT 1`;
      if (missing.length) throw new HttpError(400, `items: no product with sku ${JSON.stringify(missing[0].sku)}`);
      const [order] = await tx`
        INSERT INTO orders (id, user_id, total, placed_on, notes)
        SELECT gen_random_uuid(), ${userId}, sum(p.price * l.quantity), current_date, ${notes}
          FROM json_to_recordset(${lines}::text::json) AS l(sku text, quantity int)
          JOIN products p ON p.sku = l.sku
        RETURNING id`;
      await tx`
        INSERT INTO order_items (order_id, line_no, sku, quantity)
        SELECT ${order.id}::uuid, l.line_no, l.sku, l.quantity
          FROM json_to_recordset(${lines}::text::json) AS l(line_no int, sku text, quantity int)`;
      return order.id;
    });
    // after COMMIT, on the same connection (docs/workers.md, "Tokens")
    token = await tokenAfterCommit(sql);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    if (e && e.code === "23503") throw new HttpError(400, `user_id: no user ${userId}`);
    throw e;
  } finally {
    ctx.waitUntil(sql.end({ timeout: 1 }));
  }
  if (url.searchParams.get("wait") === "0") {
    const freshness = { state: "unknown", token, waited_ms: 0 };
    return { response: json(202, { id, token, freshness }), freshness, token };
  }
  const { session, freshness } = await freshSession(env, request, token);
  const order = await readOrder(session, id);
  return { response: json(201, { id, token, order, freshness }), freshness, token, bookmark: session.getBookmark() };
}

// The route of a request: its name (for the data point) and its handler.
function route(env, request, url, ctx) {
  const p = url.pathname.replace(/\/+$/, "") || "/";
  const m = /^\/orders\/([0-9a-f-]{36})$/.exec(p);
  if (p === "/products" && request.method === "GET")
    return { name: "products", run: async () => ({ response: await listProducts(env) }) };
  if (p === "/orders" && request.method === "GET") return { name: "orders", run: () => listOrders(env, request, url) };
  if (p === "/orders" && request.method === "POST") return { name: "place", run: () => placeOrder(env, request, url, ctx) };
  if (m && request.method === "GET") return { name: "order", run: () => getOrder(env, request, m[1]) };
  const sku = /^\/products\/([A-Za-z0-9_.-]{1,64})$/.exec(p);
  if (sku && request.method === "GET") return { name: "product", run: () => getProduct(env, request, sku[1]) };
  return { name: "unknown", run: async () => {
    throw new HttpError(404, `no route ${request.method} ${p} (GET /products, GET /products/SKU, GET /orders?user_id=, GET /orders/ID, POST /orders)`);
  } };
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const { name, run } = route(env, request, url, ctx);
    let out;
    try {
      out = await run();
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      out = { response: json(e.status, { error: e.message }) };
    }
    const f = out.freshness || { state: "none", waited_ms: 0 };
    // one data point per request: what the wait for freshness cost
    const written = env.SHOP_METRICS?.writeDataPoint({
      indexes: [name],
      blobs: [name, f.state, String(out.response.status)],
      doubles: [f.waited_ms ?? 0, f.lag_bytes ?? 0, f.polls ?? 0],
    });
    // Cloudflare's binding returns nothing; a local stand-in may return its write (tests/edge)
    if (written && typeof written.then === "function") ctx.waitUntil(written);
    const res = withToken(out.response, { token: out.token, bookmark: out.bookmark });
    res.headers.set(FRESHNESS_HEADER, f.state);
    return res;
  },
};
