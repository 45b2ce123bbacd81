// The whole loop, locally: a database of the local Postgres (scripts/pg-local.sh) with the demo
// shop (sql/demo.sql); the local edge (tests/edge) running the shop Worker, bundled by wrangler as
// for a deploy, bound to the same D1 database and KV namespace its REST API serves and to
// Hyperdrive on that database; and `wal2edge run` writing D1 and KV through the REST API (the
// production code path). Used by the loop test and bench/workers.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_readConfig } from "wrangler";
import { startEdge, request } from "../../../tests/edge/test/helpers.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SHOP_DIR = path.join(ROOT, "workers/shop");

/** PG* and DATABASE_URL of the local cluster (scripts/pg-local.sh env), or why it cannot run. */
export function pgEnv() {
  let out;
  try {
    execFileSync(path.join(ROOT, "scripts/pg-local.sh"), ["status"], { stdio: "ignore" });
    out = execFileSync(path.join(ROOT, "scripts/pg-local.sh"), ["env"], { encoding: "utf8" });
  } catch {
    return { skip: "the local Postgres is not running (scripts/pg-local.sh start)" };
  }
  const env = {};
  for (const m of out.matchAll(/^export (\w+)=['"]?([^'"\n]*)['"]?$/gm)) env[m[1]] = m[2];
  return env;
}

/** The wal2edge binary: WAL2EDGE_BIN, else the dev build, else the release build. */
export function wal2edgeBin() {
  const c = [process.env.WAL2EDGE_BIN, path.join(ROOT, "build/dev/wal2edge"), path.join(ROOT, "build/release/wal2edge")];
  return c.find((p) => p && fs.existsSync(p)) || null;
}

function psql(pg, db, sql, args = []) {
  return execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, ...args], {
    input: sql, encoding: "utf8", env: { ...process.env, ...pg },
  }).trim();
}

/** Bundle the shop as `wrangler deploy` would (no upload); returns the script and wrangler's config. */
export function bundleShop(outDir) {
  execFileSync(path.join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outDir], {
    cwd: SHOP_DIR, stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_API_TOKEN: "", CLOUDFLARE_ACCOUNT_ID: "" },
  });
  const config = unstable_readConfig({ config: path.join(SHOP_DIR, "wrangler.jsonc") });
  return { script: path.join(outDir, "index.js"), config };
}

/**
 * Start the loop: { shop (its URL), edge, sql(text) on the database, fixed token of the server's
 * insert position, stop() }. name: the database and slot (fresh each time); flushIntervalMs: run's.
 */
