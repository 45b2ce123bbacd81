// shardFor and friends against tests/fixtures/shard/vectors.json, the vectors src/mapping/shard.c is
// tested on (tests/unit/mapping/shard_test.c): a Worker picks the database wal2edge wrote the row to.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { shardKeyHash, jumpHash, shardFor, shardOf } from "../src/index.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const V = JSON.parse(fs.readFileSync(path.resolve(HERE, "../../../tests/fixtures/shard/vectors.json"), "utf8"));
const hex = (h) => h.toString(16).padStart(16, "0");

test("FNV-1a 64 on its published vectors", () => {
  for (const { bytes, hash } of V.fnv1a64) assert.equal(hex(shardKeyHash(bytes)), hash, JSON.stringify(bytes));
});

test("jump hash on its published vectors", () => {
  for (const { key, buckets, bucket } of V.jump) assert.equal(jumpHash(BigInt(key), buckets), bucket, `${key}/${buckets}`);
});

test("the shard function agrees with wal2edge's on every shared vector", () => {
  let n = 0;
  for (const v of V.shard) {
    assert.equal(hex(shardKeyHash(v.key)), v.hash, JSON.stringify(v.key));
    for (const [dbs, want] of Object.entries(v.shards)) {
      assert.equal(shardFor(v.key, Number(dbs)), want, `${JSON.stringify(v.key)} over ${dbs}`);
      n++;
    }
  }
  assert.ok(n >= 100, `${n} vectors`);
});

test("integers print as Postgres prints them; one value equals a one-element key", () => {
  assert.equal(shardFor(42, 16), shardFor("42", 16));
  assert.equal(shardFor(42n, 16), shardFor(["42"], 16));
  assert.equal(shardFor(-1, 1000), shardFor("-1", 1000));
  assert.notEqual(shardKeyHash(["a", "b"]), shardKeyHash("ab"));
  assert.equal(shardOf("acme", ["app-0", "app-1", "app-2", "app-3"]), `app-${shardFor("acme", 4)}`);
});

test("values JavaScript cannot print as Postgres does are refused", () => {
  assert.throws(() => shardFor(1.5, 4), /pass a string/);
  assert.throws(() => shardFor(2 ** 60, 4), /pass a string/);
  assert.throws(() => shardFor([], 4), /no value/);
  assert.throws(() => shardFor("x", 0), /buckets 0/);
  assert.throws(() => shardOf("x", []), /no databases/);
});
