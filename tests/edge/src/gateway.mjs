// The gateway: the HTTP server on loopback that clients talk to. It plays the
// part of Cloudflare's front line: the account API rate limit, SigV4 checks for
// R2, fault injection, a request log and counters, and the admin API under
// /__admin. Everything else is handed to the edge Worker running in workerd.
import http from "node:http";
import { verifySigV4, S3AuthError } from "./sigv4.mjs";
import { isLoopbackAddr } from "./config.mjs";

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "te", "trailer"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Names a request for counters: "d1.query", "kv.bulk_write", "s3.PutObject", ...
export function classify(method, path, query) {
  const m = /^\/client\/v4\/accounts\/[^/]+\/(.*)$/.exec(path);
  if (m) {
    const p = m[1].split("/");
    if (p[0] === "d1" && p[1] === "database") {
      if (p.length === 2) return method === "GET" ? "d1.list" : "d1.create";
      if (p.length === 3) return "d1.get";
      return `d1.${p[3]}`;
    }
    if (p[0] === "storage" && p[1] === "kv" && p[2] === "namespaces") {
      if (p.length <= 4) return p.length === 3 ? "kv.namespaces" : "kv.namespace";
      const sub = p[4];
      if (sub === "bulk" && p[5] === "delete") return "kv.bulk_delete";
      if (sub === "bulk" && p[5] === "get") return "kv.bulk_get";
      if (sub === "bulk") return method === "PUT" ? "kv.bulk_write" : "kv.bulk_delete";
      if (sub === "values") return `kv.value_${method.toLowerCase()}`;
      return `kv.${sub}`;
    }
    if (p[0] === "queues") {
      if (p.length <= 2) return "queues.admin";
      if (p[2] === "messages") return p[3] ? `queues.${p[3]}` : "queues.send";
      return `queues.${p[2]}`;
    }
    return "api.other";
  }
  if (path.startsWith("/client/v4/")) return "api.other";
  if (path.startsWith("/__edge/d1-upload/")) return "d1.import_upload";
  const q = new URLSearchParams(query || "");
  const segs = path.split("/").filter(Boolean);
  if (segs.length === 0) return "s3.ListBuckets";
  if (segs.length === 1) {
    if (method === "GET") return q.has("uploads") ? "s3.ListMultipartUploads" : q.get("list-type") === "2" ? "s3.ListObjectsV2" : "s3.ListObjects";
    if (method === "POST" && q.has("delete")) return "s3.DeleteObjects";
    return `s3.${method === "PUT" ? "CreateBucket" : method === "HEAD" ? "HeadBucket" : method === "DELETE" ? "DeleteBucket" : method}`;
  }
  if (method === "POST" && q.has("uploads")) return "s3.CreateMultipartUpload";
  if (method === "POST" && q.has("uploadId")) return "s3.CompleteMultipartUpload";
  if (method === "PUT" && q.has("uploadId")) return "s3.UploadPart";
  if (method === "GET" && q.has("uploadId")) return "s3.ListParts";
  if (method === "DELETE" && q.has("uploadId")) return "s3.AbortMultipartUpload";
  return `s3.${{ PUT: "PutObject", GET: "GetObject", HEAD: "HeadObject", DELETE: "DeleteObject" }[method] || method}`;
}

// Requests that the account-wide API rate limit counts: the REST API, except
// Queues pull/ack, which the service exempts.
function rateLimited(path) {
  if (!path.startsWith("/client/v4/")) return false;
  return !/\/queues\/[^/]+\/messages\/(pull|ack)$/.test(path);
}

const isS3 = (path, headers, rawQuery) =>
  !path.startsWith("/client/v4/") && path !== "/client/v4" && !path.startsWith("/__edge/") &&
  true;

