// wal2edge reference queue consumer: applies wal2edge change events (docs/events.md) to a
// D1 database, idempotently and whatever the delivery order.
//
// Queues deliver at least once and in no particular order, so every event is applied
// under a per-row guard: the table _wal2edge_rows remembers, for each (table, key), the
// position (commit LSN, index in the transaction) of the last event applied to it. An
// event at or before that position is a duplicate or arrived late, and is skipped. The
// checks, changes and guard updates of all of a queue batch's messages, and the consumer's
// checkpoint (_wal2edge_consumer), run in one D1 batch (one transaction, one subrequest), so
// a crash or a redelivery can never apply an event twice or half-way, and consumers running
// concurrently (max_concurrency > 1) converge whatever the interleaving (docs/scale.md). Deletes leave their
// guard row behind (a tombstone), so an insert delivered after its delete stays ignored.
// A truncate records a per-table watermark: rows last written before it are removed and
// events older than it are ignored.
//
// Each message is acked on success and retried on failure (and retried when it cannot be
// applied yet: an update with unchanged TOAST columns for a row not yet present, or a
// claim-check pointer without the CLAIMS bucket binding).
//
// Bindings: DB (D1; or, in the local edge emulator, env.EDGE + the REST API), optional
// CLAIMS (R2 bucket holding claim-checked events), optional TABLE_MAP var: JSON object
// {"schema.table": "d1_table"} (default: the source table's name). Optional ANALYTICS
// (Analytics Engine dataset): one data point per table per batch ("Analytics Engine" below). Optional
// LIVE (the LiveChannel Durable Object class of workers/live) with the LIVE_CHANNELS var: the
// applied changes are published to the live channels before their messages are acked ("Live channels" below).

const GUARD_DDL = [
  "CREATE TABLE IF NOT EXISTS _wal2edge_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, lsn INTEGER NOT NULL, ord REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tbl, pk))",
  "CREATE TABLE IF NOT EXISTS _wal2edge_truncates (tbl TEXT PRIMARY KEY, lsn INTEGER NOT NULL, ord REAL NOT NULL)",
  "CREATE TABLE IF NOT EXISTS _wal2edge_shapes (tbl TEXT PRIMARY KEY, lsn INTEGER NOT NULL, ord REAL NOT NULL, shape TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS _wal2edge_consumer (queue TEXT PRIMARY KEY, lsn INTEGER NOT NULL, ord REAL NOT NULL, commit_lsn TEXT, events INTEGER NOT NULL, applied_ms INTEGER NOT NULL)",
];

