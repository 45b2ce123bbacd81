#!/usr/bin/env node
// bench/kv/binding.mjs - the ceiling of the local edge's KV: how many puts per second one real KV
// binding takes inside workerd (Miniflare, configured as tests/edge configures it), with no REST
// layer, gateway or wal2edge in front. The emulator's bulk write cannot be faster than this.
//
// Usage: node bench/kv/binding.mjs [PUTS] [STORAGE...]
//   PUTS     keys per case (default 3000)
//   STORAGE  any of: disk    a temporary directory under BENCH_DISK_DIR (default: the system's
//                            temporary directory; the output names its file system type)
//                    tmpfs   a temporary directory under BENCH_TMPFS_DIR (default /dev/shm)
//                    memory  Miniflare's own non-persistent storage (kvPersist: false), which is
//                            files in a directory under the system's temporary directory
//            (default: all three)
// For each storage: puts one at a time and 32 in flight, each with and without metadata and an
// expiration TTL; and, as the floor of a binding call, gets of missing keys (no value is written).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Miniflare, Log, LogLevel } from "miniflare";

const WORKER = `
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    const n = Number(u.searchParams.get("n")), width = Number(u.searchParams.get("width"));
    const op = u.searchParams.get("op"), tag = u.searchParams.get("tag");
    const opts = u.searchParams.get("meta") === "1"
      ? { metadata: { lsn: "0/16B3748", ts: "2026-11-28T12:00:00.000Z" }, expirationTtl: 86400 } : undefined;
    let i = 0;
    const one = async () => {
      while (i < n) {
        const key = tag + ":" + i;
        const value = JSON.stringify({ id: i, sku: "SKU-" + i, name: "item " + i, qty: i % 1000, active: i % 2 === 0 });
        i++;
        if (op === "get") await env.KV.get(key);
        else await env.KV.put(key, value, opts);
      }
    };
    await Promise.all(Array.from({ length: width }, one));
    return new Response("ok");
  },
};`;

const puts = Number(process.argv[2] || 3000);
const storages = process.argv.slice(3).length ? process.argv.slice(3) : ["disk", "tmpfs", "memory"];

function fsType(dir) {
  try {
    return execFileSync("stat", ["-f", "-c", "%T", dir], { encoding: "utf8" }).trim();
  } catch {
    return "?";
  }
}

function persistFor(storage) {
  // Miniflare's "in memory" is files in a directory under the system's temporary directory.
  if (storage === "memory") return { persist: false, dir: null, label: `memory (${fsType(os.tmpdir())})` };
  if (storage !== "disk" && storage !== "tmpfs") throw new Error(`unknown storage ${storage}: disk, tmpfs or memory`);
  const parent = storage === "tmpfs" ? process.env.BENCH_TMPFS_DIR || "/dev/shm" : process.env.BENCH_DISK_DIR || os.tmpdir();
  if (!fs.existsSync(parent)) return null;
  const dir = fs.mkdtempSync(path.join(parent, "wal2edge-kv-binding."));
  return { persist: dir, dir, label: `${storage} (${fsType(dir)})` };
}

async function runCase(mf, op, width, meta, n) {
  const tag = `${op}-${width}-${meta}`;
  const t0 = process.hrtime.bigint();
  const res = await mf.dispatchFetch(`http://bench/?op=${op}&n=${n}&width=${width}&meta=${meta ? 1 : 0}&tag=${tag}`);
  if (res.status !== 200) throw new Error(`${tag}: ${res.status} ${await res.text()}`);
  await res.text();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { s, rate: n / s };
}

for (const storage of storages) {
  const p = persistFor(storage);
  if (!p) {
    console.log(`${storage}: skipped (no such directory)`);
    continue;
  }
  const mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    cf: false,
    modules: true,
    script: WORKER,
    compatibilityDate: "2025-04-01",
    kvNamespaces: { KV: "bench" },
    kvPersist: p.persist,
  });
  try {
    await mf.ready;
    const cases = [
      ["put", 1, false], ["put", 1, true], ["put", 32, false], ["put", 32, true], ["get", 32, false],
    ];
    for (const [op, width, meta] of cases) {
      const { s, rate } = await runCase(mf, op, width, meta, puts);
      const what = op === "get" ? "get (missing key)" : `put${meta ? " +metadata+ttl" : ""}`;
      console.log(`${p.label.padEnd(38)} ${what.padEnd(20)} ${String(width).padStart(2)} in flight: ` +
        `${puts} in ${s.toFixed(2)} s = ${Math.round(rate)}/s (${(1000 / rate).toFixed(2)} ms per key)`);
    }
  } finally {
    await mf.dispose();
    if (p.dir) fs.rmSync(p.dir, { recursive: true, force: true });
  }
}
