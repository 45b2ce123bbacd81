/*
 * pipeline/event.h - the change event: one row change as a Debezium-style
 *                    JSON envelope (docs/events.md).
 *
 * Owns:     the event format: `id`, `op` (c u d r t), `key`, `before`, `after`,
 *           `unchanged_toast`, `json_columns`, `source` {version, connector, name, ts_ms,
 *           snapshot, db, schema, table, txId, lsn, commit_lsn}, `ts_ms` and
 *           the `transaction` block {id, total_order, data_collection_order,
 *           and event_count on the last event of a transaction}; the pointer
 *           event that replaces an oversized event (claim check).
 * Not mine: how values render (pipeline/rowjson, d1_value_append_json: the one
 *           rendering shared with D1, KV and snapshots); which events a queue
 *           publishes and where they go (targets/queue).
 * Pure:     yes.
 *
 * Unchanged TOAST: a column pgoutput did not send ('u') is taken from the old
 * row when the server sent a full one (REPLICA IDENTITY FULL); otherwise it is
 * rendered as {"unchanged_toast":true} in `after` and its name is listed in
 * the envelope's `unchanged_toast` array. It is never rendered as null.
 */
#ifndef WAL2EDGE_PIPELINE_EVENT_H
#define WAL2EDGE_PIPELINE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "pg/catalog.h"
#include "pipeline/change.h"

#define EVENT_CONNECTOR "wal2edge"

/* How one source table's events are rendered: row shape, key columns, names. */
typedef struct EventTable EventTable;

/*
 * For `table` of `cat` (which may be freed afterwards), leaving out
 * exclude[0..exclude_count). The key is the primary key, else the REPLICA
 * IDENTITY index, else the columns the stream marks as the identity. Owned.
 */
EventTable *event_table_new(const CatalogInfo *cat, const CatTable *table, const char *const *exclude,
                            size_t exclude_count, Err *err) WARN_UNUSED;
void event_table_free(EventTable *t);
const char *event_table_qualname(const EventTable *t);
/* The event's key columns (0 when the stream's identity columns are the key). Borrowed. */
size_t event_table_key_count(const EventTable *t);
const char *event_table_key_name(const EventTable *t, size_t i);
/* Whether column `col` is left out of the events. */
bool event_table_excludes(const EventTable *t, const char *col);

/* What an event says about where it comes from. */
typedef struct EventMeta {
    const char *db;            /* source database name; NULL → "" */
    const char *server;        /* source.name (the replication slot); NULL → "wal2edge" */
    uint32_t xid;
    Lsn commit_lsn;
    int64_t commit_time_us;
    uint32_t index;            /* the change's position in its source transaction: id = "LSN:index" */
    uint32_t sub;              /* > 0: the sub-th table of one TRUNCATE: id = "LSN:index.sub" */
    uint64_t total_order;      /* 1-based, among the transaction's events in this queue */
    uint64_t table_order;      /* 1-based, among those of the same table */
    int64_t now_ms;            /* the envelope's ts_ms (when wal2edge produced it) */
    bool snapshot;             /* a snapshot read: op "r", source.snapshot "true" */
} EventMeta;

/* The op letter of a change: 'c' 'u' 'd' 't' ('r' for snapshot reads); 0 for messages. */
char event_op_letter(ChangeOp op, bool snapshot);

/*
 * Append the event of an INSERT, UPDATE or DELETE (or, with meta->snapshot,
 * a read of c->new_tuple) of table `t`. ERR_PROTOCOL when a value does not
 * parse for its type.
 */
bool event_append_row(Buf *out, const EventTable *t, const EventMeta *meta, const Change *c,
                      Err *err) WARN_UNUSED;

/* Append the truncate event of one table (before/after/key null). */
bool event_append_truncate(Buf *out, const EventTable *t, const EventMeta *meta, Err *err) WARN_UNUSED;
/* A schema change of t at its point in the stream: op "s", the DDL capture message as "ddl"
 * (docs/events.md, "Schema changes"; ddl_json is one line of JSON). */
bool event_append_ddl(Buf *out, const EventTable *t, const EventMeta *meta, const char *ddl_json,
                      Err *err) WARN_UNUSED;

/* Mark a rendered event as the last of its transaction: adds transaction.event_count. */
bool event_mark_last(Buf *event, uint64_t event_count, Err *err) WARN_UNUSED;

/*
 * The pointer event for an event stored elsewhere (claim check): the same
 * envelope without `before`/`after`/`unchanged_toast`, plus
 * "claim_check": {"bucket", "key", "bytes", "sha256"}. Appended to *out.
 */
bool event_claim_pointer(const char *event, size_t len, const char *bucket, const char *key,
                         const char *sha256_hex, Buf *out, Err *err) WARN_UNUSED;

/* The stable id "0/1A2B3C8:12" ("0/1A2B3C8:12.1" with sub) into buf (at least EVENT_ID_MAX bytes). */
#define EVENT_ID_MAX 48
char *event_id(Lsn commit_lsn, uint32_t index, uint32_t sub, char *buf);

#endif
