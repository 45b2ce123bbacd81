// Compiled (not run) by types.test.mjs: the declarations fit Cloudflare's own binding types.
import {
  waitFor, tokenAfterCommit, tokenBeforeCommit, withToken, tokenFromRequest, bookmarkFromRequest,
  kvWaitFor, WaitTimeoutError, lsnToToken, isToken, lagBytes, shardOf, shardFor, type Token,
} from "@wal2edge/workers";

declare const env: { DB: D1Database; CACHE: KVNamespace };
declare const sql: { unsafe(q: string): Promise<Array<{ lsn: string }>> };
declare const pgClient: { query(q: string): Promise<{ rows: Array<{ lsn: string }> }> };

export async function handler(req: Request): Promise<Response> {
  const token: Token = await tokenAfterCommit(sql);
  const floor = await tokenBeforeCommit(pgClient);
  const r = await waitFor(env.DB, token, { slot: "wal2edge", timeoutMs: 100 });
  const bookmark: string | null = r.bookmark;
  const waited: number = r.waitedMs;
  const back = tokenFromRequest(req) ?? bookmarkFromRequest(req);
  const kv = await kvWaitFor<{ sku: string }>(env.CACHE, "product:1", floor, { type: "json" });
  const sku: string = kv.value.sku;
  const lsn: string = kv.metadata.commit_lsn;
  try {
    await waitFor(env.DB, lsnToToken("0/1"));
  } catch (e: unknown) {
    if (e instanceof WaitTimeoutError) {
      const lag: number | null = e.lagBytes;
      const at: Token | null = e.position;
      void lag, at;
    }
  }
  const ok: boolean = isToken(back) && (lagBytes(r.position, token) ?? 0) === 0;
  const shard: D1Database = shardOf(["acme", 7], [env.DB, env.DB]);
  const index: number = shardFor(7n, 4);
  void waited, sku, lsn, ok, shard, index;
  return withToken(new Response("ok"), { token, bookmark });
}
