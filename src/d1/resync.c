/*
 * d1/resync.c - see resync.h. The high watermark's rows are converted column
 * by column through the D1 table's types (as a row change's values are); the
 * recorded keys are compared as text, which is how both the stream and the
 * message carry them. The delete keeps the chunk's keys and the recorded ones
 * (json_each over a JSON array bound as one parameter), within (from, to] or,
 * for the last chunk, above from.
 */
#include "d1/resync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/mem.h"
#include "mapping/shard.h"

void d1_resync_window_clear(D1ResyncWindow *w)
{
    for (size_t i = 0; i < w->key_count; i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->run);
    free(w->table);
    memset(w, 0, sizeof *w);
}

static long rel_col(const Rel *rel, const char *name)
{
    for (uint16_t i = 0; rel && i < rel->ncols; i++)
        if (strcmp(rel->cols[i].name, name) == 0)
            return i;
    return -1;
}

static void record_tuple(D1ResyncWindow *w, const Rel *rel, const PgoTuple *tup, const char *key)
{
    long j = rel_col(rel, key);
    if (!tup || j < 0 || (size_t)j >= tup->ncols || tup->cols[j].kind != PGO_COL_TEXT)
        return;
    if (w->key_count == w->key_cap) {
        w->key_cap = w->key_cap ? w->key_cap * 2 : 64;
        w->keys = xrealloc(w->keys, w->key_cap * sizeof *w->keys);
    }
    w->keys[w->key_count++] = xstrndup((const char *)tup->cols[j].data, tup->cols[j].len);
}

void d1_resync_record(D1ResyncWindow *w, const D1Table *t, const Change *c)
{
    if (!w->open || !c->rel || t->key_count != 1 || strcmp(c->rel->qualname, w->table) != 0)
        return;
    const char *key = t->cols[t->key[0]].pg_name;
    record_tuple(w, c->rel, c->new_tuple, key);
    record_tuple(w, c->rel, c->old_tuple, key);
}

static bool recorded(const D1ResyncWindow *w, const char *key)
{
    for (size_t i = 0; i < w->key_count; i++)
        if (strcmp(w->keys[i], key) == 0)
            return true;
    return false;
}

/* The message names this target (no "targets": every target). */
static bool for_target(json_t *msg, const char *target)
{
    json_t *targets = json_object_get(msg, "targets");
    if (!json_is_array(targets))
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(targets, i, v) if (json_is_string(v) && strcmp(json_string_value(v), target) == 0) return true;
    return false;
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
    if (*text && !*end) {
        out->kind = D1V_INTEGER;
        out->i = v;
        out->data = xstrdup(text);
        out->len = strlen(text);
    } else {
        out->kind = D1V_TEXT;
        out->data = xstrdup(text);
        out->len = strlen(text);
    }
}

/* Whether a chunk row (Postgres text at[i] for D1 column i) is this database's, for a sharded t (d1/shard). */
static bool row_in_shard(const D1Table *t, json_t *row, const long *at, bool *mine, Err *err)
{
    ShardPart parts[SHARD_MAX_COLUMNS];
    *mine = true;
    if (t->shard_col_count == 0 || t->shard_col_count > SHARD_MAX_COLUMNS)
        return true;
    for (size_t i = 0; i < t->shard_col_count; i++) {
        json_t *v = at[t->shard_cols[i]] >= 0 ? json_array_get(row, (size_t)at[t->shard_cols[i]]) : NULL;
        if (!json_is_string(v))
            return err_set(err, ERR_PROTOCOL, "resync message: a row of %s without its shard_by column %s",
                           t->source, t->cols[t->shard_cols[i]].pg_name);
        parts[i] = (ShardPart){json_string_value(v), json_string_length(v)};
    }
    *mine = shard_for(parts, t->shard_col_count, (uint32_t)t->shard_count) == t->shard;
    return true;
}

