// The TypeScript declarations (src/index.d.ts) compile, strict, against @cloudflare/workers-types'
// D1Database and KVNamespace, imported the way a Worker imports the package; and a misuse fails.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");
const ARGS = ["--noEmit", "--strict", "--target", "es2022", "--lib", "es2022", "--module", "nodenext",
  "--moduleResolution", "nodenext", "--types", "@cloudflare/workers-types", "--typeRoots", path.join(ROOT, "node_modules")];

function tsc(file) {
  return spawnSync(process.execPath, [TSC, ...ARGS, file], { cwd: ROOT, encoding: "utf8" });
}

test("the declarations compile against Cloudflare's binding types", () => {
  const r = tsc(path.join(HERE, "types/use.ts"));
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("and catch a misuse (a number for a token, a missing binding method)", () => {
  const dir = fs.mkdtempSync(path.join(HERE, "types/.tmp-"));
  try {
    const f = path.join(dir, "bad.ts");
    fs.writeFileSync(f, `import { waitFor } from "@wal2edge/workers";
declare const db: { prepare(s: string): unknown };
export const p = waitFor(db, 42);\n`);
    const r = tsc(f);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /bad\.ts\(3,/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
