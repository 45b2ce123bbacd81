/*
 * state/sqlite.c - see sqlite.h.
 *
 * A thin wrapper: every failure becomes ERR_STORE with the file's path and
 * SQLite's message, keeping SQLite's extended code in err->detail for
 * sqlite_err_is_constraint. Connections are opened NOMUTEX (each belongs to one
 * thread) in WAL mode with synchronous=FULL: the files opened here (state store,
 * embedded D1 and KV, snapshot ledger) hold checkpoints and records that must
 * survive a power loss once committed. Transactions are BEGIN IMMEDIATE so a
 * writer waits on the 10 s busy timeout at BEGIN instead of failing halfway.
 * SQLite's memory statistics are switched off once per process: they cost a
 * global mutex per allocation.
 */
#include "state/sqlite.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "core/fs.h"
#include "core/mem.h"

struct Sqlite {
    sqlite3 *db;
    char *path;
};

struct SqliteStmt {
    Sqlite *owner;
    sqlite3_stmt *st;
};

static bool sqlite_fail(Sqlite *db, int rc, Err *err, const char *what)
{
    err_set(err, ERR_STORE, "%s (%s): %s", what, db->path,
            db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc));
    err->detail = rc;
    return false;
}

/* SQLite's memory statistics take a global mutex on every allocation (1,500
 * instructions per replicated change under callgrind); nothing here reads them. */
static void configure_once(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

Sqlite *sqlite_open(const char *path, bool create, Err *err) { return sqlite_open_paged(path, create, 0, err); }

Sqlite *sqlite_open_paged(const char *path, bool create, int page_size, Err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_once);
    if (create && !fs_mkdir_parents(path, err))
        return NULL;
    Sqlite *db = xcalloc(1, sizeof *db);
    db->path = xstrdup(path);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db->db, flags, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(db, rc, err, "cannot open database");
        sqlite_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db->db, 1);
    sqlite3_busy_timeout(db->db, 10000);
    /* before journal_mode = WAL, which writes a new file's first page: the size is fixed from there */
    char pragma[48];
    snprintf(pragma, sizeof pragma, "PRAGMA page_size = %d", page_size);
    if ((page_size && !sqlite_exec(db, pragma, err)) ||
        !sqlite_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                         "PRAGMA foreign_keys = OFF;",
                     err)) {
        sqlite_close(db);
        return NULL;
    }
    return db;
}

void sqlite_close(Sqlite *db)
{
    if (!db)
        return;
    sqlite3_close_v2(db->db);
    free(db->path);
    free(db);
}

const char *sqlite_path(const Sqlite *db) { return db->path; }

bool sqlite_exec(Sqlite *db, const char *sql, Err *err)
{
    int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK || sqlite_fail(db, rc, err, "sqlite statement failed");
}

bool sqlite_begin(Sqlite *db, Err *err) { return sqlite_exec(db, "BEGIN IMMEDIATE", err); }
bool sqlite_commit(Sqlite *db, Err *err) { return sqlite_exec(db, "COMMIT", err); }

void sqlite_rollback(Sqlite *db)
{
    if (!sqlite3_get_autocommit(db->db))
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

SqliteStmt *sqlite_prepare(Sqlite *db, const char *sql, Err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(db, rc, err, "cannot prepare statement");
        return NULL;
    }
    SqliteStmt *s = xcalloc(1, sizeof *s);
    s->owner = db;
    s->st = st;
    return s;
}

void sqlite_finalize(SqliteStmt *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->st);
    free(st);
}

void sqlite_reset(SqliteStmt *st)
{
    sqlite3_reset(st->st);
    sqlite3_clear_bindings(st->st);
}

static bool bind_result(SqliteStmt *st, int rc, Err *err)
{
    return rc == SQLITE_OK || sqlite_fail(st->owner, rc, err, "cannot bind parameter");
}

bool sqlite_bind_null(SqliteStmt *st, int idx, Err *err)
{
    return bind_result(st, sqlite3_bind_null(st->st, idx), err);
}