// A D1 binding, or the REST API reached through a service binding (the local emulator).
function database(env, options) {
  if (env.DB) {
    return {
      async batch(stmts) {
        const res = await env.DB.batch(stmts.map((s) => env.DB.prepare(s.sql).bind(...(s.params || []))));
        return res.map((r) => r.results || []);
      },
    };
  }
  const id = options.d1DatabaseId || env.D1_DATABASE_ID;
  if (!env.EDGE || !id) throw new Error("no D1: bind DB (or EDGE and D1_DATABASE_ID in the emulator)");
  return {
    async batch(stmts) {
      const r = await env.EDGE.fetch(`http://edge/client/v4/accounts/${env.ACCOUNT_ID}/d1/database/${id}/query`, {
        method: "POST",
        headers: { authorization: `Bearer ${env.API_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ batch: stmts.map((s) => ({ sql: s.sql, params: (s.params || []).map(restParam) })) }),
      });
      const body = await r.json();
      if (!body.success) throw new Error(`d1: ${JSON.stringify(body.errors)}`);
      return body.result.map((x) => x.results || []);
    },
  };
}

// The REST API binds strings, numbers and null (integer affinity converts exact digits).
function restParam(v) {
  return typeof v === "bigint" ? v.toString() : v;
}

const q = (name) => `"${String(name).replace(/"/g, '""')}"`;

// {"$json": V}: a json/jsonb value that is JSON null, or that would read as this wrapper
// itself; null alone is always SQL NULL (docs/types.md, "The JSON rendering").
const isJsonWrapper = (v) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "$json" in v;

// A JSON value from the event as a D1 parameter, for a column of declared type `type`; `json`:
// the column is json/jsonb (the event's json_columns), so every value is stored as JSON text.
function param(v, type, json) {
  if (v === null || v === undefined) return null;
  if (isJsonWrapper(v)) return JSON.stringify(v.$json);
  if (json || typeof v === "object") return JSON.stringify(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && /BLOB/i.test(type || "") && /^\\x[0-9a-fA-F]*$/.test(v)) return { hex: v.slice(2) };
  return v;
}

// SQL placeholder for a parameter (BLOBs travel as hex: REST cannot bind them).
function ph(p, params) {
  if (p && typeof p === "object" && "hex" in p) {
    params.push(p.hex);
    return "unhex(?)";
  }
  params.push(p);
  return "?";
}

export function makeConsumer(options = {}) {
  let ready = false;
  const columns = new Map(); // d1 table -> Map(column -> declared type)

  async function tableColumns(db, table) {
    if (!columns.has(table)) {
      const [rows] = await db.batch([{ sql: `SELECT name, type FROM pragma_table_info(?)`, params: [table] }]);
      if (!rows.length) throw new Error(`d1 table "${table}" does not exist`);
      columns.set(table, new Map(rows.map((r) => [r.name, r.type])));
    }
    return columns.get(table);
  }

  function targetTable(env, ev) {
    const map = options.tableMap || (env.TABLE_MAP ? JSON.parse(env.TABLE_MAP) : {});
    return map[`${ev.source.schema}.${ev.source.table}`] || ev.source.table;
  }

  // Position of an event: (commit LSN, index in the source transaction), both from the id.
  function position(ev) {
    const [, idx] = String(ev.id).split(":");
    return { lsn: Number(ev.source.lsn), ord: Number(idx) };
  }

  const GUARD = `NOT EXISTS (SELECT 1 FROM _wal2edge_rows WHERE tbl = ? AND pk = ? AND (lsn > ? OR (lsn = ? AND ord >= ?)))
    AND NOT EXISTS (SELECT 1 FROM _wal2edge_truncates WHERE tbl = ? AND (lsn > ? OR (lsn = ? AND ord >= ?)))`;
  const guardParams = (table, pk, p) => [table, pk, p.lsn, p.lsn, p.ord, table, p.lsn, p.lsn, p.ord];
  const guardUpsert = (table, pk, p, deleted) => ({
    sql: `INSERT INTO _wal2edge_rows (tbl, pk, lsn, ord, deleted) SELECT ?, ?, ?, ?, ? WHERE ${GUARD}
          ON CONFLICT (tbl, pk) DO UPDATE SET lsn = excluded.lsn, ord = excluded.ord, deleted = excluded.deleted`,
    params: [table, pk, p.lsn, p.ord, deleted ? 1 : 0, ...guardParams(table, pk, p)],
  });

  function keyWhere(key, cols, params, json) {
    return Object.keys(key).map((k) => `${q(k)} IS ${ph(param(key[k], cols.get(k), json.has(k)), params)}`).join(" AND ");
  }

  function deleteStmts(table, cols, key, p, json) {
    const pk = JSON.stringify(key);
    const params = [];
    const where = keyWhere(key, cols, params, json);
    return [
      { sql: `DELETE FROM ${q(table)} WHERE ${where} AND ${GUARD}`, params: [...params, ...guardParams(table, pk, p)] },
      guardUpsert(table, pk, p, true),
    ];
  }

  // The statements applying a row event (guarded; run as one batch they are one transaction).
  async function rowStmts(db, table, ev) {
    const cols = await tableColumns(db, table);
    const p = position(ev);
    const key = ev.key;
    if (!key || typeof key !== "object") throw new Error(`${table}: event ${ev.id} has no key; cannot apply idempotently`);
    const pk = JSON.stringify(key);
    const json = new Set(ev.json_columns || []);
    if (ev.op === "d") return deleteStmts(table, cols, key, p, json);
    const stmts = [];
    // the key changed: remove the row under its old key (at the same position)
    if (ev.op === "u" && ev.before) {
      const oldKey = {};
      for (const k of Object.keys(key)) oldKey[k] = k in ev.before ? ev.before[k] : key[k];
      if (JSON.stringify(oldKey) !== pk) stmts.push(...deleteStmts(table, cols, oldKey, p, json));
    }
    const unchanged = new Set(ev.unchanged_toast || []);
    if (unchanged.size) {
      // only the columns sent can be written: the row must be there already
      const [rows] = await db.batch([{ sql: `SELECT 1 AS x FROM _wal2edge_rows WHERE tbl = ? AND pk = ? AND deleted = 0`, params: [table, pk] }]);
      if (!rows.length) throw new RetryLater(`${table} ${pk}: update with unchanged TOAST before the row exists`);
    }
    const names = Object.keys(ev.after).filter((c) => cols.has(c) && !unchanged.has(c));
    const setNames = names.filter((c) => !(c in key));
    const up = [];
    const sets = setNames.map((c) => `${q(c)} = ${ph(param(ev.after[c], cols.get(c), json.has(c)), up)}`);
    const kw = [];
    const where = keyWhere(key, cols, kw, json);
    if (sets.length) {
      stmts.push({ sql: `UPDATE ${q(table)} SET ${sets.join(", ")} WHERE ${where} AND ${GUARD}`, params: [...up, ...kw, ...guardParams(table, pk, p)] });
    }
    const ins = [];
    const values = names.map((c) => ph(param(ev.after[c], cols.get(c), json.has(c)), ins));
    const kw2 = [];
    const where2 = keyWhere(key, cols, kw2, json);
    stmts.push({
      sql: `INSERT INTO ${q(table)} (${names.map(q).join(", ")}) SELECT ${values.join(", ")}
            WHERE NOT EXISTS (SELECT 1 FROM ${q(table)} WHERE ${where2}) AND ${GUARD}`,
      params: [...ins, ...kw2, ...guardParams(table, pk, p)],
    });
    stmts.push(guardUpsert(table, pk, p, false));
    return stmts;
  }

  async function truncateStmts(db, table, ev) {
    const p = position(ev);
    const cols = await tableColumns(db, table);
    const keyCols = [...cols.keys()];
    // rows whose guard is newer than the truncate survive (written after it, delivered before it)
    const [keys] = await db.batch([{ sql: `SELECT pk FROM _wal2edge_rows WHERE tbl = ? AND deleted = 0 AND (lsn > ? OR (lsn = ? AND ord > ?))`, params: [table, p.lsn, p.lsn, p.ord] }]);
    const keep = keys.map((r) => JSON.parse(r.pk));
    const stmts = [
      {
        sql: `INSERT INTO _wal2edge_truncates (tbl, lsn, ord) VALUES (?, ?, ?) ON CONFLICT (tbl) DO UPDATE SET lsn = excluded.lsn, ord = excluded.ord
              WHERE excluded.lsn > _wal2edge_truncates.lsn OR (excluded.lsn = _wal2edge_truncates.lsn AND excluded.ord > _wal2edge_truncates.ord)`,
        params: [table, p.lsn, p.ord],
      },
    ];
    const params = [];
    const conds = keep.map((k) => `NOT (${keyWhere(k, cols, params, new Set())})`);
    stmts.push({ sql: `DELETE FROM ${q(table)}${conds.length ? ` WHERE ${conds.join(" AND ")}` : ""}`, params });
    stmts.push({ sql: `UPDATE _wal2edge_rows SET deleted = 1, lsn = ?, ord = ? WHERE tbl = ? AND (lsn < ? OR (lsn = ? AND ord < ?))`, params: [p.lsn, p.ord, table, p.lsn, p.lsn, p.ord] });
    void keyCols;
    return stmts;
  }

  // D1 column type and DEFAULT clause of a Postgres column of a schema change.
  const affinity = (type) => /^(smallint|integer|bigint|boolean)\b/.test(type) ? "INTEGER"
    : /^(real|double precision)\b/.test(type) ? "REAL" : /^bytea\b/.test(type) ? "BLOB" : "TEXT";
  function defaultClause(expr) {
    if (expr == null) return "";
    const s = /^'((?:[^']|'')*)'(::[a-z0-9 _".(),[\]]+)?$/.exec(expr);
    if (s) return ` DEFAULT '${s[1]}'`;
    if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(expr)) return ` DEFAULT ${expr}`;
    if (expr === "true" || expr === "false") return ` DEFAULT ${expr === "true" ? 1 : 0}`;
    return ""; // not a constant: the rows already there keep NULL
  }

  // A schema change (op "s", docs/events.md): the D1 table follows it - columns renamed and
  // dropped by attnum against the last change applied (by name before the first, where a drop
  // together with an add may be a rename and is refused), then added with a constant default.
  // An older change than the last applied is skipped.
  async function schemaStmts(db, table, ev) {
    const d = ev.ddl;
    if (!d || d.event !== "ddl_command_end" || !Array.isArray(d.columns)) return [];
    const p = position(ev);
    const [rows] = await db.batch([{ sql: `SELECT lsn, ord, shape FROM _wal2edge_shapes WHERE tbl = ?`, params: [table] }]);
    const last = rows[0];
    if (last && (last.lsn > p.lsn || (last.lsn === p.lsn && last.ord >= p.ord))) return [];
    const next = new Map(await tableColumns(db, table));
    const stmts = [];
    const alter = (sql) => stmts.push({ sql: `ALTER TABLE ${q(table)} ${sql}` });
    if (last) {
      const prev = JSON.parse(last.shape);
      const nameOf = new Map(prev.map((c) => [c.attnum, c.name]));
      for (const c of d.columns) {
        const old = nameOf.get(c.attnum);
        if (old !== undefined && old !== c.name && next.has(old) && !next.has(c.name)) {
          alter(`RENAME COLUMN ${q(old)} TO ${q(c.name)}`);
          next.set(c.name, next.get(old));
          next.delete(old);
        }
      }
      const nums = new Set(d.columns.map((c) => c.attnum));
      for (const c of prev) if (!nums.has(c.attnum) && next.has(c.name)) { alter(`DROP COLUMN ${q(c.name)}`); next.delete(c.name); }
    } else {
      const names = new Set(d.columns.map((c) => c.name));
      const gone = [...next.keys()].filter((n) => !names.has(n)), added = d.columns.filter((c) => !next.has(c.name));
      if (gone.length && added.length) {
        throw new Error(`${table}: event ${ev.id}: columns ${gone.join(", ")} gone and ${added.map((c) => c.name).join(", ")} new, and no earlier schema change to tell a rename from a drop and an add`);
      }
      for (const n of gone) { alter(`DROP COLUMN ${q(n)}`); next.delete(n); }
    }
    for (const c of d.columns) {
      if (next.has(c.name)) continue;
      alter(`ADD COLUMN ${q(c.name)} ${affinity(c.type)}${defaultClause(c.default)}`);
      next.set(c.name, affinity(c.type));
    }
    stmts.push({ sql: `INSERT INTO _wal2edge_shapes (tbl, lsn, ord, shape) VALUES (?, ?, ?, ?)
                       ON CONFLICT (tbl) DO UPDATE SET lsn = excluded.lsn, ord = excluded.ord, shape = excluded.shape`,
                 params: [table, p.lsn, p.ord, JSON.stringify(d.columns.map(({ attnum, name }) => ({ attnum, name })))] });
    columns.set(table, next); // the events after it in this batch are written in the new shape
    return stmts;
  }

  async function resolveClaim(env, ev) {
    if (!ev.claim_check) return ev;
    if (!env.CLAIMS) throw new RetryLater(`event ${ev.id} is in R2 (${ev.claim_check.key}) but CLAIMS is not bound`);
    const obj = await env.CLAIMS.get(ev.claim_check.key);
    if (!obj) throw new RetryLater(`claim-check object ${ev.claim_check.key} not found`);
    return JSON.parse(await obj.text());
  }

  // A message's event and the statements applying it; null for a message that is not a
  // wal2edge change (acked, nothing to do).
  async function prepare(env, db, raw) {
    const ev = await resolveClaim(env, typeof raw === "string" ? JSON.parse(raw) : raw);
    if (!ev || !ev.source || !ev.op) return null;
    const table = targetTable(env, ev);
    if (ev.op === "t") return { ev, stmts: await truncateStmts(db, table, ev) };
    if (ev.op === "s") return { ev, stmts: await schemaStmts(db, table, ev) };
    if (ev.op === "c" || ev.op === "u" || ev.op === "d" || ev.op === "r") return { ev, stmts: await rowStmts(db, table, ev) };
    return null;
  }

  // The consumer's checkpoint, in the same D1 batch as the rows it covers: the newest
  // position this queue's consumer applied, and when (the per-row guards are what make the
  // apply effectively-once; this row says how far the consumer got, docs/scale.md).
  function checkpointStmt(queue, events) {
    let top = null;
    for (const ev of events) {
      const p = position(ev);
      if (!top || p.lsn > top.lsn || (p.lsn === top.lsn && p.ord > top.ord)) top = { ...p, commit: ev.source.commit_lsn || null };
    }
    return {
      sql: `INSERT INTO _wal2edge_consumer (queue, lsn, ord, commit_lsn, events, applied_ms) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (queue) DO UPDATE SET events = _wal2edge_consumer.events + excluded.events, applied_ms = excluded.applied_ms,
              lsn = max(_wal2edge_consumer.lsn, excluded.lsn),
              ord = CASE WHEN excluded.lsn > _wal2edge_consumer.lsn THEN excluded.ord WHEN excluded.lsn = _wal2edge_consumer.lsn THEN max(_wal2edge_consumer.ord, excluded.ord) ELSE _wal2edge_consumer.ord END,
              commit_lsn = CASE WHEN excluded.lsn > _wal2edge_consumer.lsn THEN excluded.commit_lsn ELSE _wal2edge_consumer.commit_lsn END`,
      params: [String(queue || ""), top.lsn, top.ord, top.commit, events.length, Date.now()],
    };
  }

  // Applies the prepared messages: all in one D1 batch (one transaction, one subrequest) with
  // the checkpoint; when that batch fails, each message alone, so only the bad one is retried.
  // Returns the messages applied and the failed ones with their error.
  async function applyAll(db, queue, prepared) {
    if (!prepared.length) return { ok: [], failed: [] };
    try {
      await db.batch([...prepared.flatMap((x) => x.stmts), checkpointStmt(queue, prepared.map((x) => x.ev))]);
      return { ok: prepared, failed: [] };
    } catch (e) {
      if (prepared.length === 1) return { ok: [], failed: [{ ...prepared[0], error: e }] };
    }
    const ok = [], failed = [];
    for (const x of prepared) {
      try {
        await db.batch([...x.stmts, checkpointStmt(queue, [x.ev])]);
        ok.push(x);
      } catch (error) {
        failed.push({ ...x, error });
      }
    }
    return { ok, failed };
  }

  return {
    async queue(batch, env) {
      const db = database(env, options);
      if (!ready) {
        await db.batch(GUARD_DDL.map((sql) => ({ sql })));
        ready = true;
      }
      const channels = env.LIVE ? parseChannelMap(env.LIVE_CHANNELS) : null; // a bad var fails the batch here
      const applied = []; // { m, ev, at }: applied to D1, acked once published live
      const retried = [];   // tables of the messages retried
      const retry = (m, body) => {
        retried.push(tableOf(typeof body === "string" ? safeParse(body) : body));
        m.retry({ delaySeconds: options.retryDelaySeconds ?? 1 });
      };
      const fail = (m, body, e) => {
        if (!(e instanceof RetryLater)) console.error(`wal2edge consumer: message ${m.id}: ${e && e.message}`);
        columns.clear(); // the schema may have changed
        retry(m, body);
      };
      const prepared = [];
      for (const m of batch.messages) {
        try {
          const x = await prepare(env, db, m.body);
          if (x) prepared.push({ m, ...x });
          else m.ack();
        } catch (e) {
          fail(m, m.body, e);
        }
      }
      const done = await applyAll(db, batch.queue, prepared);
      for (const x of done.failed) fail(x.m, x.m.body, x.error);
      const at = Date.now();
      for (const x of done.ok) applied.push({ m: x.m, ev: x.ev, at });
      // a message whose change did not reach its live channels is retried: D1's guard skips it
      // the second time and the channel drops the duplicate
      const failed = channels && applied.length ? await publishLive(env.LIVE, channels, applied.map((a) => a.ev)) : new Set();
      for (const a of applied) {
        if (failed.has(a.ev)) retry(a.m, a.ev);
        else a.m.ack();
      }
      writePoints(env.ANALYTICS, batchPoints(batch.queue, applied.filter((a) => !failed.has(a.ev)), retried));
    },
  };
}

