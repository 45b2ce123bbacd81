/*
 * targets/kv_rest.h - writing a KV target's window of puts and deletes to a
 *                     namespace through the REST bulk API.
 *
 * Owns:     the pending table (the window's writes, last value per key
 *           winning, in the index file), the one-write-per-second-per-key
 *           cooldown, pages of at most KV_BULK_PAIRS keys, retrying the keys a
 *           bulk request did not take, rebuilding the key index from the
 *           keys' metadata (targets/kv_rowtag), and the HTTP seam (KvHttp) the requests
 *           go through: cf/client's bulk calls, or a test's fake.
 * Not mine: which keys to write (targets/kv_apply), HTTP itself and request
 *           retries (cf/client), the transaction around it (targets/kv).
 * Pure:     no (SQLite; HTTP through the seam).
 */
#ifndef WAL2EDGE_TARGETS_KV_REST_H
#define WAL2EDGE_TARGETS_KV_REST_H

#include <stdbool.h>
#include <stdint.h>

#include "cf/client.h"
#include "core/err.h"
#include "core/log.h"
#include "state/sqlite.h"
#include "targets/kv_index.h"
#include "targets/kv_spec.h"

/* What the REST part sends through: each call makes one or more bulk requests and reports the
 * keys the API did not take in *out (freed by the caller with cf_kv_bulk_result_free). */
typedef struct KvHttp {
    bool (*bulk_write)(void *user, const char *namespace_id, const CfKvPair *pairs, size_t n, CfKvBulkResult *out,
                       Err *err);
    bool (*bulk_delete)(void *user, const char *namespace_id, const char *const *keys, size_t n,
                        CfKvBulkResult *out, Err *err);
    /* one page (up to 1000 keys, with metadata) of the namespace's keys after cursor (NULL: the first);
     * NULL in a seam that cannot list: the index is then not rebuilt from KV */
    bool (*list_keys)(void *user, const char *namespace_id, const char *cursor, CfKvList *out, Err *err);
    void (*sleep_ms)(void *user, int64_t ms);  /* the cooldown's and retries' waits */
    void *user;
} KvHttp;

/* The real seam: cf/client's bulk write and delete on client, and nanosleep. */
KvHttp kv_http_cf(CfClient *client);

typedef struct KvRest {
    Sqlite *db;                /* borrowed: the index file */
    char *namespace_id;
    char *name;                /* "kv.NAME", for messages */
    KvHttp http;
    SqliteStmt *put, *del;     /* into the pending table: where kv_apply's writes go */
    SqliteStmt *page, *get_pending;
} KvRest;

/* Create (and empty) the pending table in db, prepare the statements. */
bool kv_rest_open(KvRest *r, Sqlite *db, const char *namespace_id, const char *name, const KvHttp *http,
                  Err *err) WARN_UNUSED;
void kv_rest_close(KvRest *r);

/*
 * Write every pending key to KV: coalesced, cooled down, the keys a request did not
 * take retried; then the pending table is emptied. window_emits: the writes the window
 * collected (the difference to those sent counts as coalesced in stats).
 */
bool kv_rest_send(KvRest *r, KvStats *stats, uint64_t window_emits, Err *err) WARN_UNUSED;

/*
 * Replace the key index ix by the namespace's: every listed key whose metadata names a row of one
 * of tables is added to that row's keys (row states are dropped), in one SQLite transaction. For a
 * target whose local index is missing or behind (a standby taking over); each page is one request
 * (stats->requests), progress is logged every 10 pages.
 */
bool kv_rest_rebuild_index(KvRest *r, KvIndex *ix, const KvTable *tables, size_t ntables, KvStats *stats,
                           const LogCtx *log, Err *err) WARN_UNUSED;

#endif
