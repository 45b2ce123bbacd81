// Types of @wal2edge/workers (src/index.mjs). D1Database and KVNamespace are the Workers
// runtime's (@cloudflare/workers-types); only the members used here are required.

/** 16 upper-case hex digits: an LSN in the form of _wal2edge_state.position. */
export type Token = string;

export declare const TOKEN_HEADER: "x-wal2edge-lsn";
export declare const TOKEN_COOKIE: "wal2edge_lsn";
export declare const BOOKMARK_HEADER: "x-d1-bookmark";
export declare const DEFAULT_SLOT: "wal2edge";

/** A postgres.js `sql` (or reserved connection) or a node-postgres Client / PoolClient. */
export type PgClient =
  | { unsafe(query: string): PromiseLike<ArrayLike<{ lsn: string }>> }
  | { query(query: string): PromiseLike<{ rows: Array<{ lsn: string }> }> };

export declare function lsnToToken(lsn: string): Token;
export declare function isToken(s: unknown): s is Token;
export declare function lagBytes(position: Token | null, token: Token): number | null;

/** Call after COMMIT, on the same connection. */
export declare function tokenAfterCommit(client: PgClient): Promise<Token>;
/** Call as the transaction's last statement before COMMIT; for kvWaitFor only. */
export declare function tokenBeforeCommit(client: PgClient): Promise<Token>;

export declare class WaitTimeoutError extends Error {
  readonly name: "WaitTimeoutError";
  readonly token: Token;
  /** The checkpoint's position when the wait gave up (null: no checkpoint row / no metadata). */
  readonly position: Token | null;
  readonly lagBytes: number | null;
  readonly waitedMs: number;
}

interface D1PreparedLike {
  bind(...values: unknown[]): { first<T = Record<string, unknown>>(): Promise<T | null> };
}
interface D1SessionLike {
  prepare(sql: string): D1PreparedLike;
  getBookmark?(): string | null;
}
export interface D1Like extends D1SessionLike {
  withSession?(constraintOrBookmark?: string): D1SessionLike;
}
export interface KVLike {
  getWithMetadata(key: string, options?: { type?: string }): Promise<{ value: unknown; metadata: unknown }>;
}

export interface WaitOptions {
  /** The replication slot whose checkpoint to wait on (wal2edge's source.slot); default "wal2edge". */
  slot?: string;
  /** Default 5000. */
  timeoutMs?: number;
}
export interface WaitResult {
  /** The D1 session's bookmark after the read (null without the Sessions API). */
  bookmark: string | null;
  position: Token;
  waitedMs: number;
  polls: number;
}
export declare function waitFor(db: D1Like, token: Token, options?: WaitOptions): Promise<WaitResult>;

export interface KVWaitResult<V = unknown> {
  value: V;
  metadata: { commit_lsn: string; commit_time: string; [k: string]: unknown };
  waitedMs: number;
  polls: number;
}
export declare function kvWaitFor<V = string>(
  kv: KVLike,
  key: string,
  token: Token,
  options?: { timeoutMs?: number; type?: "text" | "json" | "arrayBuffer" | "stream" },
): Promise<KVWaitResult<V>>;

export declare function tokenFromRequest(request: Request): Token | null;
export declare function bookmarkFromRequest(request: Request): string | null;
export declare function withToken(
  response: Response,
  options?: { token?: Token | null; bookmark?: string | null; cookie?: boolean; maxAge?: number },
): Response;

/** One shard_by value: its Postgres text, or an integer (printed the way Postgres prints it). */
export type ShardValue = string | number | bigint;
/** The 64-bit FNV-1a hash of a shard key: the values' UTF-8 bytes joined by one 0x00 byte. */
export declare function shardKeyHash(key: ShardValue | readonly ShardValue[]): bigint;
/** Jump consistent hash of a 64-bit key into [0, buckets). */
export declare function jumpHash(key: bigint | number, buckets: number): number;
/** The index of the database (in the mapping's "database" list) that holds rows with this shard key. */
export declare function shardFor(key: ShardValue | readonly ShardValue[], databases: number): number;
/** The element of `databases` (in the mapping's order) that holds rows with this shard key. */
export declare function shardOf<T>(key: ShardValue | readonly ShardValue[], databases: readonly T[]): T;
