/*
 * d1/resync.c - see resync.h. The chunk's rows are converted column by column
 * through the D1 table's types, as a row change's values are. The delete keeps
 * the chunk's keys and the recorded ones (json_each over a JSON array bound as
 * one parameter: values for a key of one column, arrays of values for more,
 * compared as SQLite row values), within (from, to] or, for the last chunk,
 * above from; integer key values are bound as integers, the others as text,
 * so SQLite orders them as Postgres did (pg/resync_key).
 */
#include "d1/resync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/mem.h"
#include "mapping/shard.h"

D1Table *d1_resync_table(D1Table *tables, size_t count, const char *source)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tables[i].source, source) == 0 && tables[i].key_count >= 1)
            return &tables[i];
    return NULL;
}

/* A key value as a JSON value / a D1 value: a number for an integer column, else its text (pg/resync_key). */
static json_t *key_json(ResyncKeyType t, const char *text)
{
    return t == RESYNC_KEY_INTEGER ? json_integer(strtoll(text, NULL, 10)) : json_string_nocheck(text);
}

static void key_value(ResyncKeyType t, const char *text, D1Value *out)
{
    memset(out, 0, sizeof *out);
    out->kind = t == RESYNC_KEY_INTEGER ? D1V_INTEGER : D1V_TEXT;
    out->i = strtoll(text, NULL, 10);
    out->data = xstrdup(text);
    out->len = strlen(text);
}

static void free_rows(D1Value **rows, size_t n, size_t ncols)
{
    for (size_t r = 0; r < n; r++) {
        for (size_t i = 0; i < ncols; i++)
            d1_value_clear(&rows[r][i]);
        free(rows[r]);
    }
    free(rows);
}

/* The D1 columns of the chunk's key (by their Postgres names), or false: one is not in the D1 table. */
static bool key_columns(const D1Table *t, const ResyncMsg *m, const char **d1names, Err *err)
{
    for (size_t i = 0; i < resync_msg_key_count(m); i++) {
        const char *pg = resync_msg_key_name(m, i);
        d1names[i] = NULL;
        for (size_t j = 0; j < t->col_count && !d1names[i]; j++)
            if (strcmp(t->cols[j].pg_name, pg) == 0)
                d1names[i] = t->cols[j].d1_name;
        if (!d1names[i])
            return err_set(err, ERR_CHECK,
                           "resync of %s: the D1 table %s has no column for the primary key column %s, so the rows "
                           "Postgres no longer has cannot be found; map the column, or copy the table with "
                           "`wal2edge migrate`",
                           t->source, t->name, pg);
    }
    return true;
}

/* "(a, b)" or, for one column, "a": the key columns as SQLite compares rows. */
static bool key_tuple(Buf *sql, const char *const *names, size_t n, Err *err)
{
    bool ok = n == 1 || buf_append_str(sql, "(", err);
    for (size_t i = 0; ok && i < n; i++)
        ok = (i == 0 || buf_append_str(sql, ", ", err)) && d1_quote_ident(sql, names[i], err);
    return ok && (n == 1 || buf_append_str(sql, ")", err));
}

/* " AND (a, b) OP (?x, ?y)" for a range end, its values appended to params. */
static bool range_cond(Buf *sql, const char *const *names, const ResyncMsg *m, const char *const *end, const char *op,
                       D1Value *params, size_t *np, Err *err)
{
    size_t n = resync_msg_key_count(m);
    bool ok = buf_append_str(sql, " AND ", err) && key_tuple(sql, names, n, err) && buf_printf(sql, err, " %s ", op) &&
              (n == 1 || buf_append_str(sql, "(", err));
    for (size_t i = 0; ok && i < n; i++) {
        key_value(resync_msg_key_types(m)[i], end[i], &params[(*np)++]);
        ok = buf_printf(sql, err, "%s?%zu", i ? ", " : "", *np);
    }
    return ok && (n == 1 || buf_append_str(sql, ")", err));
}

/* DELETE the rows of t in the chunk's key range that are neither in it nor recorded. */
static bool delete_stmt(const D1Table *t, const ResyncMsg *m, json_t *keep, D1StmtList *out, Err *err)
{
    size_t n = resync_msg_key_count(m);
    const char *names[RESYNC_KEY_MAX_COLUMNS];
    if (!key_columns(t, m, names, err))
        return false;
    Buf sql;
    buf_init(&sql, 1 << 16);
    bool ok = buf_append_str(&sql, "DELETE FROM ", err) && d1_quote_ident(&sql, t->name, err) &&
              buf_append_str(&sql, " WHERE ", err) && key_tuple(&sql, names, n, err);
    if (n == 1) {
        ok = ok && buf_append_str(&sql, " NOT IN (SELECT value FROM json_each(?1))", err);
    } else {
        ok = ok && buf_append_str(&sql, " NOT IN (SELECT ", err);
        for (size_t i = 0; ok && i < n; i++)
            ok = buf_printf(&sql, err, "%sjson_extract(value, '$[%zu]')", i ? ", " : "", i);
        ok = ok && buf_append_str(&sql, " FROM json_each(?1))", err);
    }
    size_t np = 1;
    D1Value *params = xcalloc(2 * n + 1, sizeof *params);
    char *keys = json_dumps(keep, JSON_COMPACT);
    params[0] = (D1Value){D1V_TEXT, keys, strlen(keys), 0, 0};
    const char *const *from = resync_msg_from_key(m), *const *to = resync_msg_to_key(m);
    if (ok && from)
        ok = range_cond(&sql, names, m, from, ">", params, &np, err);
    if (ok && !resync_msg_last(m) && to)
        ok = range_cond(&sql, names, m, to, "<=", params, &np, err);
    if (ok) {
        out->items = xrealloc(out->items, (out->count + 1) * sizeof *out->items);
        D1Stmt *st = &out->items[out->count++];
        st->sql = xstrdup(sql.data);
        st->params = params;
        st->param_count = np;
    } else {
        for (size_t i = 0; i < np; i++)
            d1_value_clear(&params[i]);
        free(params);
    }
    buf_free(&sql);
    return ok;
}

