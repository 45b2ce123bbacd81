// Queues REST endpoints: push (single and batch) into real Queue producer
// bindings, and an HTTP pull consumer (leases, acks, retries) for queues whose
// consumer is of type http_pull.
import { ApiError, envelope, readJson, utf8len, b64encode, utf8, randomHex } from "./util.mjs";
import { resolve, lookup, list, binding, setConfig, ensureSchema } from "./registry.mjs";

export const Q_LIMITS = {
  messageBytes: 128_000, // 1 KB = 1000 B
  metadataOverhead: 100, // counted against the message size, as the service does
  batchMessages: 100,
  batchBytes: 256_000,
  maxDelaySeconds: 43_200,
  pullBatchMax: 100,
  visibilityMaxMs: 43_200_000,
};

const E = {
  notFound: 10104,
  malformedId: 10107,
  batchDelayInvalid: 10202,
  metadataInvalid: 10203,
  messageSize: 10204,
  batchSize: 10205,
  batchCount: 10206,
  badJson: 10207,
  badBody: 10208,
  noPullConsumer: 10210,
};

function defaultConsumer(env) {
  return env.EDGE_QUEUE_DEFAULT_CONSUMER === "http_pull"
    ? { type: "http_pull", settings: { batch_size: 5, max_retries: 3, visibility_timeout_ms: 30000, retry_delay: 0 } }
    : { type: "worker", script_name: "edge-consumer", settings: { batch_size: 10, max_retries: 3, max_wait_time_ms: 1000 } };
}

export function consumerOf(env, row) {
  return row.config && row.config.consumer ? row.config.consumer : defaultConsumer(env);
}

function queueInfo(env, row) {
  const c = consumerOf(env, row);
  return {
    queue_id: row.id,
    queue_name: row.name,
    created_on: row.created_at,
    modified_on: row.created_at,
    consumers: [{ ...c, queue_name: row.name, created_on: row.created_at }],
    consumers_total_count: 1,
    producers: [],
    producers_total_count: 0,
    settings: { delivery_delay: 0, delivery_paused: false, message_retention_period: 345600 },
  };
}

function checkDelay(v, code) {
  if (v === undefined || v === null) return 0;
  if (!Number.isInteger(v) || v < 0 || v > Q_LIMITS.maxDelaySeconds) {
    throw new ApiError(400, code, `delay_seconds must be an integer between 0 and ${Q_LIMITS.maxDelaySeconds}`);
  }
  return v;
}

// Validates one message and returns { body, contentType, size, delay }.
function prepareMessage(m, batchDelay) {
  if (!m || typeof m !== "object" || !("body" in m)) throw new ApiError(400, E.badBody, "message must have a `body`");
  const ct = m.content_type === undefined ? "json" : m.content_type;
  if (ct !== "json" && ct !== "text") {
    throw new ApiError(400, E.metadataInvalid, `content_type must be "json" or "text" over HTTP; got ${JSON.stringify(ct)}`);
  }
  let size;
  if (ct === "text") {
    if (typeof m.body !== "string") throw new ApiError(400, E.badBody, "a text message body must be a string");
    size = utf8len(m.body);
  } else {
    size = utf8len(JSON.stringify(m.body));
  }
  if (size + Q_LIMITS.metadataOverhead > Q_LIMITS.messageBytes) {
    throw new ApiError(413, E.messageSize,
      `message length of ${size} bytes (+${Q_LIMITS.metadataOverhead} bytes metadata) exceeds the limit of ${Q_LIMITS.messageBytes} bytes`);
  }
  const delay = m.delay_seconds !== undefined ? checkDelay(m.delay_seconds, E.metadataInvalid) : batchDelay;
  return { body: m.body, contentType: ct, size, delay };
}

const metrics = { metadata: { metrics: { backlog_count: 0, backlog_bytes: 0, oldest_message_timestamp_ms: 0 } } };

