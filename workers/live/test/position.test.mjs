// Positions as the live channel parses and orders them (docs/workers.md, "The live channel").
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePosition, comparePositions, PositionError } from "../src/position.mjs";

test("event ids and bare commit LSNs parse and order as the stream does", () => {
  const p = parsePosition("16/B374D848:3");
  assert.equal(p.lsn, 0x16 * 2 ** 32 + 0xb374d848);
  assert.equal(p.ord, 3);
  const order = ["0/FF:0", "0/FF:2", "0/FF:2.1", "0/FF:2.2", "0/FF:10", "0/FF", "0/100:0", "1/0:0"].map(parsePosition);
  for (let i = 1; i < order.length; i++) assert.ok(comparePositions(order[i - 1], order[i]) < 0, `${order[i - 1].text} < ${order[i].text}`);
  assert.equal(comparePositions(parsePosition("0/ff:1"), parsePosition("0/FF:1")), 0);
});

test("anything else is refused with the reason", () => {
  for (const bad of ["", "0/", "/1", "0/1:", "0/1:x", "0/1:-1", "123456789/0", "0/1 ", "0/1:1.2.3"]) {
    assert.throws(() => parsePosition(bad), (e) => e instanceof PositionError && /is not a position/.test(e.message), bad);
  }
  assert.throws(() => parsePosition(42), /a position is a string/);
  assert.throws(() => parsePosition("FFFFFFFF/FFFFFFFF:0"), /beyond 2\^53/);
});
