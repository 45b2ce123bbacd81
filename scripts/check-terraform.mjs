#!/usr/bin/env node
// scripts/check-terraform.mjs DIR... - check every .tf under DIR against the Cloudflare provider's
// own schema, offline (the Terraform registry, and so `terraform init`/`validate`, is out of reach).
//
// The schema is the jsii manifest (.jsii) of @cdktf/provider-cloudflare 13.9.1, generated from
// provider 5.14.0; the HCL is parsed by @cdktf/hcl2json (HashiCorp's HCL parser in WebAssembly).
// Both are pinned devDependencies. For every cloudflare_* resource and data source it reports:
//   - a type the provider does not have (v4 names such as cloudflare_worker_script, typos);
//   - an attribute the type (or a nested attribute) does not have, with the closest real name;
//   - a required attribute that is missing, at any depth;
//   - a nested attribute written as a v4 block (`x { ... }` instead of `x = { ... }`);
//   - a literal that is not one of the attribute's documented values (expressions are not typed);
//   - a reference `cloudflare_T.NAME.ATTR` or `data.cloudflare_T.NAME.ATTR` to a type or an
//     attribute that does not exist.
// Exit 0 when clean, 1 with one line per problem (FILE: ADDRESS: message), 2 on a usage error.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const META_ARGS = new Set(["count", "for_each", "depends_on", "lifecycle", "provider", "provisioner",
  "connection", "dynamic"]);
const META_PROPS = new Set(["count", "dependsOn", "forEach", "lifecycle", "provider", "provisioners",
  "connection"]);

// camelCase jsii names back to Terraform's snake_case
const snake = (s) => s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());

// ---- the schema: {resource: {T: Attrs}, data: {T: Attrs}}, Attrs = {name: {required, enum?, nested?, list?}}
export function loadSchema(jsiiPath = require.resolve("@cdktf/provider-cloudflare/.jsii")) {
  const types = JSON.parse(fs.readFileSync(jsiiPath, "utf8")).types;
  const schema = { resource: {}, data: {}, computed: { resource: {}, data: {} } };
  const structOf = (t) => {
    // a property's type: a struct (single nested), a list/set/map of structs, or anything else
    const alts = t.union ? t.union.types : [t];
    for (const a of alts) {
      if (a.fqn && types[a.fqn]?.datatype) return { fqn: a.fqn, list: false };
      if (a.collection?.elementtype?.fqn && types[a.collection.elementtype.fqn]?.datatype)
        return { fqn: a.collection.elementtype.fqn, list: true };
    }
    return null;
  };
  const attrsOf = (fqn, depth = 0) => {
    const out = {};
    for (const p of types[fqn]?.properties ?? []) {
      if (depth === 0 && META_PROPS.has(p.name)) continue;
      const anchor = /#(\w+) /.exec(p.docs?.remarks ?? p.docs?.summary ?? "");
      const a = { required: !p.optional };
      const values = /Available values: (.*)\./.exec(p.docs?.remarks ?? "");
      if (values) a.enum = [...values[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
      const st = structOf(p.type);
      if (st && depth < 8) { a.nested = attrsOf(st.fqn, depth + 1); a.list = st.list; }
      out[anchor ? anchor[1] : snake(p.name)] = a;
    }
    return out;
  };
  for (const [fqn, t] of Object.entries(types)) {
    const kind = t.base === "cdktf.TerraformResource" ? "resource" : t.base === "cdktf.TerraformDataSource" ? "data" : null;
    if (!kind) continue;
    const m = /docs\/(?:resources|data-sources)\/\w+ (cloudflare_\w+)\}/.exec(t.docs?.summary ?? "");
    if (!m) continue;
    schema[kind][m[1]] = attrsOf(fqn + "Config");
    // what can be referenced: the arguments and every attribute the class exposes (computed ones too)
    schema.computed[kind][m[1]] = new Set((t.properties ?? []).filter((p) => !p.static).map((p) => snake(p.name)));
  }
  return schema;
}

// ---- suggestions
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}
function closest(name, candidates) {
  let best = null, bestD = Infinity;
  for (const c of candidates) {
    const dd = distance(name, c);
    if (dd < bestD) { best = c; bestD = dd; }
  }
  return best && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}
// v4 names whose v5 successor is not a near spelling (cloudflare-api.md §8, operations.md §1)
const V4_RENAMES = {
  cloudflare_worker_script: "cloudflare_workers_script",
  cloudflare_worker_route: "cloudflare_workers_route",
  cloudflare_worker_domain: "cloudflare_workers_custom_domain",
  cloudflare_worker_cron_trigger: "cloudflare_workers_cron_trigger",
  cloudflare_api_token_permission_groups: "cloudflare_account_api_token_permission_groups_list",
  cloudflare_record: "cloudflare_dns_record",
  cloudflare_access_application: "cloudflare_zero_trust_access_application",
  cloudflare_tunnel: "cloudflare_zero_trust_tunnel_cloudflared",
};

const isExpr = (v) => typeof v === "string" && v.includes("${");