bool sqlite_bind_int64(SqliteStmt *st, int idx, int64_t v, Err *err)
{
    return bind_result(st, sqlite3_bind_int64(st->st, idx, v), err);
}

bool sqlite_bind_double(SqliteStmt *st, int idx, double v, Err *err)
{
    return bind_result(st, sqlite3_bind_double(st->st, idx, v), err);
}

bool sqlite_bind_text(SqliteStmt *st, int idx, const char *s, size_t len, Err *err)
{
    if (len > INT32_MAX)
        return err_set(err, ERR_TOO_LARGE, "value of %zu bytes is too large for sqlite", len);
    return bind_result(st, sqlite3_bind_text(st->st, idx, s, (int)len, SQLITE_TRANSIENT), err);
}

bool sqlite_bind_blob(SqliteStmt *st, int idx, const void *p, size_t len, Err *err)
{
    if (len > INT32_MAX)
        return err_set(err, ERR_TOO_LARGE, "value of %zu bytes is too large for sqlite", len);
    return bind_result(st, sqlite3_bind_blob(st->st, idx, p, (int)len, SQLITE_TRANSIENT), err);
}

bool sqlite_bind_text_ref(SqliteStmt *st, int idx, const char *s, size_t len, Err *err)
{
    if (len > INT32_MAX)
        return err_set(err, ERR_TOO_LARGE, "value of %zu bytes is too large for sqlite", len);
    return bind_result(st, sqlite3_bind_text(st->st, idx, s, (int)len, SQLITE_STATIC), err);
}

bool sqlite_bind_blob_ref(SqliteStmt *st, int idx, const void *p, size_t len, Err *err)
{
    if (len > INT32_MAX)
        return err_set(err, ERR_TOO_LARGE, "value of %zu bytes is too large for sqlite", len);
    return bind_result(st, sqlite3_bind_blob(st->st, idx, p, (int)len, SQLITE_STATIC), err);
}

int sqlite_step(SqliteStmt *st, Err *err)
{
    int rc = sqlite3_step(st->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    sqlite_fail(st->owner, rc, err, "sqlite statement failed");
    return -1;
}

bool sqlite_run(SqliteStmt *st, Err *err)
{
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
    }
    sqlite3_reset(st->st);
    return rc == 0;
}

int sqlite_column_count(SqliteStmt *st) { return sqlite3_column_count(st->st); }
const char *sqlite_column_name(SqliteStmt *st, int col) { return sqlite3_column_name(st->st, col); }

SqliteValType sqlite_column_type(SqliteStmt *st, int col)
{
    switch (sqlite3_column_type(st->st, col)) {
    case SQLITE_INTEGER: return SQLITE_VAL_INTEGER;
    case SQLITE_FLOAT: return SQLITE_VAL_FLOAT;
    case SQLITE_TEXT: return SQLITE_VAL_TEXT;
    case SQLITE_BLOB: return SQLITE_VAL_BLOB;
    default: return SQLITE_VAL_NULL;
    }
}

int64_t sqlite_column_int64(SqliteStmt *st, int col) { return sqlite3_column_int64(st->st, col); }
double sqlite_column_double(SqliteStmt *st, int col) { return sqlite3_column_double(st->st, col); }

const char *sqlite_column_text(SqliteStmt *st, int col, size_t *len)
{
    const char *text = (const char *)sqlite3_column_text(st->st, col);
    if (len)
        *len = (size_t)sqlite3_column_bytes(st->st, col);
    return text;
}

const void *sqlite_column_blob(SqliteStmt *st, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(st->st, col);
    if (len)
        *len = (size_t)sqlite3_column_bytes(st->st, col);
    return p;
}

int64_t sqlite_changes(Sqlite *db) { return sqlite3_changes64(db->db); }

bool sqlite_err_is_constraint(const Err *err)
{
    return err->code == ERR_STORE && (err->detail & 0xff) == SQLITE_CONSTRAINT;
}
