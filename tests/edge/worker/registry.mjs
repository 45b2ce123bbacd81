// The emulator's own bookkeeping, kept in a real D1 database (binding META):
// which user-visible id (D1 database id, KV namespace id, queue id, R2 bucket)
// is backed by which pre-declared binding slot, plus state that the bindings
// themselves do not keep (pull-consumer leases, multipart part lists, imports).
import { ApiError } from "./util.mjs";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS resources (kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
     slot INTEGER NOT NULL, created_at TEXT NOT NULL, config TEXT NOT NULL DEFAULT '{}',
     PRIMARY KEY (kind, id))`,
  `CREATE UNIQUE INDEX IF NOT EXISTS resources_slot ON resources(kind, slot)`,
  `CREATE TABLE IF NOT EXISTS d1_imports (token TEXT PRIMARY KEY, db_id TEXT NOT NULL, etag TEXT NOT NULL,
     filename TEXT NOT NULL, uploaded_etag TEXT, status TEXT NOT NULL, bookmark TEXT,
     result TEXT, error TEXT, created_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS pull_messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue_id TEXT NOT NULL,
     msg_id TEXT NOT NULL, body TEXT NOT NULL, content_type TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
     timestamp_ms INTEGER NOT NULL, visible_at INTEGER NOT NULL, lease_id TEXT)`,
  `CREATE INDEX IF NOT EXISTS pull_messages_q ON pull_messages(queue_id, visible_at)`,
  `CREATE TABLE IF NOT EXISTS delivered (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue_id TEXT NOT NULL,
     queue_name TEXT NOT NULL, msg_id TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL,
     timestamp_ms INTEGER NOT NULL, delivered_at INTEGER NOT NULL, outcome TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS r2_uploads (upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
     created_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS r2_parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, etag TEXT NOT NULL,
     size INTEGER NOT NULL, last_modified TEXT NOT NULL, PRIMARY KEY (upload_id, part_number))`,
];

let schemaReady = null;
export function ensureSchema(env) {
  if (!schemaReady) {
    schemaReady = env.META.batch(SCHEMA.map((s) => env.META.prepare(s))).catch((e) => {
      schemaReady = null;
      throw e;
    });
  }
  return schemaReady;
}

export const KINDS = {
  d1: { prefix: "D1_", label: "D1 database" },
  kv: { prefix: "KV_", label: "KV namespace" },
  queue: { prefix: "Q_", label: "queue" },
  r2: { prefix: "R2_", label: "R2 bucket" },
};

export const slotName = (kind, slot) => `${KINDS[kind].prefix}${String(slot).padStart(2, "0")}`;

function slotCount(env, kind) {
  const slots = JSON.parse(env.EDGE_SLOTS || "{}");
  return slots[kind] ?? 0;
}

const cache = new Map(); // `${kind}\0${id}` -> row

function rowOut(row) {
  return { ...row, config: JSON.parse(row.config || "{}") };
}

export async function lookup(env, kind, id) {
  const k = `${kind}\0${id}`;
  if (cache.has(k)) return cache.get(k);
  await ensureSchema(env);
  const row = await env.META.prepare("SELECT * FROM resources WHERE kind = ? AND id = ?").bind(kind, id).first();
  if (!row) return null;
  const out = rowOut(row);
  cache.set(k, out);
  return out;
}

// Returns the registry row for (kind, id), creating it (and claiming the next
// free binding slot) when `create` is true and it does not exist yet.
export async function resolve(env, kind, id, { create = true, name } = {}) {
  const found = await lookup(env, kind, id);
  if (found || !create) return found;
  const max = slotCount(env, kind);
  await env.META.prepare(
    `INSERT INTO resources (kind, id, name, slot, created_at)
       SELECT ?1, ?2, ?3, (SELECT coalesce(max(slot) + 1, 0) FROM resources WHERE kind = ?1), ?4
       WHERE (SELECT count(*) FROM resources WHERE kind = ?1) < ?5
     ON CONFLICT (kind, id) DO NOTHING`,
  ).bind(kind, id, name ?? id, new Date().toISOString(), max).run();
  const row = await lookup(env, kind, id);
  if (!row) {
    throw new ApiError(400, 10004,
      `edge emulator: no free ${KINDS[kind].label} slot (all ${max} in use); reset the emulator or raise EDGE_SLOTS_${kind.toUpperCase()}`);
  }
  return row;
}

export async function list(env, kind) {
  await ensureSchema(env);
  const { results } = await env.META.prepare("SELECT * FROM resources WHERE kind = ? ORDER BY created_at, slot").bind(kind).all();
  return results.map(rowOut);
}

export async function setConfig(env, kind, id, config) {
  await env.META.prepare("UPDATE resources SET config = ? WHERE kind = ? AND id = ?").bind(JSON.stringify(config), kind, id).run();
  cache.delete(`${kind}\0${id}`);
  return lookup(env, kind, id);
}

export function binding(env, kind, row) {
  const b = env[slotName(kind, row.slot)];
  if (!b) throw new ApiError(500, 10002, `edge emulator: binding ${slotName(kind, row.slot)} missing`);
  return b;
}
