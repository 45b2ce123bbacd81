/*
 * targets/kv_index.c - see kv_index.h. One row per source row, keyed by table
 * and the identity as a JSON array of its Postgres texts (so every key type and
 * composite keys compare as text); keys and state are stored as compact JSON.
 * The statements are prepared once and reset after each use.
 */
#include "targets/kv_index.h"

#include <stdlib.h>
#include <string.h>

#include "core/json_text.h"
#include "core/mem.h"

bool kv_index_open(KvIndex *ix, Sqlite *db, Err *err)
{
    memset(ix, 0, sizeof *ix);
    ix->db = db;
    buf_init(&ix->kept, KV_INDEX_KEEP_MAX);
    return sqlite_exec(db,
                       "CREATE TABLE IF NOT EXISTS _wal2edge_kv_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, keys TEXT "
                       "NOT NULL, state TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;",
                       err) &&
           (ix->get_row = sqlite_prepare(db, "SELECT keys, state FROM _wal2edge_kv_rows WHERE tbl = ?1 AND pk = ?2",
                                         err)) &&
           (ix->put_row = sqlite_prepare(db, "INSERT OR REPLACE INTO _wal2edge_kv_rows(tbl, pk, keys, state) VALUES "
                                             "(?1, ?2, ?3, ?4)",
                                         err)) &&
           (ix->del_row = sqlite_prepare(db, "DELETE FROM _wal2edge_kv_rows WHERE tbl = ?1 AND pk = ?2", err)) &&
           (ix->rows_of = sqlite_prepare(db, "SELECT keys FROM _wal2edge_kv_rows WHERE tbl = ?1", err)) &&
           (ix->del_rows_of = sqlite_prepare(db, "DELETE FROM _wal2edge_kv_rows WHERE tbl = ?1", err)) &&
           (ix->add_key = sqlite_prepare(db, "INSERT INTO _wal2edge_kv_rows(tbl, pk, keys, state) VALUES (?1, ?2, "
                                             "json_array(?3), NULL) ON CONFLICT (tbl, pk) DO UPDATE SET keys = "
                                             "json_insert(keys, '$[#]', ?3)",
                                         err)) &&
           (ix->keep_row = sqlite_prepare(db, "INSERT INTO _wal2edge_kv_rows(tbl, pk, keys, state) VALUES (?1, ?2, ?3, "
                                              "NULL) ON CONFLICT (tbl, pk) DO UPDATE SET keys = excluded.keys, state "
                                              "= NULL WHERE keys IS NOT excluded.keys OR state IS NOT NULL",
                                          err));
}

void kv_index_close(KvIndex *ix)
{
    SqliteStmt *sts[] = {ix->get_row, ix->put_row, ix->del_row, ix->rows_of, ix->del_rows_of, ix->add_key, ix->keep_row};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++)
        sqlite_finalize(sts[i]);
    buf_free(&ix->kept);
    memset(ix, 0, sizeof *ix);
}

bool kv_identity_json(const KvTable *tab, const Rel *rel, const PgoTuple *tup, Buf *out, Err *err,
                          bool *complete)
{
    buf_reset(out);
    *complete = false;
    if (!buf_append(out, "[", 1, err))
        return false;
    for (size_t i = 0; i < tab->ident_count; i++) {
        long c = kt_rel_column(rel, tab->ident[i]);
        if (c < 0 || (size_t)c >= tup->ncols || tup->cols[c].kind == PGO_COL_UNCHANGED)
            return true;
        const PgoCol *col = &tup->cols[c];
        if (i && !buf_append(out, ",", 1, err))
            return false;
        bool ok = col->kind == PGO_COL_NULL ? buf_append_str(out, "null", err)
                                            : json_text_append_str(out, (const char *)col->data, col->len, err);
        if (!ok)
            return false;
    }
    *complete = true;
    return buf_append(out, "]", 1, err);
}

void kv_index_row_clear(KvIndexRow *r)
{
    free(r->keys_text);
    free(r->state_text);
    json_decref(r->keys);
    json_decref(r->state);
    memset(r, 0, sizeof *r);
}

json_t *kv_index_row_keys(KvIndexRow *r)
{
    if (!r->keys) {
        r->keys = r->keys_text ? json_loads(r->keys_text, 0, NULL) : NULL;
        if (!json_is_array(r->keys)) {
            json_decref(r->keys);
            r->keys = json_array();
        }
    }
    return r->keys;
}

json_t *kv_index_row_state(KvIndexRow *r)
{
    if (!r->state && r->state_text)
        r->state = json_loads(r->state_text, 0, NULL);
    return r->state;
}

void kv_index_row_take_state(KvIndexRow *to, KvIndexRow *from)
{
    free(to->state_text);
    json_decref(to->state);
    to->state_text = from->state_text;
    to->state = from->state;
    from->state_text = NULL;
    from->state = NULL;
}

bool kv_index_get(KvIndex *ix, const char *tbl, const Buf *pk, KvIndexRow *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!kv_index_drain(ix, err))
        return false;
    SqliteStmt *st = ix->get_row;
    sqlite_reset(st);
    if (!sqlite_bind_text(st, 1, tbl, strlen(tbl), err) ||
        !sqlite_bind_text(st, 2, pk->data, pk->len, err))
        return false;
    int rc = sqlite_step(st, err);
    if (rc < 0)
        return false;
    if (rc == 1) {
        size_t kl = 0, sl = 0;
        const char *k = sqlite_column_text(st, 0, &kl);
        const char *s = sqlite_column_text(st, 1, &sl);
        out->found = true;
        out->keys_text = xstrndup(k ? k : "[]", k ? kl : 2);
        out->state_text = s ? xstrndup(s, sl) : NULL;
    }
    sqlite_reset(st);
    return true;
}

