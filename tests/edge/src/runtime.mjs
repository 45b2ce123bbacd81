// Builds and (re)starts the Miniflare instance: workerd running the edge
// Worker with pre-declared D1 / KV / Queue / R2 binding slots, and the
// consumer Worker.
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { Miniflare, Log, LogLevel } from "miniflare";
import { EDGE_DIR } from "./config.mjs";

const COMPAT_DATE = "2025-04-01";
const pad = (i) => String(i).padStart(2, "0");

function slotMap(prefix, count, idPrefix) {
  const m = {};
  for (let i = 0; i < count; i++) m[`${prefix}${pad(i)}`] = `${idPrefix}${pad(i)}`;
  return m;
}

export function miniflareOptions(cfg, internalSecret) {
  const dataDir = path.join(cfg.stateDir, "data");
  const queueProducers = {};
  const queueConsumers = {};
  for (let i = 0; i < cfg.slots.queue; i++) {
    queueProducers[`Q_${pad(i)}`] = { queueName: `edge-q-${pad(i)}` };
    queueConsumers[`edge-q-${pad(i)}`] = {
      maxBatchSize: cfg.queueMaxBatchSize,
      maxBatchTimeout: cfg.queueBatchTimeoutS,
      maxRetries: cfg.queueMaxRetries,
      retryDelay: 0,
    };
  }
  const workerDir = path.join(EDGE_DIR, "worker");
  const consumerPath = cfg.consumerScript || path.join(workerDir, "consumer.mjs");
  // EDGE_CONSUMER_CONFIG: {"consumer": more Miniflare options of the consumer Worker (Durable
  // Object, Analytics Engine bindings, vars), "workers": more Workers beside it (the scripts
  // those Durable Objects live in, reachable on their own unsafeDirectSockets)}
  const extra = cfg.consumerConfig ? JSON.parse(fs.readFileSync(cfg.consumerConfig, "utf8")) : {};
  const more = extra.consumer || {};
  return {
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    d1Persist: path.join(dataDir, "d1"),
    kvPersist: path.join(dataDir, "kv"),
    r2Persist: path.join(dataDir, "r2"),
    durableObjectsPersist: path.join(dataDir, "do"),
    cachePersist: false,
    cf: false, // never fetch Request.cf from the internet
    workers: [
      {
        name: "edge",
        modules: true,
        scriptPath: path.join(workerDir, "edge.mjs"),
        modulesRoot: workerDir,
        compatibilityDate: COMPAT_DATE,
        compatibilityFlags: ["service_binding_extra_handlers"],
        bindings: {
          ACCOUNT_ID: cfg.accountId,
          API_TOKEN: cfg.apiToken,
          EDGE_INTERNAL_SECRET: internalSecret,
          EDGE_SLOTS: JSON.stringify(cfg.slots),
          EDGE_KV_WRITE_INTERVAL_MS: String(cfg.kvWriteIntervalMs),
          EDGE_R2_WRITE_INTERVAL_MS: String(cfg.r2WriteIntervalMs),
          EDGE_QUEUE_DEFAULT_CONSUMER: cfg.queueDefaultConsumer,
        },
        d1Databases: { META: "edge-meta", AE_STORE: "edge-analytics", ...slotMap("D1_", cfg.slots.d1, "edge-d1-") },
        kvNamespaces: slotMap("KV_", cfg.slots.kv, "edge-kv-"),
        r2Buckets: { R2_INTERNAL: "edge-internal", ...slotMap("R2_", cfg.slots.r2, "edge-r2-") },
        queueProducers,
        queueConsumers,
        serviceBindings: { CONSUMER: "edge-consumer" },
      },
      {
        name: "edge-consumer",
        modules: true,
        scriptPath: consumerPath,
        modulesRoot: path.dirname(consumerPath),
        compatibilityDate: COMPAT_DATE,
        ...more,
        bindings: { ...more.bindings, ACCOUNT_ID: cfg.accountId, API_TOKEN: cfg.apiToken },
        // The consumer can call the emulator's REST API directly: env.EDGE.fetch("http://edge/client/v4/...").
        serviceBindings: { ...more.serviceBindings, EDGE: "edge" },
      },
      ...(extra.workers || []),
    ],
  };
}

