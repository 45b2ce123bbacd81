// D1 REST endpoints on top of real D1 bindings.
import { ApiError, envelope, readJson, utf8len, randomHex, md5Hex } from "./util.mjs";
import { resolve, lookup, list, binding } from "./registry.mjs";
import { splitSql, leadingKeyword } from "./sqlsplit.mjs";

const MAX_VALUE_BYTES = 2_000_000;
const D1_ERR = 7500;
const D1_BAD_REQUEST = 7400;

function sqlError(e) {
  if (e instanceof ApiError) return e;
  let msg = String(e && e.message ? e.message : e);
  msg = msg.replace(/^D1_(?:EXEC_)?ERROR:\s*/, "").replace(/^Error:\s*/, "");
  return new ApiError(400, D1_ERR, msg);
}

function checkParam(p) {
  if (p === null || typeof p === "string" || typeof p === "number") {
    if (typeof p === "string" && utf8len(p) > MAX_VALUE_BYTES) {
      throw new ApiError(400, D1_ERR, "string or blob too big: SQLITE_TOOBIG");
    }
    return p;
  }
  if (typeof p === "boolean") return p ? 1 : 0;
  throw new ApiError(400, D1_BAD_REQUEST, `params must be strings, numbers or null; got ${JSON.stringify(p)}`);
}

// Turns either body form into a flat list of { sql, params } statements.
export function statementsFromBody(body) {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError(400, D1_BAD_REQUEST, "Request body must be an object with `sql` or `batch`");
  }
  const units = [];
  if (Array.isArray(body.batch)) {
    if (body.batch.length === 0) throw new ApiError(400, D1_BAD_REQUEST, "`batch` must not be empty");
    for (const item of body.batch) units.push(item);
  } else if (body.sql !== undefined) {
    units.push(body);
  } else {
    throw new ApiError(400, D1_BAD_REQUEST, "Request body must contain `sql` or `batch`");
  }
  const out = [];
  for (const u of units) {
    if (!u || typeof u.sql !== "string") throw new ApiError(400, D1_BAD_REQUEST, "`sql` must be a string");
    const params = u.params === undefined || u.params === null ? [] : u.params;
    if (!Array.isArray(params)) throw new ApiError(400, D1_BAD_REQUEST, "`params` must be an array");
    const stmts = splitSql(u.sql);
    if (stmts.length === 0) throw new ApiError(400, D1_ERR, "No SQL statements detected.");
    // Several statements in one `sql`: bound parameters are handed out in order,
    // each statement taking as many as it has placeholders; the last takes the rest.
    let pos = 0;
    stmts.forEach((s, i) => {
      const take = i === stmts.length - 1 ? params.length - pos : Math.min(s.nparams, params.length - pos);
      out.push({ sql: s.sql, params: params.slice(pos, pos + take).map(checkParam) });
      pos += take;
    });
  }
  return out;
}

function shapeMeta(m = {}) {
  return {
    changed_db: !!m.changed_db,
    changes: m.changes ?? 0,
    duration: m.duration ?? 0,
    last_row_id: m.last_row_id ?? 0,
    rows_read: m.rows_read ?? 0,
    rows_written: m.rows_written ?? 0,
    size_after: m.size_after ?? 0,
    served_by_primary: true,
    served_by_region: "WEUR",
    served_by_colo: "LOCAL",
    timings: { sql_duration_ms: m.duration ?? 0 },
  };
}

const READS = new Set(["SELECT", "WITH", "PRAGMA", "VALUES", "EXPLAIN"]);

// Runs the statements as one D1 batch: one implicit transaction, so a failing
// statement rolls back every statement of the request.
export async function execute(db, stmts, raw) {
  let results;
  try {
    results = await db.batch(stmts.map((s) => db.prepare(s.sql).bind(...s.params)));
  } catch (e) {
    throw sqlError(e);
  }
  const out = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    const rows = r.results || [];
    if (!raw) {
      out.push({ results: rows, success: true, meta: shapeMeta(r.meta) });
      continue;
    }
    let columns = rows.length ? Object.keys(rows[0]) : [];
    if (!rows.length && READS.has(leadingKeyword(stmts[i].sql))) {
      try {
        const [cols] = await db.prepare(stmts[i].sql).bind(...stmts[i].params).raw({ columnNames: true });
        columns = cols || [];
      } catch { /* columns stay empty */ }
    }
    out.push({
      results: { columns, rows: rows.map((row) => columns.map((c) => row[c])) },
      success: true,
      meta: shapeMeta(r.meta),
    });
  }
  return out;
}

