/*
 * pg/copied.h - which (mapped table, target) pairs have had their initial copy,
 *               kept in Postgres where every instance of a pipeline reads it.
 *
 * Owns:     the table public.wal2edge_copied (slot, target, source_table,
 *           copied_at): one row per pair copied (or found already mapped when
 *           the record began), and a row with empty target and table that says
 *           the record has begun for the slot; creating it when missing. It is
 *           an ordinary (logged) table: a server crash keeps it, so a pair whose
 *           copy was never recorded is never taken for copied.
 * Not mine: which pairs a config has and what to do about new ones
 *           (daemon/newmap); the copy itself (resync/job).
 * Secrets:  none: slot, target and table names.
 */
#ifndef WAL2EDGE_PG_COPIED_H
#define WAL2EDGE_PG_COPIED_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pg/conn.h"

#define COPIED_TABLE "public.wal2edge_copied"

typedef struct CopiedPair {
    char *target;              /* "d1.app", "kv.cache", "queues.changes" */
    char *table;               /* "schema.table" */
} CopiedPair;

/* Create the table when missing (ERR_PG naming the privilege it needs when it cannot). */
bool copied_ensure(PgConn *conn, Err *err) WARN_UNUSED;

/* The pairs recorded for slot (owned: copied_pairs_free); *begun: the record has begun for it. */
bool copied_load(PgConn *conn, const char *slot, CopiedPair **pairs, size_t *count, bool *begun,
                 Err *err) WARN_UNUSED;

/* Begin the record for slot with pairs[0..count) (what is mapped now counts as copied), in one
 * transaction. */
bool copied_begin(PgConn *conn, const char *slot, const CopiedPair *pairs, size_t count, Err *err) WARN_UNUSED;

/* Record one pair as copied (again: nothing changes). */
bool copied_save(PgConn *conn, const char *slot, const char *target, const char *table, Err *err) WARN_UNUSED;

/* Whether pairs[0..n) has (target, table). */
bool copied_has(const CopiedPair *pairs, size_t n, const char *target, const char *table);

void copied_pairs_free(CopiedPair *pairs, size_t count);

#endif