// Analytics Engine for app Workers (a wrapped binding, so no compatibility date of its own): each
// data point a row of the edge-analytics D1 database, read back through the admin API (workerd's
// own binding keeps nothing locally).
const ANALYTICS_WORKER = {
  name: "edge-analytics",
  modules: true,
  scriptPath: path.join(EDGE_DIR, "worker", "analytics.mjs"),
  modulesRoot: path.join(EDGE_DIR, "worker"),
  d1Databases: { AE_STORE: "edge-analytics" },
};

/*
 * App Workers (EDGE_APP_WORKERS, a JSON file: a list of {name, script, compatibilityDate,
 * compatibilityFlags, vars, d1: {BINDING: database id}, kv: {BINDING: namespace id},
 * hyperdrive: {BINDING: connection string}, analyticsEngine: {BINDING: dataset}}): a Worker such
 * as workers/shop, bound to the SAME D1 databases and KV namespaces the REST API serves (the ids
 * resolved to their binding slots, created when new), each on a port of its own.
 */
export function appWorkerOptions(app, slots) {
  const d1Databases = {}, kvNamespaces = {}, wrappedBindings = {};
  for (const [b, id] of Object.entries(app.d1 || {})) d1Databases[b] = `edge-d1-${pad(slots.d1[id])}`;
  for (const [b, id] of Object.entries(app.kv || {})) kvNamespaces[b] = `edge-kv-${pad(slots.kv[id])}`;
  for (const [b, dataset] of Object.entries(app.analyticsEngine || {}))
    wrappedBindings[b] = { scriptName: "edge-analytics", bindings: { dataset, worker: app.name } };
  return {
    name: app.name,
    modules: true,
    scriptPath: path.resolve(app.script),
    modulesRoot: path.dirname(path.resolve(app.script)),
    compatibilityDate: app.compatibilityDate || COMPAT_DATE,
    compatibilityFlags: app.compatibilityFlags || [],
    bindings: app.vars || {},
    d1Databases,
    kvNamespaces,
    hyperdrives: app.hyperdrive || {},
    wrappedBindings,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  };
}

export class Runtime {
  constructor(cfg) {
    this.cfg = cfg;
    this.secret = crypto.randomBytes(24).toString("hex");
    this.mf = null;
  }

  async start() {
    fs.mkdirSync(path.join(this.cfg.stateDir, "data"), { recursive: true });
    const opts = miniflareOptions(this.cfg, this.secret);
    this.mf = new Miniflare(opts);
    await this.mf.ready;
    this.apps = {};
    if (!this.cfg.appWorkers) return;
    const apps = JSON.parse(fs.readFileSync(this.cfg.appWorkers, "utf8"));
    const slots = { d1: {}, kv: {} };
    for (const app of apps)
      for (const kind of ["d1", "kv"])
        for (const id of Object.values(app[kind] || {})) slots[kind][id] = await this.resolveSlot(kind, id);
    opts.workers.push(ANALYTICS_WORKER, ...apps.map((app) => appWorkerOptions(app, slots)));
    await this.mf.setOptions(opts);
    for (const app of apps) this.apps[app.name] = (await this.mf.unsafeGetDirectURL(app.name)).href.replace(/\/$/, "");
  }

  async resolveSlot(kind, id) {
    const r = await this.fetch("http://127.0.0.1/__edge/internal/resources", {
      method: "POST", headers: { "x-edge-internal": this.secret, "content-type": "application/json" },
      body: JSON.stringify({ kind, id }),
    });
    const body = await r.json();
    if (r.status !== 200) throw new Error(`app Workers: cannot bind ${kind} ${id}: ${JSON.stringify(body)}`);
    return body.slot;
  }

  async stop() {
    if (this.mf) {
      const mf = this.mf;
      this.mf = null;
      await mf.dispose();
    }
  }

  async wipe() {
    await this.stop();
    fs.rmSync(path.join(this.cfg.stateDir, "data"), { recursive: true, force: true });
    await this.start();
  }

  fetch(url, init) {
    return this.mf.dispatchFetch(url, init);
  }
}