export async function startLoop({ name, flushIntervalMs = 200, fenceIntervalMs = 100 }) {
  const pg = pgEnv();
  if (pg.skip) throw new Error(pg.skip);
  const bin = wal2edgeBin();
  if (!bin) throw new Error("no wal2edge binary (build it: cmake --preset dev && cmake --build --preset dev)");
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const db = `w2e_t_${name}`;
  psql(pg, "postgres", `SET client_min_messages = warning;
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid();
    SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${db}' AND NOT active;
    DROP DATABASE IF EXISTS ${db} WITH (FORCE);
    CREATE DATABASE ${db};`);
  psql(pg, db, "", ["-f", path.join(ROOT, "sql/demo.sql")]);
  // a table no mapping names: a write to it is only visible through the fence
  psql(pg, db, "CREATE TABLE shop_visits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz DEFAULT now());");
  const dbUrl = pg.DATABASE_URL.replace(/\/[^/?]*(\?|$)/, `/${db}$1`);
  const sql = (text) => psql(pg, db, text);

  const { script, config } = bundleShop(path.join(work, "dist"));
  const ids = { d1: `${name}-app-${process.pid}`, kv: `${name}-cache-${process.pid}` };
  const slot = name;
  const vars = { ...config.vars, WAL2EDGE_SLOT: slot };
  fs.writeFileSync(path.join(work, "apps.json"), JSON.stringify([{
    name: "shop", script, compatibilityDate: config.compatibility_date, compatibilityFlags: config.compatibility_flags,
    vars,
    d1: { [config.d1_databases[0].binding]: ids.d1 },
    kv: { [config.kv_namespaces[0].binding]: ids.kv },
    hyperdrive: { [config.hyperdrive[0].binding]: dbUrl },
    analyticsEngine: Object.fromEntries(config.analytics_engine_datasets.map((d) => [d.binding, d.dataset])),
  }]));
  const edge = await startEdge({ EDGE_APP_WORKERS: path.join(work, "apps.json") });

  fs.cpSync(path.join(ROOT, "mappings"), path.join(work, "mappings"), { recursive: true });
  fs.writeFileSync(path.join(work, "w.jsonc"), JSON.stringify({
    source: { dsn: "${DATABASE_URL}", publication: `${slot}_pub`, slot },
    state_dir: "state",
    cloudflare: { account_id: "${CLOUDFLARE_ACCOUNT_ID}", api_token: "${CLOUDFLARE_API_TOKEN}",
                  api_base_url: "${CLOUDFLARE_API_BASE_URL}" },
    d1: { app: { database_id: ids.d1 } },
    kv: { cache: { namespace_id: ids.kv } },
    queues: { changes: {} },
    r2: { lake: {} },
    mappings: ["mappings/*.jsonc"],
    // fenceIntervalMs null: the config's default
    run: { flush_interval_ms: flushIntervalMs, ...(fenceIntervalMs === null ? {} : { fence_interval_ms: fenceIntervalMs }) },
  }, null, 1));
  const env = { ...process.env, ...pg, DATABASE_URL: dbUrl, PGDATABASE: db,
    CLOUDFLARE_API_BASE_URL: edge.info.CLOUDFLARE_API_BASE_URL, CLOUDFLARE_ACCOUNT_ID: edge.info.CLOUDFLARE_ACCOUNT_ID,
    CLOUDFLARE_API_TOKEN: edge.info.CLOUDFLARE_API_TOKEN };
  const w2e = async (...args) => {
    // a shared server may be out of replication slots for a while (slot create, migrate's helper slot)
    for (let attempt = 1; ; attempt++) {
      try {
        return execFileSync(bin, ["--config", path.join(work, "w.jsonc"), ...args], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        if (attempt >= 30 || !/all replication slots are in use/.test(e.stderr || "")) throw e;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };
  let run = null;
  const stop = async () => {
    if (run && run.exitCode === null) {
      run.kill("SIGTERM");
      await new Promise((r) => run.once("exit", r));
    }
    await edge.stop();
    fs.rmSync(work, { recursive: true, force: true });
    // slots are few on a shared server: give ours back, with its database
    psql(pg, "postgres", `SET client_min_messages = warning;
      SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '${db}' AND NOT active;
      DROP DATABASE IF EXISTS ${db} WITH (FORCE);`);
  };
  try {
    await w2e("slot", "create");
    await w2e("migrate");
    await w2e("warm");
    run = spawn(bin, ["--config", path.join(work, "w.jsonc"), "run"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let runErr = "";
    run.stderr.on("data", (d) => { runErr = (runErr + d).slice(-20000); });
    const token = () => sql("SELECT upper(lpad(to_hex((pg_current_wal_insert_lsn() - '0/0')::bigint), 16, '0'))");
    return {
      shop: edge.info.apps.shop, edge, sql, token, slot, work, ids,
      runLog: () => runErr,
      stopRun: async () => {
        run.kill("SIGTERM");
        await new Promise((r) => (run.exitCode === null ? run.once("exit", r) : r()));
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw new Error(`${e.message}\n${e.stderr || ""}`);
  }
}

/** One request to the shop: { status, headers, json }. */
export async function shopFetch(base, p, { method = "GET", headers = {}, body } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  const r = await request(`${base}${p}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, json: r.json, text: r.text };
}
