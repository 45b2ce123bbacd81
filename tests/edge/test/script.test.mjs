import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ROOT, request } from "./helpers.mjs";

const SCRIPT = path.join(ROOT, "scripts/edge-local.sh");

function run(args, env) {
  return new Promise((resolve) => {
    execFile("bash", [SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

test("scripts/edge-local.sh start / status / env / wipe / stop", async () => {
  const env = { EDGE_PORT: String(await freePort()), EDGE_STATE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "edge-script-")) };
  try {
    const start = await run(["start"], env);
    assert.equal(start.code, 0, start.stderr);
    assert.ok(fs.existsSync(path.join(env.EDGE_STATE_DIR, "edge.pid")));
    assert.ok(fs.existsSync(path.join(env.EDGE_STATE_DIR, "edge.log")));
    const again = await run(["start"], env);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already running/);
    assert.equal((await run(["status"], env)).code, 0);

    const out = (await run(["env"], env)).stdout;
    const vars = Object.fromEntries([...out.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
    for (const k of ["CLOUDFLARE_API_BASE_URL", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "EDGE_ADMIN_URL"]) {
      assert.ok(vars[k], `${k} missing from env output`);
    }
    assert.equal(vars.CLOUDFLARE_API_BASE_URL, `http://127.0.0.1:${env.EDGE_PORT}/client/v4`);
    const r = await request(`${vars.CLOUDFLARE_API_BASE_URL}/accounts/${vars.CLOUDFLARE_ACCOUNT_ID}/d1/database/scripted/query`, {
      method: "POST", headers: { authorization: `Bearer ${vars.CLOUDFLARE_API_TOKEN}`, "content-type": "application/json" },
      body: { sql: "CREATE TABLE t (x); INSERT INTO t VALUES (1)" },
    });
    assert.equal(r.status, 200, r.text);
    const health = await request(`${vars.EDGE_ADMIN_URL}/health`);
    assert.equal(health.json.ok, true);

    assert.equal((await run(["wipe"], env)).code, 0);
    const after = await request(`${vars.CLOUDFLARE_API_BASE_URL}/accounts/${vars.CLOUDFLARE_ACCOUNT_ID}/d1/database/scripted/query`, {
      method: "POST", headers: { authorization: `Bearer ${vars.CLOUDFLARE_API_TOKEN}` }, body: { sql: "SELECT * FROM t" },
    });
    assert.equal(after.status, 400); // the table went with the wipe

    const stop = await run(["stop"], env);
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, /stopped/);
    assert.equal((await run(["status"], env)).code, 3);
    assert.equal((await run(["stop"], env)).code, 0);
    await assert.rejects(request(`${vars.EDGE_ADMIN_URL}/health`));
  } finally {
    await run(["stop"], env);
    fs.rmSync(env.EDGE_STATE_DIR, { recursive: true, force: true });
  }
});
