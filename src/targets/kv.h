/*
 * targets/kv.h - the Workers KV target: cache keys built from rows, one target
 *                per configured KV namespace that some mapping uses; embedded
 *                (STATE_DIR/kv/NAME.sqlite, table kv) or remote (REST bulk API).
 *
 * Owns:     the KV target: its SQLite file and transaction, the KV
 *           checkpoint, and `warm` (filling the namespace from a snapshot,
 *           resumably). Its parts: the key specs (targets/kv_spec), the key
 *           index and row state (targets/kv_index), turning a row change into
 *           puts and deletes (targets/kv_apply), writing them over REST with
 *           coalescing and the one-write-per-second-per-key guard
 *           (targets/kv_rest). docs/kv.md describes it.
 * Not mine: HTTP, retries of a request, the request budget (cf/client), the
 *           snapshot connection (pg/snapshot), SQLite (state/sqlite).
 * Pure:     no (SQLite files; network through CfClient when remote).
 *
 * Durability: the index, row state and checkpoint live in one SQLite file
 * (embedded: the kv file itself, so KV data, index and checkpoint commit in one
 * SQLite transaction; remote: STATE_DIR/kv/NAME.index.sqlite). Changes are
 * applied to the index inside an open SQLite transaction (a savepoint per
 * source transaction, so rollback() is exact) and the KV writes of the window
 * are collected, last value per key winning, in a pending table of the same
 * file. flush() (remote) first writes every pending key to KV (bulk write and
 * bulk delete, unsuccessful_keys retried), and only then commits index +
 * checkpoint. A crash in between replays the window from the old index: the
 * same puts and deletes are computed again and KV writes are overwrites, so
 * the result is the same. The opposite order could forget keys never written.
 */
#ifndef WAL2EDGE_TARGETS_KV_H
#define WAL2EDGE_TARGETS_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cf/client.h"
#include "config/config.h"
#include "core/err.h"
#include "mapping/mapping.h"
#include "pg/catalog.h"
#include "pg/snapshot.h"
#include "pipeline/target.h"
#include "targets/kv_rest.h"
#include "targets/kv_spec.h"

/*
 * The target for KV namespace `t` (kind TARGET_KV): every kv entry of `maps`
 * whose namespace is t->name, resolved against `cat` (may be freed after;
 * `maps` must outlive the target). client: the run's shared CfClient for a
 * remote namespace (t->remote_id set), NULL for the embedded store.
 * ERR_CONFIG when a template names an unknown column or a table has no
 * usable row identity; ERR_STORE for SQLite errors.
 */
Target *kv_target_new(const Config *cfg, const ConfigTarget *t, const MappingSet *maps,
                      const CatalogInfo *cat, CfClient *client, Err *err) WARN_UNUSED;
/* The same with the REST requests sent through http (a test's fake; NULL: embedded only). */
Target *kv_target_new_http(const Config *cfg, const ConfigTarget *t, const MappingSet *maps,
                           const CatalogInfo *cat, const KvHttp *http, Err *err) WARN_UNUSED;

/* Counters (KvStats: targets/kv_spec.h). */
KvStats kv_target_stats(const Target *t);
/* REST: replace the key index by the one the namespace's key metadata implies (docs/kv.md) - at
 * open without a checkpoint, and when a standby group's checkpoint moves this one forward (another
 * instance wrote keys this index does not know). Embedded: nothing to do. */
bool kv_target_rebuild_index(Target *t, Err *err) WARN_UNUSED;

/* ---- warm ---- */

typedef struct KvWarmProgress {
    const char *namespace_name;
    const char *table;         /* "schema.name" */
    uint64_t rows, keys, bytes;/* this run of warm, this table */
    int64_t rows_estimate;     /* -1 unknown */
    uint64_t resumed_rows;     /* rows done by an earlier, interrupted warm */
    bool done;
} KvWarmProgress;
typedef void (*KvWarmProgressFn)(void *user, const KvWarmProgress *p);

/* The source tables this target maps ("schema.name"). */
size_t kv_target_table_count(const Target *t);
const char *kv_target_table(const Target *t, size_t i);
/* Whether an earlier warm of this namespace stopped before finishing (resume). */
bool kv_warm_interrupted(Target *t, Err *err, bool *out) WARN_UNUSED;
/* Forget the progress of earlier warms (a fresh, complete warm follows). */
bool kv_warm_reset(Target *t, Err *err) WARN_UNUSED;
/*
 * Warm table i from snap: every row in key order from after the last key an
 * interrupted warm committed, keys written in bulk requests; after each
 * request the index and the position commit together. lsn/time_us go into
 * the values' metadata (the snapshot's position). A table already warmed in
 * the interrupted warm is skipped.
 */
bool kv_warm_table(Target *t, size_t i, PgSnapshot *snap, Lsn lsn, int64_t time_us, KvWarmProgressFn fn,
                   void *user, Err *err) WARN_UNUSED;

/*
 * Another source of rows than Postgres (a snapshot): next() gives 1 and a row
 * in *tup whose columns rel describes (a subset of the table's, matched by
 * name), 0 at the end, -1 on error. A source yields its rows in the same
 * order every time: an interrupted warm resumes by skipping the rows it
 * committed. tag ("snapshot:ID") is recorded as the progress's position, so
 * that only a warm from the same source resumes it.
 */
typedef struct KvWarmSource {
    const Rel *rel;
    const char *tag;
    int64_t rows_estimate;
    int (*next)(void *src, PgoTuple *tup, Err *err);
    void *src;
} KvWarmSource;
/* Warm table i from src: the same keys, values, index, bulk requests and
 * commits as kv_warm_table. ERR_CONFIG when src lacks a column the keys,
 * values, metadata or row identity need. */
bool kv_warm_table_from(Target *t, size_t i, const KvWarmSource *src, Lsn lsn, int64_t time_us,
                        KvWarmProgressFn fn, void *user, Err *err) WARN_UNUSED;
/* The tag of the source the recorded warm progress read: *tag NULL when it
 * read Postgres (or there is none), "" when tables read different sources. */
bool kv_warm_progress_tag(Target *t, char **tag, Err *err) WARN_UNUSED;
/* After a complete warm from a snapshot at lsn: `run` continues from there
 * (transactions that committed before lsn are in the snapshot and skipped). */
bool kv_warm_set_checkpoint(Target *t, Lsn lsn, Err *err) WARN_UNUSED;

#endif
