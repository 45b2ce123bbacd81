/*
 * d1/resync.c - see resync.h. The chunk's rows are converted column by column
 * through the D1 table's types, as a row change's values are. The delete keeps
 * the chunk's keys and the recorded ones (json_each over a JSON array bound as
 * one parameter), within (from, to] or, for the last chunk, above from.
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
        if (strcmp(tables[i].source, source) == 0 && tables[i].key_count == 1)
            return &tables[i];
    return NULL;
}

/* A key's text as a JSON value / a D1 value: an integer when it is one (the key column is INTEGER). */
static json_t *key_json(const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    return *text && !*end ? json_integer(v) : json_string(text);
}

static void key_value(const char *text, D1Value *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    memset(out, 0, sizeof *out);
    out->kind = *text && !*end ? D1V_INTEGER : D1V_TEXT;
    out->i = v;
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

/* DELETE the rows of t in the chunk's key range that are neither in it nor recorded. */
static bool delete_stmt(const D1Table *t, const ResyncMsg *m, json_t *keep, D1StmtList *out, Err *err)
{
    Buf sql;
    buf_init(&sql, 1 << 16);
    const char *key = t->cols[t->key[0]].d1_name, *from = resync_msg_from(m), *to = resync_msg_to(m);
    bool ok = buf_append_str(&sql, "DELETE FROM ", err) && d1_quote_ident(&sql, t->name, err) &&
              buf_append_str(&sql, " WHERE ", err) && d1_quote_ident(&sql, key, err) &&
              buf_append_str(&sql, " NOT IN (SELECT value FROM json_each(?1))", err);
    size_t np = 1;
    D1Value params[3];
    memset(params, 0, sizeof params);
    char *keys = json_dumps(keep, JSON_COMPACT);
    params[0] = (D1Value){D1V_TEXT, keys, strlen(keys), 0, 0};
    if (ok && from) {
        key_value(from, &params[np++]);
        ok = buf_append_str(&sql, " AND ", err) && d1_quote_ident(&sql, key, err) &&
             buf_printf(&sql, err, " > ?%zu", np);
    }
    if (ok && !resync_msg_last(m) && to) {
        key_value(to, &params[np++]);
        ok = buf_append_str(&sql, " AND ", err) && d1_quote_ident(&sql, key, err) &&
             buf_printf(&sql, err, " <= ?%zu", np);
    }
    if (ok) {
        out->items = xrealloc(out->items, (out->count + 1) * sizeof *out->items);
        D1Stmt *st = &out->items[out->count++];
        st->sql = xstrdup(sql.data);
        st->params = xcalloc(np, sizeof *st->params);
        memcpy(st->params, params, np * sizeof *params);
        st->param_count = np;
    } else {
        for (size_t i = 0; i < np; i++)
            d1_value_clear(&params[i]);
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

bool d1_resync_chunk(const ResyncWindow *w, const ResyncMsg *m, const D1Table *t, Lsn lsn, const D1SqlLimits *lim,
                     D1StmtList *out, long *rows, Err *err)
{
    const char *key = t->cols[t->key[0]].pg_name;
    size_t total = resync_msg_row_count(m), n = 0;
    json_t *keep = json_array();
    for (size_t i = 0; i < w->key_count; i++)
        json_array_append_new(keep, key_json(w->keys[i]));
    D1Value **vals = xcalloc(total + 1, sizeof *vals);
    bool ok = true;
    for (size_t r = 0; ok && r < total; r++) {
        const char *kv = resync_msg_value(m, r, key);
        if (!kv) {
            ok = err_set(err, ERR_PROTOCOL, "resync message: row %zu has no key %s", r, key);
            break;
        }
        bool mine;
        if (!(ok = row_in_shard(t, m, r, &mine, err)) || !mine)
            continue; /* another database's row: this one deletes its copy, if any */
        json_array_append_new(keep, key_json(kv));
        if (resync_recorded(w, kv))
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
