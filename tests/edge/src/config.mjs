// Emulator configuration, from the environment. Every credential here is a
// fixed, obviously fake default: the emulator only ever listens on loopback.
import path from "node:path";
import { fileURLToPath } from "node:url";

export const EDGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const int = (v, d) => {
  if (v === undefined || v === "") return d;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};

export function loadConfig(env = process.env) {
  const host = env.EDGE_HOST || "127.0.0.1";
  return {
    host,
    port: int(env.EDGE_PORT, 8787),
    stateDir: path.resolve(env.EDGE_STATE_DIR || path.join(EDGE_DIR, ".state")),
    accountId: env.EDGE_ACCOUNT_ID || "0123456789abcdef0123456789abcdef",
    apiToken: env.EDGE_API_TOKEN || "edge-local-api-token-not-a-secret",
    r2AccessKeyId: env.EDGE_R2_ACCESS_KEY_ID || "EDGELOCALACCESSKEY01",
    r2SecretAccessKey: env.EDGE_R2_SECRET_ACCESS_KEY || "edge-local-r2-secret-key-not-a-secret",
    rateLimit: int(env.EDGE_RATE_LIMIT, 1200),
    rateWindowS: int(env.EDGE_RATE_WINDOW_S, 300),
    kvWriteIntervalMs: int(env.EDGE_KV_WRITE_INTERVAL_MS, 1000),
    r2WriteIntervalMs: int(env.EDGE_R2_WRITE_INTERVAL_MS, 1000),
    queueDefaultConsumer: env.EDGE_QUEUE_DEFAULT_CONSUMER === "http_pull" ? "http_pull" : "worker",
    queueBatchTimeoutS: int(env.EDGE_QUEUE_BATCH_TIMEOUT_S, 1),
    queueMaxRetries: int(env.EDGE_QUEUE_MAX_RETRIES, 3),
    queueMaxBatchSize: int(env.EDGE_QUEUE_MAX_BATCH_SIZE, 10),
    slots: {
      d1: int(env.EDGE_SLOTS_D1, 64),
      kv: int(env.EDGE_SLOTS_KV, 64),
      queue: int(env.EDGE_SLOTS_QUEUE, 32),
      r2: int(env.EDGE_SLOTS_R2, 32),
    },
    consumerScript: env.EDGE_CONSUMER_SCRIPT ? path.resolve(env.EDGE_CONSUMER_SCRIPT) : null,
    consumerConfig: env.EDGE_CONSUMER_CONFIG ? path.resolve(env.EDGE_CONSUMER_CONFIG) : null,
    appWorkers: env.EDGE_APP_WORKERS ? path.resolve(env.EDGE_APP_WORKERS) : null,
    logLimit: int(env.EDGE_LOG_LIMIT, 20000),
    clockSkewS: int(env.EDGE_S3_MAX_SKEW_S, 900),
  };
}

export function isLoopbackHost(h) {
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function isLoopbackAddr(a) {
  if (!a) return false;
  if (a.startsWith("::ffff:")) a = a.slice(7);
  return a === "::1" || /^127\./.test(a);
}