// ---- checking one block body against its attributes
function checkBody(body, attrs, where, problems) {
  if (body && typeof body === "object" && !Array.isArray(body) && Object.keys(body).includes("dynamic")) return;
  for (const [key, value] of Object.entries(body)) {
    if (where.depth === 0 && META_ARGS.has(key)) continue;
    const a = attrs[key];
    if (!a) {
      const hint = closest(key, Object.keys(attrs));
      problems.push(`${where.at}: unknown attribute "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}`);
      continue;
    }
    checkValue(value, a, { at: `${where.at}.${key}`, depth: where.depth + 1 }, problems);
  }
  for (const [key, a] of Object.entries(attrs))
    if (a.required && !(key in body)) problems.push(`${where.at}: missing required attribute "${key}"`);
}

function checkValue(value, a, where, problems) {
  if (isExpr(value) || value === null) return;   // an expression: its type is Terraform's business
  if (a.nested) {
    if (a.list) {
      if (!Array.isArray(value)) {
        problems.push(`${where.at}: expected a list of objects, [{ ... }]`);
        return;
      }
      value.forEach((el, i) => {
        if (isExpr(el)) return;
        if (typeof el !== "object" || Array.isArray(el) || el === null) {
          problems.push(`${where.at}[${i}]: expected an object { ... }`);
          return;
        }
        checkBody(el, a.nested, { at: `${where.at}[${i}]`, depth: where.depth }, problems);
      });
    } else if (Array.isArray(value)) {
      // hcl2json gives a block `x { ... }` as [ {...} ] and an attribute `x = { ... }` as {...}
      problems.push(`${where.at}: a v4 block; in provider v5 it is an attribute: write \`${where.at.split(".").pop()} = { ... }\``);
    } else if (typeof value === "object") {
      checkBody(value, a.nested, where, problems);
    } else {
      problems.push(`${where.at}: expected an object { ... }, got ${JSON.stringify(value)}`);
    }
    return;
  }
  if (a.enum && typeof value === "string" && !a.enum.includes(value))
    problems.push(`${where.at}: "${value}" is not one of ${a.enum.map((e) => `"${e}"`).join(", ")}`);
}

// every reference to a cloudflare_* resource or data source inside a parsed value
function checkReferences(value, at, schema, problems) {
  if (typeof value === "string") {
    for (const m of value.matchAll(/(?<![\w.])(data\.)?(cloudflare_\w+)\.(\w+)(?:\[[^\]]*\])?\.(\w+)/g)) {
      const kind = m[1] ? "data" : "resource";
      const [type, attr] = [m[2], m[4]];
      const known = schema.computed[kind][type];
      if (!known) problems.push(`${at}: reference to unknown ${kind === "data" ? "data source" : "resource"} type ${type}`);
      else if (!known.has(attr) && !(attr in schema[kind][type]))
        problems.push(`${at}: ${m[0]}: ${type} has no attribute "${attr}"${closest(attr, known) ? ` (did you mean "${closest(attr, known)}"?)` : ""}`);
    }
  } else if (Array.isArray(value)) value.forEach((v) => checkReferences(v, at, schema, problems));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => checkReferences(v, at, schema, problems));
}

export async function checkFile(file, schema) {
  const { parse } = require("@cdktf/hcl2json");
  const problems = [];
  let doc;
  try {
    doc = await parse(file, fs.readFileSync(file, "utf8"));
  } catch (e) {
    return [`${e.message.replace(/\s+/g, " ").trim()}`];
  }
  for (const kind of ["resource", "data"]) {
    for (const [type, byName] of Object.entries(doc[kind] ?? {})) {
      if (!type.startsWith("cloudflare_")) continue;
      for (const [name, bodies] of Object.entries(byName)) {
        const addr = `${kind === "data" ? "data." : ""}${type}.${name}`;
        const attrs = schema[kind][type];
        if (!attrs) {
          const hint = V4_RENAMES[type] ?? closest(type, Object.keys(schema[kind]));
          problems.push(`${addr}: unknown ${kind === "data" ? "data source" : "resource"} type ${type} in provider 5.14` +
            (hint ? ` (a v4 name? use ${hint})` : ""));
          continue;
        }
        for (const body of bodies) checkBody(body, attrs, { at: addr, depth: 0 }, problems);
      }
    }
  }
  checkReferences(doc, "reference", schema, problems);
  return problems.map((p) => `${file}: ${p}`);
}

function tfFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== ".terraform") out.push(...tfFiles(p));
    else if (e.isFile() && e.name.endsWith(".tf")) out.push(p);
  }
  return out.sort();
}

export async function checkDirs(dirs, schema = loadSchema()) {
  const problems = [];
  let files = 0, blocks = 0;
  for (const dir of dirs) {
    for (const f of tfFiles(dir)) {
      files++;
      const text = fs.readFileSync(f, "utf8");
      blocks += (text.match(/^(resource|data) "cloudflare_/gm) ?? []).length;
      problems.push(...(await checkFile(f, schema)));
    }
  }
  return { problems, files, blocks };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0 || dirs.some((d) => !fs.statSync(d, { throwIfNoEntry: false })?.isDirectory())) {
    console.error("usage: check-terraform.mjs DIR...   (directories of .tf files)");
    process.exit(2);
  }
  const { problems, files, blocks } = await checkDirs(dirs);
  for (const p of problems) console.error(p);
  if (files === 0) {
    console.error(`check-terraform: no .tf files under ${dirs.join(" ")}`);
    process.exit(1);
  }
  if (problems.length) {
    console.error(`check-terraform: ${problems.length} problem(s) in ${files} file(s)`);
    process.exit(1);
  }
  console.log(`check-terraform: ${blocks} cloudflare_* blocks in ${files} files match provider 5.14.0's schema`);
}
