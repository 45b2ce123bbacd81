// The loop Postgres -> wal2edge -> D1/KV -> shop Worker -> (write via Hyperdrive) -> Postgres, on
// Cloudflare's runtime (harness.mjs): read-your-writes through the token, what a read without it
// says, the fence for a commit to an unmapped table, the Analytics Engine data points, bad input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startLoop, shopFetch, pgEnv, wal2edgeBin } from "./harness.mjs";

const why = pgEnv().skip || (!wal2edgeBin() && "no wal2edge binary (cmake --build --preset dev)");
let loop;

before(async () => {
  if (!why) loop = await startLoop({ name: "workers_loop" });
});

after(async () => {
  if (loop) await loop.stop();
});

const get = (p, headers) => shopFetch(loop.shop, p, { headers });
const post = (p, body) => shopFetch(loop.shop, p, { method: "POST", body });

test("products come from KV (warm, then run)", { skip: why }, async () => {
  const r = await get("/products");
  assert.equal(r.status, 200, r.text);
  const skus = r.json.products.map((p) => p.sku);
  const pg = loop.sql("SELECT string_agg(sku, ',' ORDER BY sku) FROM products").split(",");
  assert.deepEqual(skus, pg);
  assert.equal(typeof r.json.products[0].price, "string", "numeric stays exact");
  assert.equal(r.headers["x-wal2edge-freshness"], "none");
});

test("a POST writes through Hyperdrive and reads its own order back from D1", { skip: why }, async () => {
  const r = await post("/orders", { user_id: 2, items: [{ sku: "BK-003", quantity: 2 }, { sku: "CB-004", quantity: 1 }], notes: "loop" });
  assert.equal(r.status, 201, r.text);
  const { id, token, order, freshness } = r.json;
  assert.equal(freshness.state, "caught-up");
  assert.ok(freshness.position >= token);
  assert.equal(r.headers["x-wal2edge-lsn"], token);
  assert.match(String(r.headers["set-cookie"]), new RegExp(`^wal2edge_lsn=${token};`));
  assert.ok(r.headers["x-d1-bookmark"], "the bookmark for later replica reads");
  // the row in D1 is the row Postgres has
  const pgRow = loop.sql(`SELECT user_id || '|' || total || '|' || status || '|' || notes FROM orders WHERE id = '${id}'`);
  assert.equal(`${order.user_id}|${order.total}|${order.status}|${order.notes}`, pgRow);
  assert.deepEqual(order.items.map((i) => [i.line_no, i.sku, i.quantity]), [[1, "BK-003", 2], [2, "CB-004", 1]]);
});

test("a GET without the token may not see the order and says so; with it, it does", { skip: why }, async () => {
  const placed = await post("/orders?wait=0", { user_id: 3, items: [{ sku: "BK-003", quantity: 1 }] });
  assert.equal(placed.status, 202, placed.text);
  const { id, token } = placed.json;
  const blind = await get(`/orders/${id}`);
  assert.equal(blind.json.freshness.state, "unknown");
  assert.equal(blind.headers["x-wal2edge-freshness"], "unknown");
  if (blind.status === 404) assert.match(blind.json.error, /did not wait for your latest write/);
  else assert.equal(blind.status, 200, blind.text);
  const seen = await get(`/orders/${id}`, { "x-wal2edge-lsn": token });
  assert.equal(seen.status, 200, seen.text);
  assert.equal(seen.json.freshness.state, "caught-up");
  assert.equal(seen.json.order.id, id);
  // the cookie alone carries it too, and the list shows the order
  const list = await get("/orders?user_id=3", { cookie: `wal2edge_lsn=${token}` });
  assert.equal(list.json.freshness.state, "caught-up");
  assert.ok(list.json.orders.some((o) => o.id === id));
});

