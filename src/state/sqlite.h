/*
 * state/sqlite.h - the only code that includes sqlite3.h.
 *
 * Owns:     opening SQLite files the way wal2edge needs them (WAL journal,
 *           synchronous=FULL so a committed checkpoint survives power loss,
 *           busy timeout, foreign keys off: targets mirror the source, which
 *           already enforced its constraints), prepared statements, and turning
 *           SQLite errors into Err (ERR_STORE, detail = SQLite result code).
 * Not mine: what is stored; the domain modules (state/store, the embedded D1
 *           and KV targets) build their APIs on this seam.
 */
#ifndef WAL2EDGE_STATE_SQLITE_H
#define WAL2EDGE_STATE_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct Sqlite Sqlite;
typedef struct SqliteStmt SqliteStmt;

typedef enum { SQLITE_VAL_NULL, SQLITE_VAL_INTEGER, SQLITE_VAL_FLOAT, SQLITE_VAL_TEXT, SQLITE_VAL_BLOB } SqliteValType;

/* Open (creating the file and its parent directories when create is true). */
Sqlite *sqlite_open(const char *path, bool create, Err *err) WARN_UNUSED;
/*
 * The same, a file made here getting pages of page_size bytes (a power of two,
 * 512..65536; 0: SQLite's 4096). A file that exists keeps its own. Larger pages
 * mean fewer system calls for a file written in many small rows at scattered
 * keys (the embedded KV: a quarter of the pwrite and pread calls at 16 KiB).
 */
Sqlite *sqlite_open_paged(const char *path, bool create, int page_size, Err *err) WARN_UNUSED;
void sqlite_close(Sqlite *db);
const char *sqlite_path(const Sqlite *db);

/* Run one or more statements that return no rows (DDL, PRAGMA). */
bool sqlite_exec(Sqlite *db, const char *sql, Err *err) WARN_UNUSED;

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Rollback never fails loudly. */
bool sqlite_begin(Sqlite *db, Err *err) WARN_UNUSED;
bool sqlite_commit(Sqlite *db, Err *err) WARN_UNUSED;
void sqlite_rollback(Sqlite *db);

SqliteStmt *sqlite_prepare(Sqlite *db, const char *sql, Err *err) WARN_UNUSED;
void sqlite_finalize(SqliteStmt *st);
/* Reset for re-execution and clear bindings. */
void sqlite_reset(SqliteStmt *st);

/* Parameters are 1-based, like SQLite's. Values are copied. */
bool sqlite_bind_null(SqliteStmt *st, int idx, Err *err) WARN_UNUSED;
bool sqlite_bind_int64(SqliteStmt *st, int idx, int64_t v, Err *err) WARN_UNUSED;
bool sqlite_bind_double(SqliteStmt *st, int idx, double v, Err *err) WARN_UNUSED;
bool sqlite_bind_text(SqliteStmt *st, int idx, const char *s, size_t len, Err *err) WARN_UNUSED;
bool sqlite_bind_blob(SqliteStmt *st, int idx, const void *p, size_t len, Err *err) WARN_UNUSED;
/* Not copied (SQLite reads them where they are): the bytes must stay as they are until the
 * parameter is bound again or the statement finalized, and every parameter is bound again
 * before each step. For a hot statement whose values sit in buffers that outlive the step. */
bool sqlite_bind_text_ref(SqliteStmt *st, int idx, const char *s, size_t len, Err *err) WARN_UNUSED;
bool sqlite_bind_blob_ref(SqliteStmt *st, int idx, const void *p, size_t len, Err *err) WARN_UNUSED;

/* 1: a row is ready; 0: done; -1: error in *err. */
int sqlite_step(SqliteStmt *st, Err *err) WARN_UNUSED;
/* Step a statement through all its rows (a write) and reset it: true when it ran to the end. */
bool sqlite_run(SqliteStmt *st, Err *err) WARN_UNUSED;

int sqlite_column_count(SqliteStmt *st);
const char *sqlite_column_name(SqliteStmt *st, int col);
SqliteValType sqlite_column_type(SqliteStmt *st, int col);
int64_t sqlite_column_int64(SqliteStmt *st, int col);
double sqlite_column_double(SqliteStmt *st, int col);
/* Borrowed until the next step/reset/finalize; *len may be NULL. */
const char *sqlite_column_text(SqliteStmt *st, int col, size_t *len);
const void *sqlite_column_blob(SqliteStmt *st, int col, size_t *len);

/* Rows changed by the last INSERT/UPDATE/DELETE. */
int64_t sqlite_changes(Sqlite *db);
/* Whether err is SQLite refusing a statement for a constraint (UNIQUE, CHECK, NOT NULL, ...). */
bool sqlite_err_is_constraint(const Err *err);

#endif
