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
        d1Databases: { META: "edge-meta", ...slotMap("D1_", cfg.slots.d1, "edge-d1-") },
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

export class Runtime {
  constructor(cfg) {
    this.cfg = cfg;
    this.secret = crypto.randomBytes(24).toString("hex");
    this.mf = null;
  }

  async start() {
    fs.mkdirSync(path.join(this.cfg.stateDir, "data"), { recursive: true });
    this.mf = new Miniflare(miniflareOptions(this.cfg, this.secret));
    await this.mf.ready;
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
