/*
 * d1/sql.h - the statements that apply source changes to a D1 table.
 *
 * Owns:     statement generation for CDC apply: upsert for inserts (and for
 *           updates that carry every column), UPDATE of only the columns
 *           present (unchanged-TOAST columns are left out, never NULLed),
 *           DELETE by key, DELETE FROM for TRUNCATE, delete + insert when the
 *           key changes, multi-row upserts split by D1's limits, and the
 *           _wal2edge_state checkpoint upsert.
 * Not mine: sending them (the D1 targets), the schema (d1/ddl), value
 *           conversion (value/render).
 * Pure:     yes.
 *
 * Values are always bound parameters (?1..?N), identifiers always quoted.
 * Limits are checked here, with errors naming the table, the column and the
 * LSN: 100 parameters and 100,000 bytes of SQL per statement, 2,000,000 bytes
 * per row. With inline_blobs (the REST API cannot bind a BLOB) BLOB values
 * are written as X'..' literals and count toward the SQL size.
 */
#ifndef WAL2EDGE_D1_SQL_H
#define WAL2EDGE_D1_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "d1/table.h"
#include "pipeline/change.h"
#include "pipeline/deadletter.h"
#include "value/render.h"

typedef struct D1Stmt {
    char *sql;
    D1Value *params;           /* ?1..?N; owned */
    size_t param_count;
} D1Stmt;

typedef struct D1StmtList {
    D1Stmt *items;
    size_t count;
} D1StmtList;

typedef struct D1SqlLimits {
    size_t max_params;         /* D1_MAX_PARAMS */
    size_t max_sql_bytes;      /* D1_MAX_SQL_BYTES */
    size_t max_row_bytes;      /* D1_MAX_ROW_BYTES */
    bool inline_blobs;         /* BLOBs as X'..' literals (REST) instead of parameters */
} D1SqlLimits;

/* D1's documented limits, BLOBs bound. */
D1SqlLimits d1_sql_default_limits(void);

void d1_stmt_list_clear(D1StmtList *l);

/* Owned text of the single-row upsert for t (used by plan to check its size). */
char *d1_sql_upsert_text(const D1Table *t);

/*
 * Statements (appended to *out) for one INSERT/UPDATE/DELETE change of t's
 * source table; `lsn` (the transaction's commit LSN) only names the spot in
 * errors. TRUNCATE: see d1_sql_truncate. Errors: ERR_PROTOCOL (bad value, no
 * key in a delete), ERR_TOO_LARGE (a limit).
 */
bool d1_sql_for_change(const D1Table *t, const Change *c, Lsn lsn, const D1SqlLimits *lim,
                       D1StmtList *out, Err *err) WARN_UNUSED;

/* DELETE FROM t. */
bool d1_sql_truncate(const D1Table *t, D1StmtList *out, Err *err) WARN_UNUSED;

/*
 * Multi-row upsert of full rows (rows[r][c] is the value of t->cols[c]),
 * split into as few statements as the limits allow. Values are copied.
 */
bool d1_sql_upsert_rows(const D1Table *t, const D1Value *const *rows, size_t row_count, Lsn lsn,
                        const D1SqlLimits *lim, D1StmtList *out, Err *err) WARN_UNUSED;

/*
 * A change of t that D1 refuses for its row alone (docs/mappings.md,
 * "on_error"): the row's key and values as JSON (bounded), the reason (the
 * cause's message) and the policy of t's mapping, ready for
 * deadletter_refuse(dl, &r->policy, &r->entry, err). constraint: a D1
 * constraint refused it, else one of the limits above. Free with
 * d1_refusal_free.
 */
typedef struct D1Refusal {
    Buf key, value;
    char reason[ERR_MSG_MAX];
    DlPolicy policy;
    DlEntry entry;
} D1Refusal;
void d1_refusal_init(D1Refusal *r, const D1Table *t, const char *target, const TxnInfo *txn, const Change *c,
                     bool constraint, const Err *cause);
void d1_refusal_free(D1Refusal *r);
/* Its parts: the key alone (into key), and the policy alone. */
void d1_sql_change_key(const D1Table *t, const Change *c, Buf *key);
void d1_sql_refusal_policy(const D1Table *t, bool constraint, ErrCode code, DlPolicy *policy);

/* The checkpoint row: slot, commit and end LSN, updated_at = the commit time (UTC),
 * position = end LSN as 16 hex digits (what a Worker compares its token with). */
bool d1_sql_checkpoint(const char *slot, Lsn commit_lsn, Lsn end_lsn, int64_t commit_time_us,
                       D1StmtList *out, Err *err) WARN_UNUSED;

/* SELECT commit_lsn, end_lsn FROM _wal2edge_state WHERE slot = ?1 (static text). */
const char *d1_sql_checkpoint_query(void);

#endif