/* The chunk's rows as D1 values of t's columns, less the recorded ones; every key of the chunk in *keep. */
static bool chunk_rows(const D1ResyncWindow *w, const D1Table *t, json_t *msg, D1Value ***rows_out, size_t *n_out,
                       json_t *keep, Err *err)
{
    json_t *cols = json_object_get(msg, "columns"), *rows = json_object_get(msg, "rows");
    *rows_out = NULL;
    *n_out = 0;
    if (!json_is_array(cols) || !json_is_array(rows))
        return err_set(err, ERR_PROTOCOL, "resync message: \"columns\" and \"rows\" must be arrays");
    long *at = xcalloc(t->col_count + 1, sizeof *at);
    for (size_t i = 0; i < t->col_count; i++) {
        at[i] = -1;
        for (size_t k = 0; k < json_array_size(cols); k++)
            if (json_is_string(json_array_get(cols, k)) &&
                strcmp(json_string_value(json_array_get(cols, k)), t->cols[i].pg_name) == 0)
                at[i] = (long)k;
    }
    long key_at = at[t->key[0]];
    bool ok = key_at >= 0 || err_set(err, ERR_PROTOCOL, "resync message: no key column %s", t->cols[t->key[0]].pg_name);
    size_t total = json_array_size(rows);
    D1Value **out = xcalloc(total + 1, sizeof *out);
    for (size_t r = 0; ok && r < total; r++) {
        json_t *row = json_array_get(rows, r), *kv = json_array_get(row, (size_t)key_at);
        if (!json_is_array(row) || !json_is_string(kv)) {
            ok = err_set(err, ERR_PROTOCOL, "resync message: row %zu is not an array with its key", r);
            break;
        }
        bool mine;
        if (!(ok = row_in_shard(t, row, at, &mine, err)) || !mine)
            continue; /* another database's row: this one deletes its copy, if any */
        json_array_append_new(keep, key_json(json_string_value(kv)));
        if (recorded(w, json_string_value(kv)))
            continue; /* the stream changed it between the watermarks: its version stands */
        D1Value *vals = xcalloc(t->col_count, sizeof *vals);
        out[(*n_out)++] = vals;
        for (size_t i = 0; ok && i < t->col_count; i++) {
            json_t *v = at[i] >= 0 ? json_array_get(row, (size_t)at[i]) : NULL;
            if (json_is_string(v))
                ok = d1_value_from_text(t->cols[i].type, json_string_value(v), json_string_length(v), &vals[i], err);
        }
    }
    free(at);
    *rows_out = out;
    return ok;
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
static bool delete_stmt(const D1Table *t, json_t *msg, json_t *keep, D1StmtList *out, Err *err)
{
    json_t *from = json_object_get(msg, "from"), *to = json_object_get(msg, "to");
    bool last = json_is_true(json_object_get(msg, "last"));
    Buf sql;
    buf_init(&sql, 1 << 16);
    const char *key = t->cols[t->key[0]].d1_name;
    bool ok = buf_append_str(&sql, "DELETE FROM ", err) && d1_quote_ident(&sql, t->name, err) &&
              buf_append_str(&sql, " WHERE ", err) && d1_quote_ident(&sql, key, err) &&
              buf_append_str(&sql, " NOT IN (SELECT value FROM json_each(?1))", err);
    size_t np = 1;
    D1Value params[3];
    memset(params, 0, sizeof params);
    char *keys = json_dumps(keep, JSON_COMPACT);
    params[0] = (D1Value){D1V_TEXT, keys, strlen(keys), 0, 0};
    if (ok && json_is_string(from)) {
        key_value(json_string_value(from), &params[np++]);
        ok = buf_append_str(&sql, " AND ", err) && d1_quote_ident(&sql, key, err) &&
             buf_printf(&sql, err, " > ?%zu", np);
    }
    if (ok && !last && json_is_string(to)) {
        key_value(json_string_value(to), &params[np++]);
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

static D1Table *table_of(D1Table *tables, size_t count, const char *source)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(tables[i].source, source) == 0)
            return &tables[i];
    return NULL;
}

bool d1_resync_message(D1ResyncWindow *w, D1Table *tables, size_t count, const char *target, const Change *c,
                       const D1SqlLimits *lim, D1ResyncStep *step, D1StmtList *out, const D1Table **tab, long *rows,
                       Err *err)
{
    *step = D1_RESYNC_NONE;
    *rows = 0;
    size_t plen = sizeof D1_RESYNC_PREFIX - 1;
    if (c->op != CHANGE_MESSAGE || c->message_prefix.len != plen ||
        memcmp(c->message_prefix.p, D1_RESYNC_PREFIX, plen) != 0)
        return true;
    json_error_t je;
    json_t *msg = json_loadb((const char *)c->message_content, c->message_len, 0, &je);
    const char *phase = json_string_value(json_object_get(msg, "phase"));
    const char *run = json_string_value(json_object_get(msg, "run"));
    const char *source = json_string_value(json_object_get(msg, "table"));
    json_t *chunk = json_object_get(msg, "chunk");
    if (!phase || !run || !source || !json_is_integer(chunk)) {
        json_decref(msg);
        return err_set(err, ERR_PROTOCOL, "resync message: expected an object with phase, run, table and chunk");
    }
    D1Table *t = table_of(tables, count, source);
    bool ok = true;
    if (!t || !for_target(msg, target) || t->key_count != 1) {
        /* not ours */
    } else if (strcmp(phase, "low") == 0) {
        d1_resync_window_clear(w);
        w->open = true;
        w->run = xstrdup(run);
        w->table = xstrdup(source);
        w->chunk = (long)json_integer_value(chunk);
        *step = D1_RESYNC_OPENED;
    } else if (!w->open || strcmp(w->run, run) != 0 || w->chunk != (long)json_integer_value(chunk)) {
        *step = D1_RESYNC_SKIPPED;
    } else {
        json_t *keep = json_array();
        for (size_t i = 0; i < w->key_count; i++)
            json_array_append_new(keep, key_json(w->keys[i]));
        D1Value **vals = NULL;
        size_t n = 0;
        ok = chunk_rows(w, t, msg, &vals, &n, keep, err) &&
             (n == 0 || d1_sql_upsert_rows(t, (const D1Value *const *)vals, n, c->message_lsn, lim, out, err)) &&
             delete_stmt(t, msg, keep, out, err);
        free_rows(vals, n, t->col_count);
        json_decref(keep);
        *rows = (long)n;
        *tab = t;
        *step = D1_RESYNC_APPLY;
        d1_resync_window_clear(w);
    }
    json_decref(msg);
    return ok;
}
