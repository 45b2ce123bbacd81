/*
 * targets/kv_follow.h - a KV target meeting its source tables' schema changes.
 *
 * Owns:     the check at a DDL capture message: a key or value template of
 *           the table's mapping that names a column the change took away stops
 *           the target, naming the template and the fix (schema/plan); so does
 *           any change of a mapping with "on_schema_change": "stop". Values
 *           written after the change follow the new shape by themselves
 *           (pipeline/rowjson renders the stream's columns); the keys already
 *           there are refreshed by a re-copy into the target when a change of
 *           the columns alters what their values hold (a "row" value, or a
 *           column a value or metadata template names).
 * Not mine: keys and values (targets/kv_apply), the transaction (targets/kv).
 */
#ifndef WAL2EDGE_TARGETS_KV_FOLLOW_H
#define WAL2EDGE_TARGETS_KV_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "pipeline/change.h"
#include "targets/kv_spec.h"

/*
 * Check message c when it is a DDL capture message of one of tables[0..count); ERR_CHECK to stop.
 * A DROP TABLE of one of them: *dropped is it when its mapping says "on_drop": "drop" (the caller
 * deletes the keys of its rows), else NULL (logged: the keys stay). A change of the columns that
 * alters the values already stored: *refresh is the table (the caller asks for a re-copy of it
 * into this target), else NULL.
 */
bool kv_follow_message(const KvTable *tables, size_t count, const char *target, const Change *c, const KvTable **dropped,
                       const KvTable **refresh, Err *err) WARN_UNUSED;

#endif
