// The built-in consumer Worker of the edge emulator. The emulator hands it
// every batch delivered to a queue whose consumer is of type "worker"; the
// dispatcher records each delivery (GET /__admin/queues/{id}/delivered).
//
// Test hooks (only in this built-in consumer): a JSON message body with
//   "edge_test_retry_until_attempt": N   is retried until its attempt N, then acked;
//   "edge_test_throw": true              makes the whole batch throw (so it is retried).
// Replace this Worker with your own by starting the emulator with
// EDGE_CONSUMER_SCRIPT=path/to/worker.mjs (see tests/edge/README.md).
export default {
  async queue(batch) {
    for (const m of batch.messages) {
      const b = m.body;
      if (b && typeof b === "object" && b.edge_test_throw) throw new Error("edge_test_throw");
    }
    for (const m of batch.messages) {
      const b = m.body;
      if (b && typeof b === "object" && Number.isInteger(b.edge_test_retry_until_attempt) && m.attempts < b.edge_test_retry_until_attempt) {
        m.retry();
      } else {
        m.ack();
      }
    }
  },
};