async function enqueue(env, row, msgs) {
  const c = consumerOf(env, row);
  if (c.type === "http_pull") {
    // Pull consumers read straight from the emulator's pull store (real content types kept).
    const now = Date.now();
    const stmt = env.META.prepare(
      "INSERT INTO pull_messages (queue_id, msg_id, body, content_type, attempts, timestamp_ms, visible_at) VALUES (?, ?, ?, ?, 0, ?, ?)");
    await env.META.batch(msgs.map((m) => stmt.bind(row.id, randomHex(16),
      m.contentType === "text" ? m.body : JSON.stringify(m.body), m.contentType, now, now + m.delay * 1000)));
    return;
  }
  const q = binding(env, "queue", row);
  if (msgs.length === 1) {
    const m = msgs[0];
    await q.send(m.body, { contentType: m.contentType, delaySeconds: m.delay });
  } else {
    await q.sendBatch(msgs.map((m) => ({ body: m.body, contentType: m.contentType, delaySeconds: m.delay })));
  }
}

export async function handleQueues(req, env, parts) {
  const method = req.method;
  if (parts.length === 0) {
    if (method === "GET") {
      const rows = await list(env, "queue");
      return envelope(rows.map((r) => queueInfo(env, r)), {
        result_info: { page: 1, per_page: rows.length, count: rows.length, total_count: rows.length, total_pages: 1 },
      });
    }
    if (method === "POST") {
      const body = await readJson(req, E.badJson);
      if (!body || typeof body.queue_name !== "string" || !/^[a-zA-Z0-9-]{1,63}$/.test(body.queue_name)) {
        throw new ApiError(400, 10101, "queue_name must be 1-63 letters, digits and dashes");
      }
      if ((await list(env, "queue")).some((r) => r.name === body.queue_name)) {
        throw new ApiError(400, 11009, `A queue with name ${body.queue_name} already exists`);
      }
      const row = await resolve(env, "queue", randomHex(16), { name: body.queue_name });
      return envelope(queueInfo(env, row));
    }
    throw new ApiError(405, 10405, "Method not allowed");
  }
  const id = decodeURIComponent(parts[0]);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new ApiError(400, E.malformedId, "QueueIDMalformed: the queue id is malformed");
  const sub = parts.slice(1).join("/");
  if (sub === "" && method === "GET") {
    const row = await lookup(env, "queue", id);
    if (!row) throw new ApiError(404, E.notFound, "QueueNotFound: queue not found");
    return envelope(queueInfo(env, row));
  }
  const row = await resolve(env, "queue", id);
  if (sub === "consumers") {
    if (method === "GET") return envelope([{ ...consumerOf(env, row), queue_name: row.name }]);
    if (method === "POST" || method === "PUT") {
      const body = await readJson(req, E.badJson);
      const type = body && body.type;
      if (type !== "http_pull" && type !== "worker") throw new ApiError(400, 10203, "type must be http_pull or worker");
      const s = body.settings || {};
      const consumer = type === "http_pull"
        ? { type, settings: { batch_size: s.batch_size ?? 5, max_retries: s.max_retries ?? 3,
            visibility_timeout_ms: s.visibility_timeout_ms ?? 30000, retry_delay: s.retry_delay ?? 0 },
            dead_letter_queue: body.dead_letter_queue }
        : { type, script_name: body.script_name || "edge-consumer", settings: { batch_size: 10, max_retries: 3 } };
      const nrow = await setConfig(env, "queue", id, { ...row.config, consumer });
      return envelope({ ...consumerOf(env, nrow), queue_name: row.name, consumer_id: randomHex(16) });
    }
    throw new ApiError(405, 10405, "Method not allowed");
  }
  if (method !== "POST") throw new ApiError(405, 10405, "Method not allowed");
  if (sub === "messages") {
    const body = await readJson(req, E.badJson);
    const m = prepareMessage(body, 0);
    await enqueue(env, row, [m]);
    return envelope(metrics);
  }
  if (sub === "messages/batch") {
    const body = await readJson(req, E.badJson);
    if (!body || !Array.isArray(body.messages)) throw new ApiError(400, E.badBody, "`messages` must be an array");
    if (body.messages.length === 0) throw new ApiError(400, E.batchCount, "BatchCountOutOfBounds: a batch must contain at least one message");
    if (body.messages.length > Q_LIMITS.batchMessages) {
      throw new ApiError(400, E.batchCount, `BatchCountOutOfBounds: batch message count of ${body.messages.length} exceeds limit of ${Q_LIMITS.batchMessages}`);
    }
    const batchDelay = checkDelay(body.delay_seconds, E.batchDelayInvalid);
    const msgs = body.messages.map((m) => prepareMessage(m, batchDelay));
    const total = msgs.reduce((a, m) => a + m.size, 0);
    if (total > Q_LIMITS.batchBytes) {
      throw new ApiError(413, E.batchSize, `BatchSizeOutOfBounds: batch size of ${total} bytes exceeds limit of ${Q_LIMITS.batchBytes}`);
    }
    await enqueue(env, row, msgs);
    return envelope(metrics);
  }
  if (sub === "messages/pull") return pull(req, env, row);
  if (sub === "messages/ack") return ack(req, env, row);
  throw new ApiError(404, 7003, `Could not route to ${new URL(req.url).pathname}, perhaps your object identifier is invalid?`);
}