const S3_FAULT_CODES = { 429: "TooManyRequests", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable" };

export class Gateway {
  constructor(cfg, runtime) {
    this.cfg = cfg;
    this.rt = runtime;
    this.rate = { limit: cfg.rateLimit, windowS: cfg.rateWindowS, hits: [] };
    this.faults = [];
    this.faultSeq = 0;
    this.gate = null; // promise while the runtime restarts
    this.clearLog();
    this.server = http.createServer((req, res) => this.handle(req, res).catch((e) => {
      console.error("gateway error:", e && e.stack ? e.stack : e);
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ success: false, errors: [{ code: 10002, message: `edge emulator gateway error: ${e.message}` }], messages: [], result: null }));
      } else {
        res.destroy();
      }
    }));
    this.server.keepAliveTimeout = 5000;
    this.server.requestTimeout = 0;
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.cfg.port, this.cfg.host, () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }

  close() {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections?.();
    });
  }

  clearLog() {
    this.log = [];
    this.seq = 0;
    this.counters = { total: 0, by_route: {}, by_status: {}, faults_injected: 0, rate_limited: 0, dropped: 0 };
  }

  record(entry) {
    entry.seq = ++this.seq;
    this.log.push(entry);
    if (this.log.length > this.cfg.logLimit) this.log.splice(0, this.log.length - this.cfg.logLimit);
    const c = this.counters;
    c.total++;
    const r = (c.by_route[entry.route] ||= { count: 0, by_status: {} });
    r.count++;
    const st = String(entry.status);
    r.by_status[st] = (r.by_status[st] || 0) + 1;
    c.by_status[st] = (c.by_status[st] || 0) + 1;
    if (entry.fault) c.faults_injected++;
  }

  takeFault(method, path) {
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (f.path && !path.includes(f.path)) continue;
      if (f.path_regex && !new RegExp(f.path_regex).test(path)) continue;
      f.remaining--;
      f.hits++;
      return f;
    }
    return null;
  }

  checkRate(now) {
    const w = this.rate.windowS * 1000;
    const hits = this.rate.hits;
    while (hits.length && hits[0] <= now - w) hits.shift();
    if (hits.length >= this.rate.limit) {
      return Math.max(1, Math.ceil((hits[0] + w - now) / 1000));
    }
    hits.push(now);
    return 0;
  }

  async handle(req, res) {
    const t0 = Date.now();
    const rawUrl = req.url || "/";
    const qi = rawUrl.indexOf("?");
    const rawPath = qi < 0 ? rawUrl : rawUrl.slice(0, qi);
    const rawQuery = qi < 0 ? "" : rawUrl.slice(qi + 1);
    if (!isLoopbackAddr(req.socket.remoteAddress)) {
      res.writeHead(403).end("edge emulator: loopback clients only\n");
      return;
    }
    if (rawPath === "/__admin" || rawPath.startsWith("/__admin/")) return this.admin(req, res, rawPath, rawQuery);

    const body = await readBody(req);
    const route = classify(req.method, rawPath, rawQuery);
    const entry = {
      time: new Date(t0).toISOString(), method: req.method, path: rawPath, query: rawQuery, route,
      status: 0, req_bytes: body.length, resp_bytes: 0, duration_ms: 0,
    };
    const finish = (status, bytes, extra = {}) => {
      Object.assign(entry, { status, resp_bytes: bytes, duration_ms: Date.now() - t0 }, extra);
      this.record(entry);
    };
    if (this.gate) await this.gate;

    const s3 = isS3(rawPath, req.headers, rawQuery);
    // 1. account API rate limit
    if (rateLimited(rawPath)) {
      const retry = this.checkRate(t0);
      if (retry) {
        this.counters.rate_limited++;
        const payload = JSON.stringify({ success: false, result: null, messages: [],
          errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }] });
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(retry) });
        res.end(payload);
        finish(429, payload.length, { rate_limited: true });
        return;
      }
    }
    // 2. injected faults
    const fault = this.takeFault(req.method, rawPath);
    if (fault) {
      entry.fault = fault.id;
      if (fault.delay_ms) await sleep(fault.delay_ms);
      if (fault.drop === "before") {
        this.counters.dropped++;
        finish(0, 0, { dropped: "before" });
        req.socket.destroy();
        return;
      }
      if (fault.status) {
        const st = fault.status;
        const headers = {};
        if (st === 429 || st === 503 || fault.retry_after !== undefined) headers["retry-after"] = String(fault.retry_after ?? 1);
        let payload;
        if (s3) {
          headers["content-type"] = "application/xml";
          payload = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${S3_FAULT_CODES[st] || "InternalError"}</Code><Message>injected fault</Message></Error>`;
        } else {
          headers["content-type"] = "application/json";
          const code = st === 429 ? 971 : 10000 + st; // 10500, 10502, 10503
          const message = st === 429 ? "Please wait and consider throttling your request speed" : `Injected fault: HTTP ${st}`;
          payload = JSON.stringify({ success: false, result: null, messages: [], errors: [{ code, message }] });
        }
        if (req.method === "HEAD") payload = "";
        res.writeHead(st, headers);
        res.end(payload);
        finish(st, payload.length);
        return;
      }
    }
    // 3. SigV4 for R2
    if (s3) {
      try {
        await verifySigV4({ method: req.method, rawPath, rawQuery, headers: req.headers, body }, this.cfg);
      } catch (e) {
        if (!(e instanceof S3AuthError)) throw e;
        const payload = req.method === "HEAD" ? "" :
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${e.code}</Code><Message>${e.message.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</Message></Error>`;
        res.writeHead(e.status, { "content-type": "application/xml" });
        res.end(payload);
        finish(e.status, payload.length, { auth_error: e.code });
        return;
      }
    }
    // 4. hand over to the edge Worker
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (HOP.has(k) && k !== "content-length") continue;
      headers[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    headers["x-edge-internal"] = this.rt.secret;
    if (s3) headers["x-edge-s3-verified"] = "1";
    const url = `http://${req.headers.host || `127.0.0.1:${this.port}`}${rawUrl}`;
    const hasBody = !["GET", "HEAD"].includes(req.method);
    const resp = await this.rt.fetch(url, { method: req.method, headers, body: hasBody ? body : undefined, redirect: "manual" });
    const out = req.method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await resp.arrayBuffer());
    if (fault && fault.drop === "after") {
      this.counters.dropped++;
      finish(resp.status, 0, { dropped: "after" });
      req.socket.destroy();
      return;
    }
    const rh = {};
    resp.headers.forEach((v, k) => { if (!HOP.has(k) && !k.startsWith("mf-") && k !== "content-encoding") rh[k] = v; });
    if (req.method === "HEAD") {
      const cl = resp.headers.get("content-length");
      if (cl) rh["content-length"] = cl;
    } else {
      rh["content-length"] = String(out.length);
    }
    if (fault && fault.drop === "during") {
      res.writeHead(resp.status, rh);
      res.write(out.subarray(0, Math.floor(out.length / 2)));
      this.counters.dropped++;
      finish(resp.status, Math.floor(out.length / 2), { dropped: "during" });
      setTimeout(() => req.socket.destroy(), 10);
      return;
    }
    res.writeHead(resp.status, rh);
    res.end(out);
    finish(resp.status, out.length);
  }

  async admin(req, res, path, rawQuery) {
    const q = new URLSearchParams(rawQuery);
    const send = (status, obj) => {
      const s = JSON.stringify(obj, null, 1);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(s + "\n");
    };
    const body = await readBody(req);
    let json = {};
    if (body.length) {
      try { json = JSON.parse(body.toString("utf8")); } catch { return send(400, { error: "body must be JSON" }); }
    }
    const m = req.method;
    const p = path.replace(/\/+$/, "");
    if (p === "/__admin" || p === "/__admin/health") {
      return send(200, { ok: true, port: this.port, account_id: this.cfg.accountId, state_dir: this.cfg.stateDir, pid: process.pid });
    }
    if (p === "/__admin/env" && m === "GET") return send(200, this.envVars());
    if (p === "/__admin/log") {
      if (m === "DELETE") { this.clearLog(); return send(200, { ok: true }); }
      const since = parseInt(q.get("since") || "0", 10) || 0;
      let entries = this.log.filter((e) => e.seq > since);
      if (q.get("route")) entries = entries.filter((e) => e.route === q.get("route"));
      if (q.get("path")) entries = entries.filter((e) => e.path.includes(q.get("path")));
      const limit = parseInt(q.get("limit") || "0", 10);
      if (limit > 0) entries = entries.slice(-limit);
      return send(200, { last_seq: this.seq, entries });
    }
    if (p === "/__admin/counters" && m === "GET") return send(200, { ...this.counters, last_seq: this.seq });
    if (p === "/__admin/faults") {
      if (m === "GET") return send(200, { faults: this.faults });
      if (m === "DELETE") { this.faults = []; return send(200, { ok: true }); }
      if (m === "POST") {
        const rules = Array.isArray(json) ? json : [json];
        const added = [];
        for (const r of rules) {
          const err = validateFault(r);
          if (err) return send(400, { error: err });
          const f = {
            id: ++this.faultSeq, path: r.path || "", path_regex: r.path_regex || null, method: r.method || null,
            count: r.count ?? 1, remaining: r.count ?? 1, hits: 0, status: r.status || null,
            retry_after: r.retry_after, delay_ms: r.delay_ms || 0, drop: r.drop || null,
          };
          this.faults.push(f);
          added.push(f);
        }
        return send(200, Array.isArray(json) ? { faults: added } : added[0]);
      }
    }
    if (p === "/__admin/config") {
      if (m === "POST") {
        if (json.rate_limit !== undefined) this.rate.limit = Number(json.rate_limit);
        if (json.rate_window_s !== undefined) this.rate.windowS = Number(json.rate_window_s);
        if (json.reset_rate_limit || json.rate_limit !== undefined || json.rate_window_s !== undefined) this.rate.hits = [];
      }
      return send(200, { rate_limit: this.rate.limit, rate_window_s: this.rate.windowS, rate_used: this.rate.hits.length,
        kv_write_interval_ms: this.cfg.kvWriteIntervalMs, r2_write_interval_ms: this.cfg.r2WriteIntervalMs,
        queue_default_consumer: this.cfg.queueDefaultConsumer, slots: this.cfg.slots });
    }
    if (p === "/__admin/reset" && m === "POST") {
      await this.reset();
      return send(200, { ok: true });
    }
    if (p === "/__admin/resources" && (m === "GET" || m === "POST")) {
      return this.proxyInternal(res, m, "resources", body);
    }
    if (p === "/__admin/analytics" && m === "GET") {
      return this.proxyInternal(res, "GET", `analytics?dataset=${encodeURIComponent(q.get("dataset") || "")}`);
    }
    if (p === "/__admin/apps" && m === "GET") return send(200, this.rt.apps || {});
    const dm = /^\/__admin\/queues\/([^/]+)\/delivered$/.exec(p);
    if (dm && m === "GET") {
      return this.proxyInternal(res, "GET", `delivered?queue=${encodeURIComponent(decodeURIComponent(dm[1]))}&since=${encodeURIComponent(q.get("since") || "0")}`);
    }
    return send(404, { error: `no admin route ${m} ${p}` });
  }

  async proxyInternal(res, method, sub, body) {
    if (this.gate) await this.gate;
    const r = await this.rt.fetch(`http://127.0.0.1/__edge/internal/${sub}`, {
      method, headers: { "x-edge-internal": this.rt.secret, "content-type": "application/json" },
      body: method === "GET" ? undefined : body,
    });
    const text = await r.text();
    res.writeHead(r.status, { "content-type": "application/json" });
    res.end(text + "\n");
  }

  async reset() {
    let release;
    const prev = this.gate;
    this.gate = new Promise((r) => { release = r; });
    try {
      if (prev) await prev;
      await this.rt.wipe();
      this.faults = [];
      this.rate.hits = [];
      this.rate.limit = this.cfg.rateLimit;
      this.rate.windowS = this.cfg.rateWindowS;
      this.clearLog();
    } finally {
      const g = this.gate;
      release();
      if (this.gate === g) this.gate = null;
    }
  }

  envVars() {
    const base = `http://${this.cfg.host}:${this.port}`;
    return {
      CLOUDFLARE_API_BASE_URL: `${base}/client/v4`,
      CLOUDFLARE_ACCOUNT_ID: this.cfg.accountId,
      CLOUDFLARE_API_TOKEN: this.cfg.apiToken,
      R2_ENDPOINT: base,
      R2_ACCESS_KEY_ID: this.cfg.r2AccessKeyId,
      R2_SECRET_ACCESS_KEY: this.cfg.r2SecretAccessKey,
      EDGE_ADMIN_URL: `${base}/__admin`,
    };
  }
}

function validateFault(r) {
  if (!r || typeof r !== "object") return "a fault must be an object";
  if (r.status !== undefined && ![429, 500, 502, 503].includes(r.status)) return "status must be 429, 500, 502 or 503";
  if (r.drop !== undefined && !["before", "after", "during"].includes(r.drop)) return "drop must be before, after or during";
  if (r.status && r.drop) return "give either status or drop, not both";
  if (!r.status && !r.drop && !r.delay_ms) return "a fault needs status, drop or delay_ms";
  if (r.count !== undefined && !(Number.isInteger(r.count) && r.count > 0)) return "count must be a positive integer";
  if (r.path_regex) { try { new RegExp(r.path_regex); } catch { return "path_regex is not a valid regular expression"; } }
  return null;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
