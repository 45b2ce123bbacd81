/*
 * targets/kv_resync.c - see kv_resync.h. The rows are applied as inserts
 * through kv_apply_upsert, which also removes a key the row no longer forms.
 * The index stores a row's identity as a JSON array of its values' text, so
 * the rows of the chunk's range are found with json_extract on the first
 * value (an integer key: `wal2edge resync` asks for one), collected first and
 * then deleted each as a delete with its key would be.
 */
#include "targets/kv_resync.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "state/sqlite.h"

typedef struct Lookup {
    const KvTable *tables;
    size_t count;
} Lookup;

static const KvTable *table_of(const KvTable *tables, size_t count, const char *qualname)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tables[i].qualname, qualname) == 0 && tables[i].ident_count == 1)
            return &tables[i];
    return NULL;
}

static bool wants(const char *table, void *ctx)
{
    const Lookup *l = ctx;
    return table_of(l->tables, l->count, table) != NULL;
}

static bool in_chunk(const ResyncMsg *m, const char *ident, const char *key)
{
    for (size_t r = 0; r < resync_msg_row_count(m); r++) {
        const char *v = resync_msg_value(m, r, ident);
        if (v && strcmp(v, key) == 0)
            return true;
    }
    return false;
}

/* The identity values indexed for tab in the chunk's key range that neither the chunk nor the stream has. */
static bool stale_keys(KvApply *a, const KvTable *tab, const ResyncWindow *w, const ResyncMsg *m, char ***out,
                       size_t *n, Err *err)
{
    const char *from = resync_msg_from(m), *to = resync_msg_to(m);
    bool upper = !resync_msg_last(m) && to;
    char *sql = xasprintf("SELECT json_extract(pk, '$[0]') FROM _wal2edge_kv_rows WHERE tbl = ?1%s%s",
                          from ? " AND CAST(json_extract(pk, '$[0]') AS INTEGER) > CAST(?2 AS INTEGER)" : "",
                          upper ? " AND CAST(json_extract(pk, '$[0]') AS INTEGER) <= CAST(?3 AS INTEGER)" : "");
    SqliteStmt *st = sqlite_prepare(a->db, sql, err);
    free(sql);
    bool ok = st && sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
              (!from || sqlite_bind_text(st, 2, from, strlen(from), err)) &&
              (!upper || sqlite_bind_text(st, 3, to, strlen(to), err));
    int rc;
    while (ok && (rc = sqlite_step(st, err)) == 1) {
        const char *k = sqlite_column_text(st, 0, NULL);
        if (!k || in_chunk(m, tab->ident[0], k) || resync_recorded(w, k))
            continue;
        *out = xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = xstrdup(k);
    }
    ok = ok && rc == 0;
    sqlite_finalize(st);
    return ok;
}

/* Delete the keys of the row whose identity is `key`, as a delete carrying that key would. */
static bool delete_row(KvApply *a, const KvTable *tab, const char *key, Err *err)
{
    RelCol col = {tab->ident[0], 0, -1, true};
    Rel rel = {.qualname = tab->qualname, .ncols = 1, .cols = &col};
    PgoCol v = {PGO_COL_TEXT, (uint32_t)strlen(key), (const uint8_t *)key};
    PgoTuple old = {1, &v};
    return kv_apply_delete(a, tab, &rel, &old, 'K', err);
}

bool kv_resync_message(KvApply *a, ResyncWindow *w, const KvTable *tables, size_t count, const char *target,
                       const Change *c, Err *err)
{
    Lookup l = {tables, count};
    ResyncStep step;
    ResyncMsg *m = NULL;
    if (!resync_step(w, c, target, wants, &l, &step, &m, err))
        return false;
    if (step != RESYNC_HIGH)
        return true;
    const KvTable *tab = table_of(tables, count, resync_msg_table(m));
    if (!tab) { /* wants() said it is there */
        resync_msg_free(m);
        return true;
    }
    bool ok = true;
    for (size_t r = 0; ok && r < resync_msg_row_count(m); r++) {
        const char *k = resync_msg_value(m, r, tab->ident[0]);
        if (k && !resync_recorded(w, k))
            ok = kv_apply_upsert(a, tab, resync_msg_rel(m), resync_msg_row(m, r), NULL, 0, err);
    }
    char **stale = NULL;
    size_t n = 0;
    ok = ok && stale_keys(a, tab, w, m, &stale, &n, err);
    for (size_t i = 0; i < n; i++) {
        ok = ok && delete_row(a, tab, stale[i], err);
        free(stale[i]);
    }
    free(stale);
    resync_msg_free(m);
    return ok;
}