// ---- Analytics Engine ----
// Data points for one consumed batch: one point per source table, so the SQL
// API can chart events and replication lag (commit in Postgres -> applied by this consumer) by
// table. The layout is a contract with the queries in docs/workers.md:
//   index1 = blob1 = "schema.table", blob2 = the queue's name,
//   double1 events applied, double2 events retried, double3 sum of their lags (ms),
//   double4 the largest lag (ms), double5 inserts (and snapshot reads), double6 updates,
//   double7 deletes, double8 truncates.
// Lag is the consumer's clock when the event was applied minus the commit time (source.ts_ms).

const OPS = { c: 4, r: 4, u: 5, d: 6, t: 7 };

function batchPoints(queue, applied, retried) {
  const byTable = new Map();
  const row = (table) => {
    if (!byTable.has(table)) byTable.set(table, [0, 0, 0, 0, 0, 0, 0, 0]);
    return byTable.get(table);
  };
  for (const { ev, at } of applied) {
    const d = row(tableOf(ev));
    const lag = Math.max(0, at - Number(ev.source.ts_ms));
    d[0] += 1;
    d[2] += lag;
    d[3] = Math.max(d[3], lag);
    if (ev.op in OPS) d[OPS[ev.op]] += 1;
  }
  for (const table of retried) row(table)[1] += 1;
  return [...byTable].map(([table, doubles]) => ({ indexes: [table], blobs: [table, String(queue || "")], doubles }));
}