test("a commit to a table no mapping names is caught up too (the fence)", { skip: why }, async () => {
  loop.sql("INSERT INTO shop_visits DEFAULT VALUES");
  const token = loop.token();
  const r = await get("/orders?user_id=1", { "x-wal2edge-lsn": token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.freshness.state, "caught-up", JSON.stringify(r.json.freshness));
  assert.ok(r.json.freshness.position >= token);
  assert.ok(r.json.freshness.waited_ms < 3000);
});

test("a product changed in Postgres is read from KV once its key's commit_lsn reaches the floor", { skip: why }, async () => {
  // the floor: the insert position read as the transaction's last statement, before COMMIT
  const out = loop.sql(`BEGIN;
    UPDATE products SET price = price + 1 WHERE sku = 'CB-004' RETURNING price;
    SELECT upper(lpad(to_hex((pg_current_wal_insert_lsn() - '0/0')::bigint), 16, '0'));
    COMMIT;`).split("\n");
  const [price, floor] = out;
  const r = await get("/products/CB-004", { "x-wal2edge-kv-floor": floor });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.freshness.state, "caught-up", JSON.stringify(r.json.freshness));
  assert.equal(r.json.product.price, price);
  assert.ok(r.json.freshness.commit_lsn, "the KV target's metadata");
  // a floor no write has reached yet: the old value, saying it is behind
  const ahead = await get("/products/CB-004", { "x-wal2edge-kv-floor": "7FFFFFFF00000000" });
  assert.equal(ahead.json.freshness.state, "behind");
  assert.equal(ahead.json.product.price, price);
  assert.equal((await get("/products/CB-004", { "x-wal2edge-kv-floor": "16/0" })).status, 400);
  assert.equal((await get("/products/NOPE")).status, 404);
});

test("bad orders get a clear 400 and write nothing", { skip: why }, async () => {
  const before = loop.sql("SELECT count(*) FROM orders");
  let r = await post("/orders", { user_id: 1, items: [{ sku: "NOPE-1", quantity: 1 }] });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /no product with sku "NOPE-1"/);
  r = await post("/orders", { user_id: 99999, items: [{ sku: "BK-003", quantity: 1 }] });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /no user 99999/);
  r = await post("/orders", { user_id: 1, items: [{ sku: "BK-003", quantity: 0 }] });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /items\[0\]\.quantity/);
  assert.equal(loop.sql("SELECT count(*) FROM orders"), before);
});

test("with wal2edge stopped the wait times out and the answer says how far behind", { skip: why }, async () => {
  await loop.stopRun();
  const placed = await post("/orders?wait=0", { user_id: 4, items: [{ sku: "CB-004", quantity: 3 }] });
  assert.equal(placed.status, 202, placed.text);
  const r = await get(`/orders/${placed.json.id}`, { "x-wal2edge-lsn": placed.json.token });
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.freshness.state, "behind");
  assert.ok(r.json.freshness.lag_bytes > 0);
  assert.ok(r.json.freshness.waited_ms >= 3000);
  assert.match(r.json.error, /replication is \d+ bytes behind your write/);
});

test("every request wrote an Analytics Engine data point with the freshness it waited for", { skip: why }, async () => {
  const points = (await loop.edge.admin("GET", "/analytics?dataset=wal2edge_shop")).json;
  const by = (route, state) => points.filter((p) => p.index1 === route && p.blob2 === state);
  assert.ok(by("products", "none").length >= 1);
  const placed = by("place", "caught-up");
  assert.ok(placed.length >= 1 && placed.every((p) => p.double1 >= 0 && p.double3 >= 1), JSON.stringify(placed));
  assert.ok(by("order", "unknown").length >= 1);
  const behind = by("order", "behind");
  assert.equal(behind.length, 1);
  assert.ok(behind[0].double1 >= 3000 && behind[0].double2 > 0 && behind[0].blob3 === "404", JSON.stringify(behind));
  assert.ok(points.some((p) => p.index1 === "place" && p.blob3 === "400"), "errors are counted too");
});
