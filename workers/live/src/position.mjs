// Positions in the change stream, as the live channel compares them.
//
// A change's position is its event id, `COMMIT_LSN:INDEX` (docs/events.md): the commit LSN of
// its transaction, then its index in that transaction (`INDEX.N` for the N-th table of one
// TRUNCATE). A bare `COMMIT_LSN` stands for the end of that transaction: every change of it.
// Positions become [lsn, ord] pairs of numbers for SQLite; an LSN is exact as a double up to
// 2^53 bytes of WAL (8 PiB).

const END_OF_TXN = 2 ** 40; // above any index a transaction can have

export class PositionError extends Error {}

// "16/B374D848:3" -> { lsn, ord, text }; throws PositionError on anything else.
export function parsePosition(text) {
  if (typeof text !== "string") throw new PositionError(`a position is a string like "0/16B3748:2", not ${JSON.stringify(text)}`);
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})(?::(\d{1,9}(?:\.\d{1,6})?))?$/.exec(text);
  if (!m) throw new PositionError(`"${text.slice(0, 64)}" is not a position (COMMIT_LSN or COMMIT_LSN:INDEX, e.g. "0/16B3748:2")`);
  const lsn = parseInt(m[1], 16) * 2 ** 32 + parseInt(m[2], 16);
  if (lsn > Number.MAX_SAFE_INTEGER) throw new PositionError(`position ${text} is beyond 2^53`);
  return { lsn, ord: m[3] === undefined ? END_OF_TXN : Number(m[3]), text };
}

// <0, 0, >0 as a is before, at, after b.
export function comparePositions(a, b) {
  return a.lsn === b.lsn ? a.ord - b.ord : a.lsn - b.lsn;
}

export const ZERO = Object.freeze({ lsn: 0, ord: 0, text: "0/0:0" });