function dbInfo(row, extra = {}) {
  return {
    uuid: row.id,
    name: row.name,
    created_at: row.created_at,
    version: "production",
    num_tables: extra.num_tables ?? 0,
    file_size: extra.file_size ?? 0,
    read_replication: { mode: "disabled" },
  };
}

async function dbStats(env, row) {
  const db = binding(env, "d1", row);
  try {
    const r = await db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all();
    return { num_tables: r.results[0].n, file_size: r.meta.size_after ?? 0 };
  } catch {
    return {};
  }
}

function notFound(id) {
  return new ApiError(404, 7404, `The database ${id} could not be found`);
}

export async function handleD1(req, env, parts, ctx) {
  // parts: path segments after /accounts/{acc}/d1/database
  const method = req.method;
  if (parts.length === 0) {
    if (method === "GET") {
      const url = new URL(req.url);
      let rows = await list(env, "d1");
      const name = url.searchParams.get("name");
      if (name) rows = rows.filter((r) => r.name === name);
      const page = Math.max(1, parseInt(url.searchParams.get("page") || "1", 10) || 1);
      const per = Math.min(10000, Math.max(1, parseInt(url.searchParams.get("per_page") || "1000", 10) || 1000));
      const slice = rows.slice((page - 1) * per, page * per);
      return envelope(slice.map((r) => dbInfo(r)), {
        result_info: { page, per_page: per, count: slice.length, total_count: rows.length },
      });
    }
    if (method === "POST") {
      const body = await readJson(req, D1_BAD_REQUEST);
      if (!body || typeof body.name !== "string" || !body.name) throw new ApiError(400, D1_BAD_REQUEST, "`name` is required");
      if ((await list(env, "d1")).some((r) => r.name === body.name)) {
        throw new ApiError(400, 7502, `A database with that name already exists`);
      }
      const id = crypto.randomUUID();
      const row = await resolve(env, "d1", id, { name: body.name });
      return envelope(dbInfo(row));
    }
    throw methodNotAllowed();
  }
  const id = decodeURIComponent(parts[0]);
  const action = parts.slice(1).join("/");
  if (action === "") {
    if (method === "GET") {
      const row = await lookup(env, "d1", id);
      if (!row) throw notFound(id);
      return envelope(dbInfo(row, await dbStats(env, row)));
    }
    throw methodNotAllowed();
  }
  if (method !== "POST") throw methodNotAllowed();
  const row = await resolve(env, "d1", id);
  const db = binding(env, "d1", row);
  if (action === "query" || action === "raw") {
    const body = await readJson(req, D1_BAD_REQUEST);
    const stmts = statementsFromBody(body);
    return envelope(await execute(db, stmts, action === "raw"));
  }
  if (action === "import") return handleImport(req, env, row, db);
  throw new ApiError(404, 7003, `Could not route to ${new URL(req.url).pathname}, perhaps your object identifier is invalid?`);
}

function methodNotAllowed() {
  return new ApiError(405, 10405, "Method not allowed");
}

// ---- /import: init -> PUT upload_url -> ingest -> poll ----------------------

async function importRowByEtag(env, dbId, etag) {
  return env.META.prepare("SELECT * FROM d1_imports WHERE db_id = ? AND etag = ? ORDER BY created_at DESC LIMIT 1").bind(dbId, etag).first();
}

function pollResponse(imp) {
  if (imp.status === "complete") {
    return { success: true, type: "import", status: "complete", at_bookmark: imp.bookmark, messages: ["Import complete"], errors: [], result: JSON.parse(imp.result) };
  }
  if (imp.status === "error") {
    return { success: false, type: "import", status: "error", at_bookmark: imp.bookmark, messages: [], errors: [imp.error], error: imp.error };
  }
  return { success: true, type: "import", status: "active", at_bookmark: imp.bookmark, messages: ["Import in progress"], errors: [] };
}

