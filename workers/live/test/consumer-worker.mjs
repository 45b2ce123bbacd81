// The reference consumer as the live tests run it in Miniflare: real D1, Queue, Analytics Engine
// and Durable Object bindings. Miniflare's Analytics Engine keeps nothing, so the dataset is
// wrapped: each data point is checked against Analytics Engine's limits, kept for GET /points,
// and passed on to the real binding.
import { makeConsumer } from "../../queue-consumer/src/index.mjs";

const consumer = makeConsumer({ retryDelaySeconds: 0 });
const points = [];

function recording(dataset) {
  return {
    writeDataPoint(p) {
      const blobs = p.blobs || [], doubles = p.doubles || [], indexes = p.indexes || [];
      const bytes = (s) => new TextEncoder().encode(String(s)).length;
      if (blobs.length > 20 || doubles.length > 20 || indexes.length > 1) throw new Error("over 20 blobs, 20 doubles or 1 index");
      if (indexes.some((i) => bytes(i) > 96)) throw new Error("an index is over 96 bytes");
      if (blobs.reduce((n, b) => n + bytes(b), 0) > 16 * 1024) throw new Error("blobs over 16 KB");
      if (doubles.some((d) => typeof d !== "number" || !Number.isFinite(d))) throw new Error("a double is not a finite number");
      points.push(JSON.parse(JSON.stringify(p)));
      dataset.writeDataPoint(p);
    },
  };
}

export default {
  queue(batch, env) {
    return consumer.queue(batch, { ...env, ANALYTICS: recording(env.ANALYTICS) });
  },
  fetch() {
    return Response.json(points);
  },
};
