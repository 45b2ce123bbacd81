/*
 * state/store.c - see store.h.
 *
 * Four SQLite tables: meta (schema version, the bound source, the slot's
 * incarnation), checkpoints, target_health and source_tables. Opening creates the
 * schema if missing and upgrades version 1 to 2 in one transaction; rows from
 * version 1 keep a NULL "through" position, read as unknown. LSNs are stored both
 * as integers (for comparisons in SQL) and as text for people reading the file.
 * Every write is a single upsert, so the rules live in SQL: a checkpoint moves
 * "through" up to its end but never back under the same slot incarnation, and
 * resets it under a new one; an idle position only moves it forward unless a gap
 * is being accepted. Binding the source checks and records the three keys in one
 * transaction, so a directory is never half-bound to two sources.
 */
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "state/sqlite.h"

struct Store {
    Sqlite *db;
    Lsn incarnation;              /* the slot's, as last recorded here; 0 unknown */
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS checkpoints ("
    "  target TEXT PRIMARY KEY,"
    "  commit_lsn TEXT NOT NULL,"
    "  end_lsn TEXT NOT NULL,"
    "  commit_lsn_num INTEGER NOT NULL,"
    "  end_lsn_num INTEGER NOT NULL,"
    "  commit_time_us INTEGER NOT NULL,"
    "  updated_at_us INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS target_health ("
    "  target TEXT PRIMARY KEY,"
    "  lagging INTEGER NOT NULL,"
    "  retries INTEGER NOT NULL,"
    "  since_us INTEGER NOT NULL,"
    "  next_retry_us INTEGER NOT NULL,"
    "  last_error TEXT NOT NULL,"
    "  updated_at_us INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');";

/* Version 2: where each target is known to be complete through (its checkpoint, or a later
 * idle position confirmed while it was current) and the slot incarnation it belongs to.
 * Rows from version 1 keep through_lsn_num NULL: "not known". */
static const char schema_v2_sql[] =
    "ALTER TABLE checkpoints ADD COLUMN through_lsn_num INTEGER;"
    "ALTER TABLE checkpoints ADD COLUMN incarnation_num INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';";

static bool upgrade(Sqlite *db, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, "SELECT value FROM meta WHERE key = 'schema_version'", err);
    if (!st)
        return false;
    int rc = sqlite_step(st, err);
    bool v1 = rc == 1 && strcmp(sqlite_column_text(st, 0, NULL), "1") == 0;
    sqlite_finalize(st);
    if (rc < 0)
        return false;
    if (!v1)
        return true;
    if (!sqlite_begin(db, err))
        return false;
    if (!sqlite_exec(db, schema_v2_sql, err)) {
        sqlite_rollback(db);
        return false;
    }
    return sqlite_commit(db, err);
}

static Store *open_at(const char *state_dir, bool create, Err *err)
{
    char *path = xasprintf("%s/state.sqlite", state_dir);
    if (!create && access(path, F_OK) != 0) {
        err_set(err, ERR_STORE, "no state in \"%s\" yet (nothing has run with this configuration)",
                state_dir);
        free(path);
        return NULL;
    }
    Sqlite *db = sqlite_open(path, create, err);
    free(path);
    if (!db)
        return NULL;
    if (!sqlite_exec(db, schema_sql, err) || !upgrade(db, err)) {
        sqlite_close(db);
        return NULL;
    }
    Store *s = xcalloc(1, sizeof *s);
    s->db = db;
    Err meta_err;
    if (!store_load_incarnation(s, &meta_err)) {
        *err = meta_err;
        store_close(s);
        return NULL;
    }
    return s;
}

Store *store_open(const char *state_dir, Err *err) { return open_at(state_dir, true, err); }
Store *store_open_existing(const char *state_dir, Err *err) { return open_at(state_dir, false, err); }

void store_close(Store *s)
{
    if (!s)
        return;
    sqlite_close(s->db);
    free(s);
}

static bool meta_get(Store *s, const char *key, char *out, size_t size, bool *found, Err *err)
{
    SqliteStmt *st = sqlite_prepare(s->db, "SELECT value FROM meta WHERE key = ?1", err);
    if (!st)
        return false;
    *found = false;
    bool ok = sqlite_bind_text(st, 1, key, strlen(key), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1) {
        snprintf(out, size, "%s", sqlite_column_text(st, 0, NULL));
        *found = true;
    }
    sqlite_finalize(st);
    return rc >= 0;
}

static bool meta_put(Store *s, const char *key, const char *value, Err *err)
{
    SqliteStmt *st = sqlite_prepare(s->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, key, strlen(key), err) &&
              sqlite_bind_text(st, 2, value, strlen(value), err) && sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

bool store_bind_source(Store *s, const char *system_id, const char *database, const char *slot, Err *err)
{
    const char *keys[] = {"system_id", "database", "slot"};
    const char *values[] = {system_id, database, slot};
    if (!sqlite_begin(s->db, err))
        return false;
    for (size_t i = 0; i < 3; i++) {
        char stored[256];
        bool found;
        if (!meta_get(s, keys[i], stored, sizeof stored, &found, err))
            goto fail;
        if (!found) {
            if (!meta_put(s, keys[i], values[i], err))
                goto fail;
        } else if (strcmp(stored, values[i]) != 0) {
            err_set(err, ERR_CHECK,
                    "the state directory belongs to %s \"%s\", but the source has %s \"%s\"; use another "
                    "state_dir or remove this one deliberately",
                    keys[i], stored, keys[i], values[i]);
            goto fail;
        }
    }
    return sqlite_commit(s->db, err);
fail:
    sqlite_rollback(s->db);
    return false;
}

bool store_save_checkpoint(Store *s, const char *target, const TargetCheckpoint *cp, int64_t commit_time_us,
                           int64_t now_us, Err *err)
{
    /* through: never behind the checkpoint; an idle position recorded under the same slot
     * incarnation stays (it is later still); under another incarnation it is forgotten */
    SqliteStmt *st = sqlite_prepare(
        s->db,
        "INSERT INTO checkpoints (target, commit_lsn, end_lsn, commit_lsn_num, end_lsn_num, commit_time_us, "
        "updated_at_us, through_lsn_num, incarnation_num) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8) "
        "ON CONFLICT (target) DO UPDATE SET "
        "commit_lsn = excluded.commit_lsn, end_lsn = excluded.end_lsn, commit_lsn_num = excluded.commit_lsn_num, "
        "end_lsn_num = excluded.end_lsn_num, commit_time_us = excluded.commit_time_us, "
        "updated_at_us = excluded.updated_at_us, "
        "through_lsn_num = CASE WHEN incarnation_num = excluded.incarnation_num AND through_lsn_num IS NOT NULL "
        "THEN max(through_lsn_num, excluded.end_lsn_num) ELSE excluded.end_lsn_num END, "
        "incarnation_num = excluded.incarnation_num",
        err);
    if (!st)
        return false;
    char commit[LSN_STR_MAX], end[LSN_STR_MAX];
    lsn_format(cp->commit_lsn, commit);
    lsn_format(cp->end_lsn, end);
    /* LSNs fit in int64 until 8 EB of WAL; stored as text too for humans */
    bool ok = sqlite_bind_text(st, 1, target, strlen(target), err) &&
              sqlite_bind_text(st, 2, commit, strlen(commit), err) &&
              sqlite_bind_text(st, 3, end, strlen(end), err) &&
              sqlite_bind_int64(st, 4, (int64_t)cp->commit_lsn, err) &&
              sqlite_bind_int64(st, 5, (int64_t)cp->end_lsn, err) &&
              sqlite_bind_int64(st, 6, commit_time_us, err) && sqlite_bind_int64(st, 7, now_us, err) &&
              sqlite_bind_int64(st, 8, (int64_t)s->incarnation, err) && sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

/* Move one target's through position to lsn (never back), as of the current incarnation. */
static bool save_through(Store *s, const char *target, Lsn lsn, bool forced, Err *err)
{
    SqliteStmt *st = sqlite_prepare(
        s->db,
        "INSERT INTO checkpoints (target, commit_lsn, end_lsn, commit_lsn_num, end_lsn_num, commit_time_us, "
        "updated_at_us, through_lsn_num, incarnation_num) VALUES (?1, '0/0', '0/0', 0, 0, 0, 0, ?2, ?3) "
        "ON CONFLICT (target) DO UPDATE SET "
        "through_lsn_num = CASE WHEN ?4 OR incarnation_num <> excluded.incarnation_num OR through_lsn_num IS NULL "
        "THEN excluded.through_lsn_num ELSE max(through_lsn_num, excluded.through_lsn_num) END, "
        "incarnation_num = excluded.incarnation_num",
        err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, target, strlen(target), err) && sqlite_bind_int64(st, 2, (int64_t)lsn, err) &&
              sqlite_bind_int64(st, 3, (int64_t)s->incarnation, err) && sqlite_bind_int64(st, 4, forced, err) &&
              sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

bool store_save_through(Store *s, const char *const *targets, size_t count, Lsn lsn, Err *err)
{
    if (!sqlite_begin(s->db, err))
        return false;
    for (size_t i = 0; i < count; i++)
        if (!save_through(s, targets[i], lsn, false, err)) {
            sqlite_rollback(s->db);
            return false;
        }
    return sqlite_commit(s->db, err);
}

bool store_accept_gap(Store *s, const char *target, Lsn lsn, Err *err)
{
    return save_through(s, target, lsn, true, err);
}

bool store_load_incarnation(Store *s, Err *err)
{
    char text[32];
    bool found;
    if (!meta_get(s, "slot_incarnation", text, sizeof text, &found, err))
        return false;
    s->incarnation = 0;
    if (found && !lsn_parse(text, &s->incarnation, err)) {
        err_prefix(err, "state.sqlite: slot_incarnation");
        return false;
    }
    return true;
}

bool store_set_incarnation(Store *s, Lsn created_at, Err *err)
{
    char text[LSN_STR_MAX];
    if (!meta_put(s, "slot_incarnation", lsn_format(created_at, text), err))
        return false;
    s->incarnation = created_at;
    return true;
}

bool store_record_incarnation(const char *state_dir, Lsn created_at, Err *err)
{
    Store *s = store_open(state_dir, err);
    bool ok = s && store_set_incarnation(s, created_at, err);
    store_close(s);
    if (!ok)
        err_prefix(err, "recording the new replication slot in %s", state_dir);
    return ok;
}

Lsn store_incarnation(const Store *s)
{
    return s->incarnation;
}

/* Run a SELECT and hand each of the first max rows to fill(st, out, index); *count gets all rows. */
static bool list_rows(Store *s, const char *sql, void (*fill)(SqliteStmt *st, void *out, size_t index), void *out,
                      size_t max, size_t *count, Err *err)
{
    SqliteStmt *st = sqlite_prepare(s->db, sql, err);
    if (!st)
        return false;
    size_t n = 0;
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        if (n < max)
            fill(st, out, n);
        n++;
    }
    sqlite_finalize(st);
    *count = n;
    return rc == 0;
}

static void fill_checkpoint(SqliteStmt *st, void *out, size_t index)
{
    StoreCheckpoint *c = (StoreCheckpoint *)out + index;
    snprintf(c->target, sizeof c->target, "%s", sqlite_column_text(st, 0, NULL));
    c->checkpoint.commit_lsn = (Lsn)sqlite_column_int64(st, 1);
    c->checkpoint.end_lsn = (Lsn)sqlite_column_int64(st, 2);
    c->commit_time_us = sqlite_column_int64(st, 3);
    c->updated_at_us = sqlite_column_int64(st, 4);
    c->through_known = sqlite_column_type(st, 5) != SQLITE_VAL_NULL;
    c->through = c->through_known ? (Lsn)sqlite_column_int64(st, 5) : 0;
    c->incarnation = (Lsn)sqlite_column_int64(st, 6);
}

bool store_list_checkpoints(Store *s, StoreCheckpoint *out, size_t max, size_t *count, Err *err)
{
    return list_rows(s,
                     "SELECT target, commit_lsn_num, end_lsn_num, commit_time_us, updated_at_us, "
                     "through_lsn_num, incarnation_num FROM checkpoints ORDER BY target",
                     fill_checkpoint, out, max, count, err);
}

bool store_save_target_health(Store *s, const StoreTargetHealth *h, Err *err)
{
    SqliteStmt *st = sqlite_prepare(s->db,
                                    "INSERT OR REPLACE INTO target_health (target, lagging, retries, since_us, "
                                    "next_retry_us, last_error, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                    err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, h->target, strlen(h->target), err) &&
              sqlite_bind_int64(st, 2, h->lagging, err) && sqlite_bind_int64(st, 3, h->retries, err) &&
              sqlite_bind_int64(st, 4, h->since_us, err) && sqlite_bind_int64(st, 5, h->next_retry_us, err) &&
              sqlite_bind_text(st, 6, h->last_error, strlen(h->last_error), err) &&
              sqlite_bind_int64(st, 7, h->updated_at_us, err) && sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}

static void fill_health(SqliteStmt *st, void *out, size_t index)
{
    StoreTargetHealth *h = (StoreTargetHealth *)out + index;
    snprintf(h->target, sizeof h->target, "%s", sqlite_column_text(st, 0, NULL));
    h->lagging = sqlite_column_int64(st, 1) != 0;
    h->retries = (uint32_t)sqlite_column_int64(st, 2);
    h->since_us = sqlite_column_int64(st, 3);
    h->next_retry_us = sqlite_column_int64(st, 4);
    snprintf(h->last_error, sizeof h->last_error, "%s", sqlite_column_text(st, 5, NULL));
    h->updated_at_us = sqlite_column_int64(st, 6);
}

bool store_list_target_health(Store *s, StoreTargetHealth *out, size_t max, size_t *count, Err *err)
{
    return list_rows(s,
                     "SELECT target, lagging, retries, since_us, next_retry_us, last_error, updated_at_us "
                     "FROM target_health ORDER BY target",
                     fill_health, out, max, count, err);
}

/* ---- which relation each mapped table was when its targets were filled (daemon/source_watch) ---- */

static const char source_tables_sql[] =
    "CREATE TABLE IF NOT EXISTS source_tables ("
    "  qualname TEXT NOT NULL,"
    "  filled_by TEXT NOT NULL,"
    "  oid INTEGER NOT NULL,"
    "  recorded_at_us INTEGER NOT NULL,"
    "  PRIMARY KEY (qualname, filled_by))";

bool store_table_oid(Store *s, const char *qualname, const char *filled_by, uint32_t *oid, bool *found, Err *err)
{
    *found = false;
    if (!sqlite_exec(s->db, source_tables_sql, err))
        return false;
    SqliteStmt *st =
        sqlite_prepare(s->db, "SELECT oid FROM source_tables WHERE qualname = ?1 AND filled_by = ?2", err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, qualname, strlen(qualname), err) &&
              sqlite_bind_text(st, 2, filled_by, strlen(filled_by), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1) {
        *oid = (uint32_t)sqlite_column_int64(st, 0);
        *found = true;
    }
    sqlite_finalize(st);
    return rc >= 0;
}

bool store_set_table_oid(Store *s, const char *qualname, const char *filled_by, uint32_t oid, int64_t now_us,
                         Err *err)
{
    if (!sqlite_exec(s->db, source_tables_sql, err))
        return false;
    SqliteStmt *st = sqlite_prepare(s->db,
                                    "INSERT OR REPLACE INTO source_tables (qualname, filled_by, oid, recorded_at_us) "
                                    "VALUES (?1, ?2, ?3, ?4)",
                                    err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, qualname, strlen(qualname), err) &&
              sqlite_bind_text(st, 2, filled_by, strlen(filled_by), err) &&
              sqlite_bind_int64(st, 3, (int64_t)oid, err) && sqlite_bind_int64(st, 4, now_us, err) &&
              sqlite_step(st, err) == 0;
    sqlite_finalize(st);
    return ok;
}
