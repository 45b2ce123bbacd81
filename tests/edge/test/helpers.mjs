// Test helpers: start a private emulator (fresh port, fresh state dir) and talk to it.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import { fileURLToPath } from "node:url";
import aws4 from "aws4";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : Buffer.isBuffer(body) || body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const h = { ...headers };
    if (data && !Object.keys(h).some((k) => k.toLowerCase() === "content-length")) h["content-length"] = String(data.length);
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const buf = Buffer.concat(chunks);
        let json;
        try { json = JSON.parse(buf.toString("utf8")); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString("utf8"), json });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

export async function startEdge(env = {}) {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "edge-test-"));
  const child = spawn(process.execPath, [path.join(ROOT, "tests/edge/src/main.mjs")], {
    cwd: ROOT,
    env: { ...process.env, EDGE_PORT: "0", EDGE_STATE_DIR: stateDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "", err = "";
  child.stderr.on("data", (d) => { err += d; });
  const info = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator did not start in 60s:\n${err}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("{\"ready\""));
      if (line) { clearTimeout(timer); resolve(JSON.parse(line)); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`emulator exited with ${code}:\n${err}`)); });
  });
  child.removeAllListeners("exit");
  const base = `http://127.0.0.1:${info.port}`;
  const acct = `${info.CLOUDFLARE_API_BASE_URL}/accounts/${info.CLOUDFLARE_ACCOUNT_ID}`;
  const auth = { authorization: `Bearer ${info.CLOUDFLARE_API_TOKEN}` };
  const edge = {
    info, base, acct, stateDir, child,
    stderr: () => err,
    // REST call under /accounts/{id}; body objects are sent as JSON.
    api(method, p, body, headers = {}) {
      const h = { ...auth, ...headers };
      if (body !== undefined && typeof body !== "string" && !Buffer.isBuffer(body) && !h["content-type"]) h["content-type"] = "application/json";
      return request(`${acct}${p}`, { method, headers: h, body });
    },
    admin(method, p, body) {
      return request(`${base}/__admin${p}`, { method, headers: body ? { "content-type": "application/json" } : {}, body });
    },
    // S3 request signed by the aws4 library (not the emulator's code).
    s3(method, p, { body, headers = {}, creds, sign = true } = {}) {
      const opts = { host: `127.0.0.1:${info.port}`, path: p, method, service: "s3", region: "auto", headers: { ...headers } };
      if (body !== undefined) opts.body = Buffer.isBuffer(body) ? body : Buffer.from(body);
      if (sign) {
        aws4.sign(opts, creds || { accessKeyId: info.R2_ACCESS_KEY_ID, secretAccessKey: info.R2_SECRET_ACCESS_KEY });
      }
      const h = { ...opts.headers };
      delete h.Host;
      delete h.host;
      return request(`${base}${p}`, { method, headers: h, body: opts.body });
    },
    presign(method, p, expires = 300) {
      const opts = { host: `127.0.0.1:${info.port}`, path: `${p}${p.includes("?") ? "&" : "?"}X-Amz-Expires=${expires}`, method, service: "s3", region: "auto", signQuery: true };
      aws4.sign(opts, { accessKeyId: info.R2_ACCESS_KEY_ID, secretAccessKey: info.R2_SECRET_ACCESS_KEY });
      return `${base}${opts.path}`;
    },
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        let timer;
        await Promise.race([done, new Promise((r) => { timer = setTimeout(r, 10_000); })]);
        clearTimeout(timer);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return edge;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeoutMs = 15_000, intervalMs = 200 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(intervalMs);
  }
  throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

let uniq = 0;
export const uid = (p = "t") => `${p}-${process.pid}-${++uniq}`;
