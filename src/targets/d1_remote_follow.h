/*
 * targets/d1_remote_follow.h - a REST D1 database following its source tables'
 * schema changes (targets/d1_follow's store for the Cloudflare API).
 *
 * Owns:     what this bridge knows of the D1 database's columns and kept shapes
 *           (_wal2edge_schema, as in the embedded file): read from D1 once, at the
 *           first schema change or changed Relation, then kept in step with the
 *           statements it hands out - D1 cannot be read back between them, they
 *           are still buffered; the statements of each change (ALTER TABLE, the
 *           shape's upsert), handed to targets/d1_remote for the request of the
 *           change's transaction and its checkpoint (so a replay after a crash
 *           finds D1 exactly in the shape of its checkpoint).
 * Not mine: the diff, the plan, the statements (targets/d1_follow, d1/evolve);
 *           the requests and the checkpoint (targets/d1_remote).
 */
#ifndef WAL2EDGE_TARGETS_D1_REMOTE_FOLLOW_H
#define WAL2EDGE_TARGETS_D1_REMOTE_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "cf/payload.h"
#include "core/err.h"
#include "d1/sql.h"
#include "targets/d1_follow.h"

/* One request to D1 (the target's sender); the reads go through it. */
typedef bool (*D1RemoteQueryFn)(void *user, const CfD1Stmt *stmts, size_t n, CfD1Result *out, Err *err);

typedef struct D1RemoteFollow D1RemoteFollow;

D1RemoteFollow *d1_remote_follow_new(const D1Schema *schema, D1RemoteQueryFn query, void *user);
void d1_remote_follow_free(D1RemoteFollow *f);

/* The store whose statements collect in d1_remote_follow_take's list. */
const D1FollowStore *d1_remote_follow_store(D1RemoteFollow *f);

/* Move the statements collected since the last call into *out (appended). */
void d1_remote_follow_take(D1RemoteFollow *f, D1StmtList *out);

/*
 * The reads of D1's state, to go in the target's opening request: their count,
 * and the statements written to out[0..count) when out is not NULL (borrowing
 * f's strings); d1_remote_follow_read takes their results.
 */
size_t d1_remote_follow_reads(const D1RemoteFollow *f, CfD1Stmt *out);
void d1_remote_follow_read(D1RemoteFollow *f, const CfD1StmtResult *res);

/* Forget what is known (after statements handed out were not sent): read D1 again when needed. */
void d1_remote_follow_forget(D1RemoteFollow *f);

#endif
