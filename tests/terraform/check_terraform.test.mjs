// scripts/check-terraform.mjs against the provider's 5.14 schema: the repository's terraform/ is
// clean, and each kind of mistake it exists to catch is reported, by name, with exit code 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { loadSchema, checkDirs } from "../../scripts/check-terraform.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const checker = path.join(repo, "scripts/check-terraform.mjs");
const schema = loadSchema();

function tfDir(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "w2e-tf-"));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}
async function problemsOf(text) {
  const dir = tfDir({ "main.tf": text });
  try {
    return (await checkDirs([dir], schema)).problems.join("\n");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("the schema has the provider's resources and data sources", () => {
  assert.ok(Object.keys(schema.resource).length > 150);
  assert.equal(schema.resource.cloudflare_queue.queue_name.required, true);
  assert.equal(schema.resource.cloudflare_d1_database.read_replication.nested.mode.required, true);
  assert.equal(schema.resource.cloudflare_workers_script.bindings.list, true);
  assert.ok(schema.data.cloudflare_account_api_token_permission_groups_list);
});

test("the repository's terraform/ matches the schema", async () => {
  const { problems, files, blocks } = await checkDirs([path.join(repo, "terraform")], schema);
  assert.deepEqual(problems, []);
  assert.ok(files >= 6 && blocks >= 10, `${files} files, ${blocks} blocks`);
});

test("a misspelt attribute, with the real name suggested", async () => {
  const p = await problemsOf(`resource "cloudflare_queue" "q" {
  account_id = "x"
  queue_nme  = "changes"
}
`);
  assert.match(p, /cloudflare_queue\.q: unknown attribute "queue_nme" \(did you mean "queue_name"\?\)/);
  assert.match(p, /cloudflare_queue\.q: missing required attribute "queue_name"/);
});

test("a misspelt attribute in the repository's own module fails it", async () => {
  const src = path.join(repo, "terraform/modules/wal2edge");
  const dir = tfDir(Object.fromEntries(fs.readdirSync(src).filter((f) => f.endsWith(".tf"))
    .map((f) => [f, fs.readFileSync(path.join(src, f), "utf8")])));
  try {
    const main = path.join(dir, "main.tf");
    fs.writeFileSync(main, fs.readFileSync(main, "utf8").replace("dead_letter_queue =", "dead_letter_queues ="));
    const { problems } = await checkDirs([dir], schema);
    assert.match(problems.join("\n"), /cloudflare_queue_consumer\.changes: unknown attribute "dead_letter_queues"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a v4 resource name, with its v5 successor", async () => {
  const p = await problemsOf(`resource "cloudflare_worker_script" "w" {
  account_id = "x"
  name       = "consumer"
  content    = "export default {}"
}
data "cloudflare_api_token_permission_groups" "all" {}
`);
  assert.match(p, /cloudflare_worker_script\.w: unknown resource type cloudflare_worker_script in provider 5\.14 \(a v4 name\? use cloudflare_workers_script\)/);
  assert.match(p, /data\.cloudflare_api_token_permission_groups\.all: unknown data source type .*use cloudflare_account_api_token_permission_groups_list/);
});

test("a missing required attribute, at the top and nested", async () => {
  const p = await problemsOf(`resource "cloudflare_r2_bucket" "b" {
  account_id = "x"
}
resource "cloudflare_hyperdrive_config" "h" {
  account_id = "x"
  name       = "origin"
  origin = {
    scheme   = "postgres"
    host     = "db.example.com"
    database = "app"
    user     = "u"
  }
}
`);
  assert.match(p, /cloudflare_r2_bucket\.b: missing required attribute "name"/);
  assert.match(p, /cloudflare_hyperdrive_config\.h\.origin: missing required attribute "password"/);
});

test("a v4 block where v5 has an attribute", async () => {
  const p = await problemsOf(`resource "cloudflare_d1_database" "d" {
  account_id = "x"
  name       = "app"
  read_replication {
    mode = "auto"
  }
}
`);
  assert.match(p, /cloudflare_d1_database\.d\.read_replication: a v4 block; .*write `read_replication = \{ \.\.\. \}`/);
});

test("nested list attributes, documented values and references are checked", async () => {
  const p = await problemsOf(`resource "cloudflare_d1_database" "d" {
  account_id       = "x"
  name             = "app"
  read_replication = { mode = "sometimes" }
}
resource "cloudflare_queue" "q" {
  account_id = "x"
  queue_name = "changes"
}
resource "cloudflare_workers_script" "w" {
  account_id  = "x"
  script_name = "consumer"
  bindings = [
    { name = "DB", type = "d1", database = cloudflare_d1_database.d.id },
    { name = "Q", type = "queue", queue_name = cloudflare_queue.q.queue_nam },
  ]
}
output "x" { value = cloudflare_kv_namespace.k.id }
`);
  assert.match(p, /read_replication\.mode: "sometimes" is not one of "auto", "disabled"/);
  assert.match(p, /cloudflare_workers_script\.w\.bindings\[0\]: unknown attribute "database"/);
  assert.match(p, /cloudflare_queue\.q\.queue_nam: cloudflare_queue has no attribute "queue_nam" \(did you mean "queue_name"\?\)/);
  assert.match(p, /reference to unknown resource type cloudflare_kv_namespace/);
});

test("meta-arguments and expressions pass", async () => {
  const p = await problemsOf(`resource "cloudflare_queue" "q" {
  count      = 2
  account_id = var.account_id
  queue_name = "changes-\${count.index}"
  settings   = var.settings
  depends_on = [cloudflare_r2_bucket.b]
  lifecycle {
    prevent_destroy = true
  }
}
resource "cloudflare_r2_bucket" "b" {
  account_id = "x"
  name       = "b"
}
`);
  assert.equal(p, "");
});

test("the command exits 1 with the problems, 0 when clean, 2 on a usage error", () => {
  const bad = tfDir({ "main.tf": 'resource "cloudflare_record" "r" {\n  zone_id = "z"\n}\n' });
  try {
    const r = spawnSync(process.execPath, [checker, bad], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /main\.tf: cloudflare_record\.r: unknown resource type cloudflare_record .*cloudflare_dns_record/);
    assert.match(r.stderr, /1 problem\(s\) in 1 file\(s\)/);
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
  const ok = spawnSync(process.execPath, [checker, path.join(repo, "terraform")], { encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /match provider 5\.14\.0's schema/);
  assert.equal(spawnSync(process.execPath, [checker], { encoding: "utf8" }).status, 2);
});

test("the wal2edge_env output sets every variable the configs read for Cloudflare", async () => {
  const { parse } = (await import("node:module")).createRequire(import.meta.url)("@cdktf/hcl2json");
  const file = path.join(repo, "terraform/modules/wal2edge/outputs.tf");
  const doc = await parse(file, fs.readFileSync(file, "utf8"));
  const env = JSON.stringify(doc.output.wal2edge_env[0].value);
  const set = new Set([...env.matchAll(/([A-Z][A-Z0-9_]*)=/g)].map((m) => m[1]));
  for (const cfg of ["packaging/wal2edge.jsonc", "wal2edge.jsonc"]) {
    const text = fs.readFileSync(path.join(repo, cfg), "utf8");
    const read = [...text.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1])
      .filter((v) => !["DATABASE_URL", "STATE_DIRECTORY", "CLOUDFLARE_API_BASE_URL", "METRICS_LISTEN"].includes(v) && !v.startsWith("WAL2EDGE_"));
    for (const v of read) assert.ok(set.has(v), `${cfg} reads \${${v}}, which wal2edge_env does not set`);
  }
  // read by the config's r2 section from the environment (docs/config.md)
  for (const v of ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]) assert.ok(set.has(v), v);
});
