// Analytics Engine for the emulator's app Workers (a wrapped binding): writeDataPoint keeps the
// point as a row of the edge-analytics D1 database, in the shape the SQL API returns (blob1..,
// double1.., index1), for the admin API to read back. It returns the write's promise, which a
// Worker may hand to ctx.waitUntil (the real binding returns undefined).
const SCHEMA = `CREATE TABLE IF NOT EXISTS points (seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL,
  worker TEXT NOT NULL, timestamp TEXT NOT NULL, point TEXT NOT NULL)`;

export function pointRow(p) {
  const row = {};
  (p.blobs || []).forEach((b, i) => { row[`blob${i + 1}`] = b === null ? null : String(b); });
  (p.doubles || []).forEach((d, i) => { row[`double${i + 1}`] = Number(d); });
  row.index1 = (p.indexes || [])[0] ?? "";
  return row;
}

export default function (env) {
  return {
    writeDataPoint(p = {}) {
      if ((p.blobs || []).length > 20 || (p.doubles || []).length > 20 || (p.indexes || []).length > 1)
        throw new TypeError("writeDataPoint: at most 20 blobs, 20 doubles and 1 index");
      const row = JSON.stringify(pointRow(p));
      return env.AE_STORE.batch([
        env.AE_STORE.prepare(SCHEMA),
        env.AE_STORE.prepare("INSERT INTO points (dataset, worker, timestamp, point) VALUES (?1, ?2, ?3, ?4)")
          .bind(env.dataset, env.worker, new Date().toISOString(), row),
      ]);
    },
  };
}