async function handleImport(req, env, row, db) {
  const body = await readJson(req, D1_BAD_REQUEST);
  const action = body && body.action;
  if (action === "init") {
    if (typeof body.etag !== "string" || !/^[0-9a-f]{32}$/i.test(body.etag)) {
      throw new ApiError(400, D1_BAD_REQUEST, "`etag` must be the MD5 hex digest of the file");
    }
    const etag = body.etag.toLowerCase();
    const prev = await importRowByEtag(env, row.id, etag);
    if (prev && (prev.status === "active" || prev.status === "complete")) {
      return envelope(pollResponse(prev));
    }
    const token = randomHex(16);
    const filename = `database/${row.id}/import/${etag}.sql`;
    await env.META.prepare("INSERT INTO d1_imports (token, db_id, etag, filename, status, created_at) VALUES (?, ?, ?, ?, 'pending', ?)")
      .bind(token, row.id, etag, filename, new Date().toISOString()).run();
    const origin = new URL(req.url).origin;
    return envelope({ filename, upload_url: `${origin}/__edge/d1-upload/${token}` });
  }
  if (action === "ingest") {
    const etag = String(body.etag || "").toLowerCase();
    const imp = await env.META.prepare("SELECT * FROM d1_imports WHERE db_id = ? AND etag = ? AND filename = ? ORDER BY created_at DESC LIMIT 1")
      .bind(row.id, etag, String(body.filename || "")).first();
    if (!imp) throw new ApiError(400, D1_BAD_REQUEST, "No import was initialised with that etag and filename");
    if (imp.status === "complete" || imp.status === "active") return envelope(pollResponse(imp));
    if (imp.uploaded_etag !== etag) {
      throw new ApiError(400, D1_BAD_REQUEST, "The uploaded file is missing or its MD5 does not match the etag");
    }
    const obj = await env.R2_INTERNAL.get(`d1-import/${imp.token}`);
    if (!obj) throw new ApiError(400, D1_BAD_REQUEST, "The uploaded file is missing");
    const sql = await obj.text();
    const bookmark = `${String(Date.now().toString(16)).padStart(8, "0")}-00000001-00000000-${imp.token}`;
    let status = "complete", result = null, error = null;
    try {
      const stmts = statementsFromBody({ sql });
      const res = await execute(db, stmts, false);
      const sum = (k) => res.reduce((a, r) => a + (r.meta[k] || 0), 0);
      const last = res[res.length - 1].meta;
      result = {
        final_bookmark: bookmark,
        num_queries: res.length,
        meta: {
          duration: sum("duration"), rows_read: sum("rows_read"), rows_written: sum("rows_written"),
          changes: sum("changes"), changed_db: res.some((r) => r.meta.changed_db), size_after: last.size_after,
          last_row_id: last.last_row_id,
        },
      };
    } catch (e) {
      status = "error";
      error = e instanceof ApiError ? e.message : String(e.message || e);
    }
    await env.META.prepare("UPDATE d1_imports SET status = ?, bookmark = ?, result = ?, error = ? WHERE token = ?")
      .bind(status, bookmark, result && JSON.stringify(result), error, imp.token).run();
    await env.R2_INTERNAL.delete(`d1-import/${imp.token}`);
    // Like the service, ingest answers with a polling response; the client polls until complete/error.
    return envelope({ success: true, type: "import", status: "active", at_bookmark: bookmark, messages: ["Uploaded part 1 of 1", "Import started"], errors: [] });
  }
  if (action === "poll") {
    const bm = String(body.current_bookmark || "");
    const imp = bm && (await env.META.prepare("SELECT * FROM d1_imports WHERE db_id = ? AND bookmark = ?").bind(row.id, bm).first());
    if (!imp) return envelope({ success: false, error: "Not currently importing anything." });
    return envelope(pollResponse(imp));
  }
  throw new ApiError(400, D1_BAD_REQUEST, "`action` must be one of init, ingest, poll");
}

// Unauthenticated PUT target of upload_url (stands in for R2's presigned URL).
export async function handleImportUpload(req, env, token) {
  if (req.method !== "PUT") return new Response("Method Not Allowed", { status: 405 });
  await (await import("./registry.mjs")).ensureSchema(env);
  const imp = await env.META.prepare("SELECT * FROM d1_imports WHERE token = ?").bind(token).first();
  if (!imp) return new Response("<Error><Code>NoSuchUpload</Code></Error>", { status: 404, headers: { "content-type": "application/xml" } });
  const data = new Uint8Array(await req.arrayBuffer());
  const md5 = await md5Hex(data);
  await env.R2_INTERNAL.put(`d1-import/${token}`, data);
  await env.META.prepare("UPDATE d1_imports SET uploaded_etag = ? WHERE token = ?").bind(md5, token).run();
  return new Response(null, { status: 200, headers: { etag: `"${md5}"` } });
}
