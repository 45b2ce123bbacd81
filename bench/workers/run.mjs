#!/usr/bin/env node
// bench/workers/run.mjs [WRITES] [FLUSH_INTERVALS] [FENCE_INTERVALS]   (not part of CI)
//
// Commit-to-visible latency on the whole loop (workers/shop/test/harness.mjs): WRITES orders
// (default 200) placed one after another through the shop Worker (Hyperdrive into the local
// Postgres), each followed by waitFor on D1 before the Worker answers; `wal2edge run` writes D1
// over the local edge's REST API. For each run.flush_interval_ms (default "200,10": the default and
// the minimum) and run.fence_interval_ms (default "default,100": 5000 and the minimum) it prints
// p50/p90/p99/max of
//   visible: the Worker's wait from the token (taken right after COMMIT) to D1's checkpoint
//            passing it - commit-to-visible as a Worker sees it;
//   request: the whole POST as the client sees it (write, token, wait, read back);
// and the D1 polls per wait. Needs the local Postgres (scripts/pg-local.sh start) and a wal2edge
// build (WAL2EDGE_BIN, else build/dev, else build/release). Prints one JSON line per setting last.
import { startLoop, shopFetch, wal2edgeBin } from "../../workers/shop/test/harness.mjs";

const writes = Number(process.argv[2] || 200);
const flushes = (process.argv[3] || "200,10").split(",").map(Number);
// "default": the config's (5000); the fence moves D1's checkpoint past WAL that is not this
// database's transactions (other databases, background records) written after a commit
const fences = (process.argv[4] || "default,100").split(",").map((f) => (f === "default" ? null : Number(f)));
const SKUS = ["BK-003", "CB-004"];

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] };
}
const fmt = (o) => Object.entries(o).map(([k, v]) => `${k} ${Math.round(v)}`).join("  ");

console.log(`wal2edge: ${wal2edgeBin()}; ${writes} orders per setting`);
const results = [];
for (const fence of fences) for (const flush of flushes) {
  const loop = await startLoop({ name: `workers_bench_${flush}_${fence ?? "d"}`, flushIntervalMs: flush, fenceIntervalMs: fence });
  try {
    const visible = [], request = [], polls = [];
    let behind = 0;
    for (let i = 0; i < writes; i++) {
      const t0 = performance.now();
      const r = await shopFetch(loop.shop, "/orders", {
        method: "POST", body: { user_id: 1 + (i % 4), items: [{ sku: SKUS[i % 2], quantity: 1 + (i % 3) }] },
      });
      const t1 = performance.now();
      if (r.status !== 201) throw new Error(`order ${i}: ${r.status} ${r.text}`);
      const f = r.json.freshness;
      if (f.state !== "caught-up") behind++;
      visible.push(f.waited_ms);
      request.push(t1 - t0);
      polls.push(f.polls ?? 0);
    }
    const res = { flush_interval_ms: flush, fence_interval_ms: fence ?? 5000, writes, behind, visible_ms: summary(visible), request_ms: summary(request),
                  polls: summary(polls) };
    console.log(`flush_interval_ms ${flush}, fence_interval_ms ${fence ?? "5000 (default)"}: visible (ms) ${fmt(res.visible_ms)} | request (ms) ${fmt(res.request_ms)} | ` +
      `polls ${fmt(res.polls)} | timed out ${behind}`);
    results.push(res);
  } finally {
    await loop.stop();
  }
}
for (const r of results) console.log(JSON.stringify(r));