function requirePull(env, row) {
  const c = consumerOf(env, row);
  if (c.type !== "http_pull") {
    throw new ApiError(400, E.noPullConsumer,
      "This queue has no http_pull consumer; add one with POST …/queues/{queue_id}/consumers {\"type\":\"http_pull\"}");
  }
  return c;
}

async function pull(req, env, row) {
  const c = requirePull(env, row);
  const text = await req.text();
  let body = {};
  if (text.trim()) {
    try { body = JSON.parse(text); } catch { throw new ApiError(400, E.badJson, "Could not parse request body as JSON"); }
  }
  const n = body.batch_size ?? c.settings.batch_size ?? 5;
  if (!Number.isInteger(n) || n < 1 || n > Q_LIMITS.pullBatchMax) {
    throw new ApiError(400, 10203, `batch_size must be an integer between 1 and ${Q_LIMITS.pullBatchMax}`);
  }
  const vis = body.visibility_timeout_ms ?? body.visibility_timeout ?? c.settings.visibility_timeout_ms ?? 30000;
  if (!Number.isInteger(vis) || vis < 0 || vis > Q_LIMITS.visibilityMaxMs) {
    throw new ApiError(400, 10203, `visibility_timeout_ms must be an integer between 0 and ${Q_LIMITS.visibilityMaxMs}`);
  }
  const maxAttempts = (c.settings.max_retries ?? 3) + 1;
  const now = Date.now();
  const lease = randomHex(8);
  // Messages whose attempts are used up are dropped (this emulator keeps no DLQ).
  const [, upd, cnt] = await env.META.batch([
    env.META.prepare("DELETE FROM pull_messages WHERE queue_id = ? AND visible_at <= ? AND attempts >= ?").bind(row.id, now, maxAttempts),
    env.META.prepare(
      `UPDATE pull_messages SET attempts = attempts + 1, visible_at = ?1, lease_id = ?2 || '.' || seq || '.' || lower(hex(randomblob(12)))
         WHERE seq IN (SELECT seq FROM pull_messages WHERE queue_id = ?3 AND visible_at <= ?4 ORDER BY seq LIMIT ?5)
         RETURNING *`).bind(now + vis, lease, row.id, now, n),
    env.META.prepare("SELECT count(*) AS n FROM pull_messages WHERE queue_id = ?").bind(row.id),
  ]);
  const messages = upd.results.sort((a, b) => a.seq - b.seq).map((m) => ({
    id: m.msg_id,
    attempts: m.attempts,
    body: m.content_type === "text" ? m.body : b64encode(utf8(m.body)),
    timestamp_ms: m.timestamp_ms,
    metadata: { "CF-Content-Type": m.content_type, "CF-sourceMessageSource": "api" },
    lease_id: m.lease_id,
  }));
  return envelope({ message_backlog_count: cnt.results[0].n, messages });
}