/* Whether chunk row r is this database's, for a sharded t (d1/shard: the shard_by columns' Postgres text). */
static bool row_in_shard(const D1Table *t, const ResyncMsg *m, size_t r, bool *mine, Err *err)
{
    ShardPart parts[SHARD_MAX_COLUMNS];
    *mine = true;
    if (t->shard_col_count == 0 || t->shard_col_count > SHARD_MAX_COLUMNS)
        return true;
    for (size_t i = 0; i < t->shard_col_count; i++) {
        const char *col = t->cols[t->shard_cols[i]].pg_name, *v = resync_msg_value(m, r, col);
        if (!v)
            return err_set(err, ERR_PROTOCOL, "resync message: a row of %s without its shard_by column %s", t->source,
                           col);
        parts[i] = (ShardPart){v, strlen(v)};
    }
    *mine = shard_for(parts, t->shard_col_count, (uint32_t)t->shard_count) == t->shard;
    return true;
}

bool d1_resync_chunk(const ResyncWindow *w, ResyncMsg *m, const D1Table *t, Lsn lsn, const D1SqlLimits *lim,
                     D1StmtList *out, long *rows, Err *err)
{
    *rows = 0;
    if (!resync_msg_key_default(m, t->cols[t->key[0]].pg_name, err))
        return false;
    size_t total = resync_msg_row_count(m), n = 0, nk = resync_msg_key_count(m);
    const ResyncKeyType *types = resync_msg_key_types(m);
    json_t *keep = json_array();
    for (size_t i = 0; i < w->key_count; i++) { /* recorded: the value, or a JSON array of the values */
        json_t *k = NULL;
        if (nk == 1) {
            k = key_json(types[0], w->keys[i]);
        } else {
            json_t *vals = json_loads(w->keys[i], 0, NULL);
            if (json_is_array(vals) && json_array_size(vals) == nk) {
                k = json_array();
                for (size_t j = 0; j < nk; j++) {
                    const char *v = json_string_value(json_array_get(vals, j));
                    json_array_append_new(k, key_json(types[j], v ? v : ""));
                }
            }
            json_decref(vals);
        }
        if (k)
            json_array_append_new(keep, k);
    }
    D1Value **vals = xcalloc(total + 1, sizeof *vals);
    bool ok = true;
    for (size_t r = 0; ok && r < total; r++) {
        char *kv = resync_msg_row_key(m, r);
        if (!kv) {
            ok = err_set(err, ERR_PROTOCOL, "resync message: row %zu has a NULL in its key", r);
            break;
        }
        bool mine;
        if (!(ok = row_in_shard(t, m, r, &mine, err)) || !mine) {
            free(kv);
            continue; /* another database's row: this one deletes its copy, if any */
        }
        json_t *k = nk == 1 ? key_json(types[0], kv) : json_array();
        for (size_t j = 0; nk > 1 && j < nk; j++)
            json_array_append_new(k, key_json(types[j], resync_msg_key_value(m, r, j)));
        json_array_append_new(keep, k);
        bool recorded = resync_recorded(w, kv);
        free(kv);
        if (recorded)
            continue; /* the stream changed it between the watermarks: its version stands */
        D1Value *v = xcalloc(t->col_count, sizeof *v);
        vals[n++] = v;
        for (size_t i = 0; ok && i < t->col_count; i++) {
            const char *text = resync_msg_value(m, r, t->cols[i].pg_name);
            if (text)
                ok = d1_value_from_text(t->cols[i].type, text, strlen(text), &v[i], err);
        }
    }
    ok = ok && (n == 0 || d1_sql_upsert_rows(t, (const D1Value *const *)vals, n, lsn, lim, out, err)) &&
         delete_stmt(t, m, keep, out, err);
    free_rows(vals, n, t->col_count);
    json_decref(keep);
    *rows = (long)n;
    return ok;
}

typedef struct TableSet {
    D1Table *tables;
    size_t count;
} TableSet;

static bool has_table(const char *table, void *ctx)
{
    const TableSet *s = ctx;
    return d1_resync_table(s->tables, s->count, table) != NULL;
}

bool d1_resync_message(ResyncWindow *w, const Change *c, const char *target, D1Table *tables, size_t count,
                       const D1SqlLimits *lim, D1StmtList *out, const D1Table **table, long *rows, bool *skipped,
                       Err *err)
{
    TableSet set = {tables, count};
    ResyncStep step;
    ResyncMsg *m = NULL;
    *table = NULL;
    *rows = 0;
    if (!resync_step(w, c, target, has_table, &set, &step, &m, err))
        return false;
    *skipped = step == RESYNC_SKIPPED;
    if (step != RESYNC_HIGH)
        return true;
    *table = d1_resync_table(tables, count, resync_msg_table(m));
    bool ok = !*table || /* has_table said it is there */
              d1_resync_chunk(w, m, *table, c->message_lsn, lim, out, rows, err);
    resync_msg_free(m);
    return ok;
}
