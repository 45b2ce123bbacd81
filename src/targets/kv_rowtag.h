/*
 * targets/kv_rowtag.h - the source row a REST KV key belongs to, carried in the
 *                       key's metadata so the key index can be rebuilt from KV.
 *
 * Owns:     the "wal2edge_row" metadata member ({"table": "schema.table",
 *           "pk": [identity texts]}): rendering it, and reading it back from a
 *           listed key's metadata as the index's (table, identity) pair.
 * Not mine: the rest of the metadata (targets/kv_apply), listing and the index
 *           itself (targets/kv_rest, targets/kv_index).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_TARGETS_KV_ROWTAG_H
#define WAL2EDGE_TARGETS_KV_ROWTAG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define KV_ROWTAG_NAME "wal2edge_row"

/* Append `,"wal2edge_row":{"table":TBL,"pk":PK}` to meta; pk is the identity as
 * targets/kv_index forms it (a JSON array of texts). */
bool kv_rowtag_append(Buf *meta, const char *tbl, const char *pk, size_t pk_len, Err *err) WARN_UNUSED;

/* The row a listed key's metadata names: *tbl (malloc'd) and the identity into pk exactly
 * as kv_identity_json forms it. false (and nothing set) when the metadata carries no
 * well-formed tag. */
bool kv_rowtag_parse(const char *metadata_json, char **tbl, Buf *pk);

#endif