async function ack(req, env, row) {
  const c = requirePull(env, row);
  const body = await readJson(req, E.badJson);
  const acks = Array.isArray(body.acks) ? body.acks : [];
  const retries = Array.isArray(body.retries) ? body.retries : [];
  const now = Date.now();
  const warnings = {};
  let ackCount = 0, retryCount = 0;
  const stmts = [];
  for (const a of acks) {
    if (!a || typeof a.lease_id !== "string") throw new ApiError(400, 10203, "every ack needs a lease_id");
    stmts.push({ kind: "ack", lease: a.lease_id, st: env.META.prepare("DELETE FROM pull_messages WHERE queue_id = ? AND lease_id = ?").bind(row.id, a.lease_id) });
  }
  for (const r of retries) {
    if (!r || typeof r.lease_id !== "string") throw new ApiError(400, 10203, "every retry needs a lease_id");
    const d = checkDelay(r.delay_seconds ?? c.settings.retry_delay ?? 0, 10203);
    stmts.push({ kind: "retry", lease: r.lease_id, st: env.META.prepare("UPDATE pull_messages SET visible_at = ?, lease_id = NULL WHERE queue_id = ? AND lease_id = ?").bind(now + d * 1000, row.id, r.lease_id) });
  }
  if (stmts.length) {
    const res = await env.META.batch(stmts.map((s) => s.st));
    res.forEach((r, i) => {
      const s = stmts[i];
      if (r.meta.changes > 0) { if (s.kind === "ack") ackCount++; else retryCount++; }
      else warnings[s.lease] = "lease not found (already acknowledged, or re-leased after its visibility timeout)";
    });
  }
  return envelope({ ackCount, retryCount, warnings });
}

// ---- the consumer side: batches from the real queues ------------------------

export async function dispatchBatch(batch, env) {
  await ensureSchema(env);
  const slot = parseInt(batch.queue.slice(batch.queue.lastIndexOf("-") + 1), 10);
  const row = await env.META.prepare("SELECT * FROM resources WHERE kind = 'queue' AND slot = ?").bind(slot).first();
  if (!row) { batch.ackAll(); return; }
  row.config = JSON.parse(row.config || "{}");
  const c = consumerOf(env, row);
  const now = Date.now();
  if (c.type === "http_pull") {
    const stmt = env.META.prepare(
      "INSERT INTO pull_messages (queue_id, msg_id, body, content_type, attempts, timestamp_ms, visible_at) VALUES (?, ?, ?, ?, 0, ?, ?)");
    await env.META.batch(batch.messages.map((m) => stmt.bind(row.id, m.id,
      typeof m.body === "string" ? m.body : JSON.stringify(m.body), typeof m.body === "string" ? "text" : "json",
      m.timestamp.getTime(), now)));
    batch.ackAll();
    return;
  }
  const msgs = batch.messages.map((m) => ({ id: m.id, timestamp: m.timestamp, body: m.body, attempts: m.attempts }));
  let res;
  try {
    res = await env.CONSUMER.queue(row.name, msgs);
  } catch (e) {
    res = { outcome: "exception", error: String(e) };
  }
  const retryIds = new Map((res.retryMessages || []).map((r) => [r.msgId, r.delaySeconds]));
  const outcomeOf = (m) => {
    if (res.outcome !== "ok") return `retry (${res.outcome})`;
    if (res.retryBatch && res.retryBatch.retry) return "retry";
    if (retryIds.has(m.id)) return "retry";
    return "ack";
  };
  const ins = env.META.prepare(
    "INSERT INTO delivered (queue_id, queue_name, msg_id, body, attempts, timestamp_ms, delivered_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  await env.META.batch(batch.messages.map((m) => ins.bind(row.id, row.name, m.id, JSON.stringify(m.body ?? null), m.attempts,
    m.timestamp.getTime(), now, outcomeOf(m))));
  if (res.outcome !== "ok") { batch.retryAll(); return; }
  if (res.retryBatch && res.retryBatch.retry) { batch.retryAll(res.retryBatch.delaySeconds ? { delaySeconds: res.retryBatch.delaySeconds } : undefined); return; }
  for (const m of batch.messages) {
    if (retryIds.has(m.id)) {
      const d = retryIds.get(m.id);
      m.retry(d ? { delaySeconds: d } : undefined);
    } else {
      m.ack();
    }
  }
}