bool kv_index_put(KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text, const char *state, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    const char *k = keys_text;
    SqliteStmt *st = ix->put_row;
    sqlite_reset(st);
    bool ok = sqlite_bind_text(st, 1, tbl, strlen(tbl), err) &&
              sqlite_bind_text(st, 2, pk->data, pk->len, err) && sqlite_bind_text(st, 3, k, strlen(k), err) &&
              (state ? sqlite_bind_text(st, 4, state, strlen(state), err) : sqlite_bind_null(st, 4, err)) &&
              sqlite_run(st, err);
    return ok;
}

bool kv_index_kept(const KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text)
{
    size_t tl = strlen(tbl), kl = strlen(keys_text);
    return ix->kept.len == tl + 1 + pk->len + 1 + kl && memcmp(ix->kept.data, tbl, tl + 1) == 0 &&
           memcmp(ix->kept.data + tl + 1, pk->data, pk->len) == 0 && ix->kept.data[tl + 1 + pk->len] == '\0' &&
           memcmp(ix->kept.data + tl + 2 + pk->len, keys_text, kl) == 0;
}

/* Write the kept row (tbl, pk, keys at NUL-separated offsets of ix->kept; bound in place, the
 * buffer outlives the step). */
static bool write_kept(KvIndex *ix, Err *err)
{
    const char *tbl = ix->kept.data;
    size_t tl = strlen(tbl), pl = strlen(tbl + tl + 1);
    const char *pk = tbl + tl + 1, *keys = pk + pl + 1;
    SqliteStmt *st = ix->keep_row;
    sqlite_reset(st);
    return sqlite_bind_text_ref(st, 1, tbl, tl, err) && sqlite_bind_text_ref(st, 2, pk, pl, err) &&
           sqlite_bind_text_ref(st, 3, keys, ix->kept.len - (size_t)(keys - tbl), err) && sqlite_run(st, err);
}

bool kv_index_drain(KvIndex *ix, Err *err)
{
    if (!ix->waiting)
        return true;
    ix->waiting = false;
    if (write_kept(ix, err))
        return true;
    kv_index_forget(ix);
    return false;
}

bool kv_index_keep(KvIndex *ix, const char *tbl, const Buf *pk, const char *keys_text, bool defer, Err *err)
{
    /* a row changed twice in a window (an insert and its update) is kept once */
    if (kv_index_kept(ix, tbl, pk, keys_text))
        return true;
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    size_t tl = strlen(tbl), kl = strlen(keys_text);
    Err e;
    /* remembered as written (pk is JSON text: no NUL in it) */
    bool kept = buf_append(&ix->kept, tbl, tl + 1, &e) && buf_append(&ix->kept, pk->data, pk->len, &e) &&
                buf_append(&ix->kept, "", 1, &e) && buf_append(&ix->kept, keys_text, kl, &e);
    if (!kept) { /* too large to remember: written every time */
        kv_index_forget(ix);
        SqliteStmt *st = ix->keep_row;
        sqlite_reset(st);
        return sqlite_bind_text(st, 1, tbl, tl, err) && sqlite_bind_text(st, 2, pk->data, pk->len, err) &&
               sqlite_bind_text(st, 3, keys_text, kl, err) && sqlite_run(st, err);
    }
    if (defer) {
        ix->waiting = true;
        return true;
    }
    if (write_kept(ix, err))
        return true;
    kv_index_forget(ix);
    return false;
}

void kv_index_forget(KvIndex *ix)
{
    buf_reset(&ix->kept);
    ix->waiting = false;
}

bool kv_index_del(KvIndex *ix, const char *tbl, const Buf *pk, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    SqliteStmt *st = ix->del_row;
    sqlite_reset(st);
    return sqlite_bind_text(st, 1, tbl, strlen(tbl), err) &&
           sqlite_bind_text(st, 2, pk->data, pk->len, err) && sqlite_run(st, err);
}

bool kv_index_table_keys(KvIndex *ix, const char *tbl, json_t *all, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    SqliteStmt *st = ix->rows_of;
    sqlite_reset(st);
    if (!sqlite_bind_text(st, 1, tbl, strlen(tbl), err))
        return false;
    int rc;
    while ((rc = sqlite_step(st, err)) == 1) {
        size_t len = 0;
        const char *k = sqlite_column_text(st, 0, &len);
        json_t *keys = k ? json_loadb(k, len, 0, NULL) : NULL;
        if (json_is_array(keys))
            json_array_extend(all, keys);
        json_decref(keys);
    }
    sqlite_reset(st);
    return rc == 0;
}

bool kv_index_drop_table(KvIndex *ix, const char *tbl, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    sqlite_reset(ix->del_rows_of);
    return sqlite_bind_text(ix->del_rows_of, 1, tbl, strlen(tbl), err) && sqlite_run(ix->del_rows_of, err);
}

bool kv_index_add_key(KvIndex *ix, const char *tbl, const Buf *pk, const char *key, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    SqliteStmt *st = ix->add_key;
    sqlite_reset(st);
    return sqlite_bind_text(st, 1, tbl, strlen(tbl), err) && sqlite_bind_text(st, 2, pk->data, pk->len, err) &&
           sqlite_bind_text(st, 3, key, strlen(key), err) && sqlite_run(st, err);
}

bool kv_index_clear(KvIndex *ix, Err *err)
{
    if (!kv_index_drain(ix, err))
        return false;
    kv_index_forget(ix);
    return sqlite_exec(ix->db, "DELETE FROM _wal2edge_kv_rows", err);
}
