/*
 * targets/kv_resync.h - a KV target's side of an online re-copy (`wal2edge
 *                       resync`, docs/resync.md).
 *
 * Owns:     a chunk (pipeline/resync's high watermark) applied to KV: the keys
 *           of its rows written again (less the rows the stream changed between
 *           the watermarks), and the keys of the rows of its key range that
 *           Postgres no longer has removed, found through the key index.
 * Not mine: keys and values (targets/kv_apply), the transaction (targets/kv).
 */
#ifndef WAL2EDGE_TARGETS_KV_RESYNC_H
#define WAL2EDGE_TARGETS_KV_RESYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pipeline/change.h"
#include "pipeline/resync.h"
#include "targets/kv_apply.h"

/* Message c when it is a resync watermark of one of tables[0..count) (its identity: the primary key). */
bool kv_resync_message(KvApply *a, ResyncWindow *w, const KvTable *tables, size_t count, const char *target,
                       const Change *c, Err *err) WARN_UNUSED;

#endif