function tableOf(ev) {
  return ev && ev.source ? `${ev.source.schema}.${ev.source.table}` : "unknown";
}

// Writing a data point never fails the batch: analytics are best effort.
function writePoints(dataset, points) {
  if (!dataset) return;
  for (const p of points) {
    try {
      dataset.writeDataPoint(p);
    } catch (e) {
      console.error(`wal2edge consumer: analytics data point for ${p.blobs[0]}: ${e && e.message}`);
    }
  }
}

// ---- Live channels ----
// Publishing applied changes to the live channels (workers/live): each event goes to the
// channels its table's templates name, one POST per channel per batch, in the batch's order.
//
// LIVE_CHANNELS (a JSON var) maps "schema.table" (or "*" for every other table) to a list of
// channel templates; {schema}, {table} and {COLUMN} are replaced by the event's values (COLUMN
// from the new row, or the old one for a delete). Without it every table has one channel,
// "{schema}.{table}". A template naming a column the event lacks (a truncate, an excluded
// column) is left out for that event.

const DEFAULT_TEMPLATES = ["{schema}.{table}"];

function channelsOf(map, ev) {
  const table = `${ev.source.schema}.${ev.source.table}`;
  const templates = map[table] || map["*"] || DEFAULT_TEMPLATES;
  const row = ev.after || ev.before || ev.key || {};
  const out = [];
  for (const t of templates) {
    let missing = false;
    const name = t.replace(/\{([^{}]+)\}/g, (_, c) => {
      if (c === "schema") return ev.source.schema;
      if (c === "table") return ev.source.table;
      const v = row[c];
      if (v === undefined || v === null || typeof v === "object") missing = true;
      return String(v);
    });
    if (!missing && !out.includes(name)) out.push(name);
  }
  return out;
}

