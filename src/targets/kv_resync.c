/*
 * targets/kv_resync.c - see kv_resync.h. The rows are applied as inserts
 * through kv_apply_upsert, which also removes a key the row no longer forms.
 * The index stores a row's identity as a JSON array of its values' text, so
 * the rows of the chunk's range are found with json_extract: SQL narrows them
 * by the key's first column, pg/resync_key's comparison (the order Postgres
 * read the chunk in) keeps those within the range; they are collected first
 * and then deleted each as a delete with its identity would be.
 */
#include "targets/kv_resync.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "state/sqlite.h"

typedef struct Lookup {
    const KvTable *tables;
    size_t count;
} Lookup;

static const KvTable *table_of(const KvTable *tables, size_t count, const char *qualname)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tables[i].qualname, qualname) == 0 && tables[i].ident_count >= 1)
            return &tables[i];
    return NULL;
}

static bool wants(const char *table, void *ctx)
{
    const Lookup *l = ctx;
    return table_of(l->tables, l->count, table) != NULL;
}

/* Where each of the chunk's key columns is in tab's identity (the key index's pk array); false: not the same columns. */
static bool ident_of_key(const KvTable *tab, const ResyncMsg *m, const char *target, size_t *pos, Err *err)
{
    size_t nk = resync_msg_key_count(m);
    bool same = nk == tab->ident_count;
    for (size_t i = 0; same && i < nk; i++) {
        same = false;
        for (size_t j = 0; j < tab->ident_count && !same; j++)
            if (strcmp(tab->ident[j], resync_msg_key_name(m, i)) == 0) {
                pos[i] = j;
                same = true;
            }
    }
    return same || err_set(err, ERR_CHECK,
                           "%s: resync of %s needs the table's row identity (its replica identity) to be its primary "
                           "key, so the keys of rows Postgres no longer has can be found; set REPLICA IDENTITY DEFAULT",
                           target, tab->qualname);
}

/* " AND identity value pos OP ?param", compared as the key's first column orders. */
static bool first_cond(Buf *sql, ResyncKeyType t, size_t pos, const char *op, int param, Err *err)
{
    if (t == RESYNC_KEY_INTEGER)
        return buf_printf(sql, err, " AND CAST(json_extract(pk, '$[%zu]') AS INTEGER) %s CAST(?%d AS INTEGER)", pos, op,
                          param);
    return buf_printf(sql, err, " AND json_extract(pk, '$[%zu]') %s ?%d", pos, op, param);
}

typedef struct Stale {
    char **vals;               /* identity values, in identity order: ident_count per row */
    size_t n;
} Stale;

/* The identities indexed for tab in the chunk's key range that neither the chunk nor the stream has. */
static bool stale_keys(KvApply *a, const KvTable *tab, const ResyncWindow *w, const ResyncMsg *m, const size_t *pos,
                       Stale *out, Err *err)
{
    size_t nk = resync_msg_key_count(m), ni = tab->ident_count;
    const ResyncKeyType *types = resync_msg_key_types(m);
    const char *const *from = resync_msg_from_key(m), *const *to = resync_msg_to_key(m);
    bool upper = !resync_msg_last(m) && to;
    /* the first key column's range in SQL (an index-free scan of the table's rows, as before), the rest here */
    Buf sql;
    buf_init(&sql, 1 << 16);
    bool ok = buf_append_str(&sql, "SELECT ", err);
    for (size_t j = 0; ok && j < ni; j++)
        ok = buf_printf(&sql, err, "%sjson_extract(pk, '$[%zu]')", j ? ", " : "", j);
    ok = ok && buf_append_str(&sql, " FROM _wal2edge_kv_rows WHERE tbl = ?1", err) &&
         (!from || first_cond(&sql, types[0], pos[0], ">=", 2, err)) &&
         (!upper || first_cond(&sql, types[0], pos[0], "<=", 3, err));
    SqliteStmt *st = ok ? sqlite_prepare(a->db, sql.data, err) : NULL;
    buf_free(&sql);
    ok = st && sqlite_bind_text(st, 1, tab->qualname, strlen(tab->qualname), err) &&
         (!from || sqlite_bind_text(st, 2, from[0], strlen(from[0]), err)) &&
         (!upper || sqlite_bind_text(st, 3, to[0], strlen(to[0]), err));
    int rc = 0;
    const char *key[RESYNC_KEY_MAX_COLUMNS];
    while (ok && (rc = sqlite_step(st, err)) == 1) {
        bool null = false;
        for (size_t i = 0; i < nk; i++)
            null |= !(key[i] = sqlite_column_text(st, (int)pos[i], NULL));
        if (null || (from && resync_key_cmp(types, nk, key, from) <= 0) ||
            (upper && resync_key_cmp(types, nk, key, to) > 0) || resync_msg_has_key(m, key))
            continue;
        char *text = resync_key_encode(key, nk);
        bool recorded = resync_recorded(w, text);
        free(text);
        if (recorded)
            continue;
        out->vals = xrealloc(out->vals, (out->n + 1) * ni * sizeof *out->vals);
        for (size_t j = 0; j < ni; j++) {
            const char *v = sqlite_column_text(st, (int)j, NULL);
            out->vals[out->n * ni + j] = xstrdup(v ? v : "");
        }
        out->n++;
    }
    ok = ok && rc == 0;
    sqlite_finalize(st);
    return ok;
}

/* Delete the keys of the row whose identity is vals (in identity order), as a delete carrying it would. */
static bool delete_row(KvApply *a, const KvTable *tab, char *const *vals, Err *err)
{
    size_t n = tab->ident_count;
    RelCol *cols = xcalloc(n, sizeof *cols);
    PgoCol *v = xcalloc(n, sizeof *v);
    for (size_t j = 0; j < n; j++) {
        cols[j] = (RelCol){tab->ident[j], 0, -1, true};
        v[j] = (PgoCol){PGO_COL_TEXT, (uint32_t)strlen(vals[j]), (const uint8_t *)vals[j]};
    }
    Rel rel = {.qualname = tab->qualname, .ncols = (uint16_t)n, .cols = cols};
    PgoTuple old = {(uint16_t)n, v};
    bool ok = kv_apply_delete(a, tab, &rel, &old, 'K', err);
    free(cols);
    free(v);
    return ok;
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
    size_t pos[RESYNC_KEY_MAX_COLUMNS];
    bool ok = !tab || /* wants() said it is there */
              (resync_msg_key_default(m, tab->ident[0], err) && ident_of_key(tab, m, target, pos, err));
    for (size_t r = 0; tab && ok && r < resync_msg_row_count(m); r++) {
        char *k = resync_msg_row_key(m, r);
        if (k && !resync_recorded(w, k))
            ok = kv_apply_upsert(a, tab, resync_msg_rel(m), resync_msg_row(m, r), NULL, 0, err);
        free(k);
    }
    Stale stale = {0};
    ok = ok && (!tab || stale_keys(a, tab, w, m, pos, &stale, err));
    for (size_t i = 0; i < stale.n; i++)
        ok = ok && delete_row(a, tab, &stale.vals[i * tab->ident_count], err);
    for (size_t i = 0; tab && i < stale.n * tab->ident_count; i++)
        free(stale.vals[i]);
    free(stale.vals);
    resync_msg_free(m);
    return ok;
}
