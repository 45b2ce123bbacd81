// The reference consumer in Miniflare with a real D1 binding, driven by POST /batch: the body's
// messages are handed to the consumer's queue handler as one batch, so a test can run batches
// concurrently (as Queues does with max_concurrency > 1) in any order; the answer says which
// messages were acked and which retried.
import { makeConsumer } from "../src/index.mjs";

const consumer = makeConsumer({ retryDelaySeconds: 0 });

export default {
  async fetch(req, env) {
    const { queue, messages } = await req.json();
    const acked = [], retried = [];
    const batch = {
      queue,
      messages: messages.map((body, i) => ({
        id: String(i), body, attempts: 1,
        ack: () => acked.push(i),
        retry: () => retried.push(i),
      })),
    };
    await consumer.queue(batch, env);
    return Response.json({ acked, retried });
  },
};
