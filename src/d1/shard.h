/*
 * d1/shard.h - a change of a sharded D1 table, seen from one of its databases.
 *
 * Owns:     which database a row change belongs to (its shard_by values through
 *           mapping/shard), and what a shard does with a change whose shard key
 *           moved the row: the old row's database deletes it, the new row's
 *           database inserts it, the others do nothing (docs/sharding.md).
 * Not mine: the shard function (mapping/shard), the statements (d1/sql), the
 *           checks that make every shard key known (d1/ddl: NOT NULL, carried
 *           by old row images).
 * Pure:     yes.
 */
#ifndef WAL2EDGE_D1_SHARD_H
#define WAL2EDGE_D1_SHARD_H

#include <stdbool.h>

#include "core/err.h"
#include "d1/table.h"
#include "pipeline/change.h"

/*
 * What database t->shard does with row change c of table t: *out is c itself (the
 * row is this database's, or t is not sharded), `moved` filled with the DELETE of
 * the old row or the INSERT of the new one (an update moved the row between
 * databases), or NULL (another database's row). False with *err when the shard
 * key cannot be read (a NULL or binary value; a moved row whose new image lacks
 * unchanged TOAST values).
 */
bool d1_shard_route(const D1Table *t, const Change *c, const Change **out, Change *moved, Err *err) WARN_UNUSED;

/* The database index of the row in tuple tup of rel (t's shard_by values); false with *err. */
bool d1_shard_of_tuple(const D1Table *t, const Rel *rel, const PgoTuple *tup, uint32_t *shard, Err *err) WARN_UNUSED;

#endif