function parseChannelMap(text) {
  if (!text) return {};
  let map;
  try {
    map = JSON.parse(text);
  } catch (e) {
    throw new Error(`LIVE_CHANNELS is not JSON: ${e.message}`);
  }
  if (!map || typeof map !== "object" || Array.isArray(map)) throw new Error(`LIVE_CHANNELS must be an object {"schema.table": ["channel template", ...]}`);
  for (const [k, v] of Object.entries(map)) {
    if (!Array.isArray(v) || v.some((t) => typeof t !== "string")) throw new Error(`LIVE_CHANNELS["${k}"] must be a list of channel templates`);
  }
  return map;
}

// What a subscriber receives of an event (docs/workers.md, "The live channel").
function liveChange(ev) {
  return {
    pos: ev.id, op: ev.op, table: `${ev.source.schema}.${ev.source.table}`, key: ev.key,
    row: ev.after, before: ev.before, commit_ts_ms: ev.source.ts_ms,
  };
}

// Publishes the events; returns the set of events whose publishing failed (to be retried).
async function publishLive(namespace, map, events) {
  const byChannel = new Map();
  for (const ev of events) {
    for (const ch of channelsOf(map, ev)) {
      if (!byChannel.has(ch)) byChannel.set(ch, []);
      byChannel.get(ch).push(ev);
    }
  }
  const failed = new Set();
  await Promise.all([...byChannel].map(async ([channel, evs]) => {
    try {
      const stub = namespace.get(namespace.idFromName(channel));
      const r = await stub.fetch("https://live/publish", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ changes: evs.map(liveChange) }),
      });
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    } catch (e) {
      console.error(`wal2edge consumer: live channel ${channel}: ${e && e.message}`);
      for (const ev of evs) failed.add(ev);
    }
  }));
  return failed;
}

class RetryLater extends Error {}

function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export default makeConsumer();
