// The edge Worker: serves the Cloudflare REST paths wal2edge calls (D1, KV,
// Queues under /client/v4) and R2's S3 API (everything else), on top of real
// D1, KV, Queue and R2 bindings. It also consumes the emulator's queues and
// hands each batch to the consumer Worker (binding CONSUMER).
// Requests reach it only through the gateway (src/gateway.mjs), which handles
// the admin API, fault injection, the account rate limit and SigV4.
import { ApiError, envelope, errorResponse } from "./util.mjs";
import { handleD1, handleImportUpload } from "./d1.mjs";
import { handleKv } from "./kv.mjs";
import { handleQueues, dispatchBatch, consumerOf } from "./queues.mjs";
import { handleS3, s3ErrorResponse } from "./r2.mjs";
import { ensureSchema, resolve, list, setConfig, KINDS } from "./registry.mjs";

function authenticate(req, env) {
  const h = req.headers.get("authorization");
  if (!h) {
    if (req.headers.get("x-auth-key") || req.headers.get("x-auth-email")) {
      throw new ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email");
    }
    throw new ApiError(403, 10000, "Authentication error");
  }
  const m = /^Bearer (\S+)$/.exec(h.trim());
  if (!m) {
    throw new ApiError(400, 6003, "Invalid request headers", {
      error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
    });
  }
  if (m[1] !== env.API_TOKEN) throw new ApiError(401, 9109, "Invalid access token");
}

async function rest(req, env, path) {
  // path: segments after /client/v4
  const seg = path.split("/").filter((s, i) => i > 0 || s !== "");
  authenticate(req, env);
  if (seg[0] === "user" && seg[1] === "tokens" && seg[2] === "verify") {
    return envelope({ id: "edge0000000000000000000000000000", status: "active" }, { messages: [{ code: 10000, message: "This API Token is valid and active", type: null }] });
  }
  if (seg[0] !== "accounts" || !seg[1]) throw notRouted(req);
  if (decodeURIComponent(seg[1]) !== env.ACCOUNT_ID) throw new ApiError(403, 10000, "Authentication error");
  await ensureSchema(env);
  const rest = seg.slice(2);
  if (rest[0] === "tokens" && rest[1] === "verify") {
    return envelope({ id: "edge0000000000000000000000000000", status: "active" });
  }
  if (rest[0] === "d1" && rest[1] === "database") return handleD1(req, env, rest.slice(2));
  if (rest[0] === "storage" && rest[1] === "kv" && rest[2] === "namespaces") return handleKv(req, env, rest.slice(3));
  if (rest[0] === "queues") return handleQueues(req, env, rest.slice(1));
  throw notRouted(req);
}

function notRouted(req) {
  return new ApiError(404, 7003, `Could not route to ${new URL(req.url).pathname}, perhaps your object identifier is invalid?`, {
    error_chain: [{ code: 7000, message: "No route for that URI" }],
  });
}

// Internal API used by the gateway's admin endpoint.
async function internal(req, env, parts) {
  await ensureSchema(env);
  const url = new URL(req.url);
  const json = (v, status = 200) => new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
  if (parts[0] === "resources" && req.method === "GET") {
    const out = {};
    for (const kind of Object.keys(KINDS)) {
      out[kind] = (await list(env, kind)).map((r) => ({ id: r.id, name: r.name, slot: r.slot, created_at: r.created_at,
        ...(kind === "queue" ? { consumer: consumerOf(env, r) } : {}) }));
    }
    return json(out);
  }
  if (parts[0] === "resources" && req.method === "POST") {
    const body = await req.json();
    if (!KINDS[body.kind]) return json({ error: `kind must be one of ${Object.keys(KINDS).join(", ")}` }, 400);
    if (typeof body.id !== "string" || !body.id) return json({ error: "id is required" }, 400);
    let row = await resolve(env, body.kind, body.id, { name: body.name });
    if (body.kind === "queue" && body.consumer) {
      const c = body.consumer === "http_pull" || body.consumer.type === "http_pull"
        ? { type: "http_pull", settings: { batch_size: 5, max_retries: 3, visibility_timeout_ms: 30000, retry_delay: 0, ...(body.consumer.settings || {}) } }
        : { type: "worker", script_name: "edge-consumer", settings: { batch_size: 10, max_retries: 3 } };
      row = await setConfig(env, "queue", body.id, { ...row.config, consumer: c });
    }
    return json({ kind: body.kind, id: row.id, name: row.name, slot: row.slot, ...(body.kind === "queue" ? { consumer: consumerOf(env, row) } : {}) });
  }
  if (parts[0] === "delivered" && req.method === "GET") {
    const q = url.searchParams.get("queue");
    const since = parseInt(url.searchParams.get("since") || "0", 10) || 0;
    const stmt = q
      ? env.META.prepare("SELECT * FROM delivered WHERE (queue_id = ?1 OR queue_name = ?1) AND seq > ?2 ORDER BY seq").bind(q, since)
      : env.META.prepare("SELECT * FROM delivered WHERE seq > ? ORDER BY seq").bind(since);
    const { results } = await stmt.all();
    return json(results.map((r) => ({ ...r, body: JSON.parse(r.body) })));
  }
  if (parts[0] === "analytics" && req.method === "GET") {
    // the data points app Workers wrote (worker/analytics.mjs), oldest first
    const exists = await env.AE_STORE.prepare("SELECT 1 FROM sqlite_master WHERE name = 'points'").first();
    if (!exists) return json([]);
    const ds = url.searchParams.get("dataset");
    const stmt = ds ? env.AE_STORE.prepare("SELECT * FROM points WHERE dataset = ?1 ORDER BY seq").bind(ds)
      : env.AE_STORE.prepare("SELECT * FROM points ORDER BY seq");
    const { results } = await stmt.all();
    return json(results.map((r) => ({ dataset: r.dataset, worker: r.worker, timestamp: r.timestamp, ...JSON.parse(r.point) })));
  }
  return json({ error: "no such internal route" }, 404);
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const path = url.pathname;
    const trusted = env.EDGE_INTERNAL_SECRET && req.headers.get("x-edge-internal") === env.EDGE_INTERNAL_SECRET;
    try {
      if (path.startsWith("/__edge/d1-upload/")) {
        return await handleImportUpload(req, env, path.slice("/__edge/d1-upload/".length));
      }
      if (path.startsWith("/__edge/internal/")) {
        if (!trusted) return new Response("forbidden", { status: 403 });
        return await internal(req, env, path.slice("/__edge/internal/".length).split("/"));
      }
      if (path === "/client/v4" || path.startsWith("/client/v4/")) {
        return await rest(req, env, path.slice("/client/v4".length));
      }
    } catch (e) {
      if (!(e instanceof ApiError)) console.error("edge worker error", e && e.stack ? e.stack : e);
      return errorResponse(e);
    }
    if (!trusted || req.headers.get("x-edge-s3-verified") !== "1") {
      return s3ErrorResponse(Object.assign(new Error("Access Denied"), {}), path);
    }
    return handleS3(req, env);
  },

  async queue(batch, env) {
    await dispatchBatch(batch, env);
  },
};
