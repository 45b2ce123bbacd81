/*
 * pipeline/resync.c - see resync.h. A high watermark is parsed once with
 * jansson and kept as borrowed pointers into its JSON (the message owns it):
 * a Rel whose columns are the message's, and a PgoTuple per row whose text
 * columns point at the JSON strings, so a target renders them exactly as it
 * renders a row change.
 */
#include "pipeline/resync.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/mem.h"

struct ResyncMsg {
    json_t *doc;
    Rel rel;
    RelCol *cols;
    PgoTuple *rows;
    PgoCol *vals;
    size_t row_count;
    /* the key */
    size_t nkeys;
    const char *key_names[RESYNC_KEY_MAX_COLUMNS];
    ResyncKeyType key_types[RESYNC_KEY_MAX_COLUMNS];
    size_t key_idx[RESYNC_KEY_MAX_COLUMNS];  /* into rel.cols */
    const char *from[RESYNC_KEY_MAX_COLUMNS], *to[RESYNC_KEY_MAX_COLUMNS];
    bool has_from, has_to;
};

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void resync_window_clear(ResyncWindow *w)
{
    free_names(w->keys, w->key_count);
    free_names(w->key_cols, w->key_col_count);
    free(w->run);
    free(w->attempt);
    free(w->table);
    free(w->skipped_table);
    memset(w, 0, sizeof *w);
}

static void record_tuple(ResyncWindow *w, const Rel *rel, const PgoTuple *tup, const char *const *key, size_t n)
{
    const char *vals[RESYNC_KEY_MAX_COLUMNS];
    char *text[RESYNC_KEY_MAX_COLUMNS] = {0};
    size_t found = 0;
    for (size_t i = 0; tup && i < n; i++)
        for (uint16_t j = 0; j < rel->ncols && j < tup->ncols; j++)
            if (strcmp(rel->cols[j].name, key[i]) == 0 && tup->cols[j].kind == PGO_COL_TEXT) {
                vals[i] = text[i] = xstrndup((const char *)tup->cols[j].data, tup->cols[j].len);
                found++;
                break;
            }
    if (tup && found == n) {
        if (w->key_count == w->key_cap) {
            w->key_cap = w->key_cap ? w->key_cap * 2 : 64;
            w->keys = xrealloc(w->keys, w->key_cap * sizeof *w->keys);
        }
        w->keys[w->key_count++] = resync_key_encode(vals, n);
    }
    for (size_t i = 0; i < n; i++)
        free(text[i]);
}

void resync_record(ResyncWindow *w, const char *key_col, const Change *c)
{
    if (!w->open || !c->rel || strcmp(c->rel->qualname, w->table) != 0)
        return;
    const char *const *key = w->key_col_count ? (const char *const *)w->key_cols : &key_col;
    size_t n = w->key_col_count ? w->key_col_count : 1;
    if (!key[0])
        return;
    record_tuple(w, c->rel, c->new_tuple, key, n);
    record_tuple(w, c->rel, c->old_tuple, key, n);
}

bool resync_recorded(const ResyncWindow *w, const char *key)
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
    for (size_t i = 0; i < json_array_size(targets); i++)
        if (json_is_string(json_array_get(targets, i)) &&
            strcmp(json_string_value(json_array_get(targets, i)), target) == 0)
            return true;
    return false;
}

/* The high watermark's columns and rows as a Rel and tuples borrowing from doc. */
static bool build(ResyncMsg *m, Err *err)
{
    json_t *cols = json_object_get(m->doc, "columns"), *rows = json_object_get(m->doc, "rows");
    if (!json_is_array(cols) || !json_is_array(rows) || json_array_size(cols) > UINT16_MAX)
        return err_set(err, ERR_PROTOCOL, "resync message: \"columns\" and \"rows\" must be arrays");
    size_t nc = json_array_size(cols), nr = json_array_size(rows);
    m->cols = xcalloc(nc + 1, sizeof *m->cols);
    for (size_t i = 0; i < nc; i++) {
        if (!json_is_string(json_array_get(cols, i)))
            return err_set(err, ERR_PROTOCOL, "resync message: column %zu is not a name", i);
        m->cols[i].name = (char *)json_string_value(json_array_get(cols, i)); /* borrowed, never freed */
        m->cols[i].typmod = -1;
    }
    m->rel.oid = 0;
    m->rel.qualname = (char *)json_string_value(json_object_get(m->doc, "table"));
    m->rel.ncols = (uint16_t)nc;
    m->rel.cols = m->cols;
    m->rows = xcalloc(nr + 1, sizeof *m->rows);
    m->vals = xcalloc(nr * nc + 1, sizeof *m->vals);
    for (size_t r = 0; r < nr; r++) {
        json_t *row = json_array_get(rows, r);
        if (!json_is_array(row) || json_array_size(row) != nc)
            return err_set(err, ERR_PROTOCOL, "resync message: row %zu does not have %zu values", r, nc);
        PgoCol *v = &m->vals[r * nc];
        for (size_t i = 0; i < nc; i++) {
            json_t *x = json_array_get(row, i);
            if (json_is_string(x))
                v[i] = (PgoCol){PGO_COL_TEXT, (uint32_t)json_string_length(x), (const uint8_t *)json_string_value(x)};
            else if (json_is_null(x))
                v[i] = (PgoCol){PGO_COL_NULL, 0, NULL};
            else
                return err_set(err, ERR_PROTOCOL, "resync message: row %zu, column %zu is not text", r, i);
        }
        m->rows[r] = (PgoTuple){(uint16_t)nc, v};
    }
    m->row_count = nr;
    return true;
}

/* "from" / "to": absent or null; one value (a message of before composite keys); an array of the key's n values. */
static bool range_end(json_t *x, size_t n, const char **out, bool *has, const char *what, Err *err)
{
    *has = false;
    if (!x || json_is_null(x))
        return true;
    if (json_is_string(x) && n <= 1) {
        out[0] = json_string_value(x);
        return *has = true;
    }
    if (!json_is_array(x) || (n && json_array_size(x) != n) || json_array_size(x) > RESYNC_KEY_MAX_COLUMNS)
        return err_set(err, ERR_PROTOCOL, "resync message: \"%s\" is not the key's values", what);
    for (size_t i = 0; i < json_array_size(x); i++)
        if (!(out[i] = json_string_value(json_array_get(x, i))))
            return err_set(err, ERR_PROTOCOL, "resync message: \"%s\" is not the key's values", what);
    return *has = true;
}

/* The key's columns in rel.cols (false: the message has not one of them). */
static bool key_columns(ResyncMsg *m, Err *err)
{
    for (size_t i = 0; i < m->nkeys; i++) {
        size_t j = 0;
        while (j < m->rel.ncols && strcmp(m->rel.cols[j].name, m->key_names[i]) != 0)
            j++;
        if (j == m->rel.ncols)
            return err_set(err, ERR_PROTOCOL, "resync message: no column %s of the key among its columns",
                           m->key_names[i]);
        m->key_idx[i] = j;
    }
    return true;
}

/* The key ("key", "key_types"; none in a message of before composite keys) and the range. */
static bool build_key(ResyncMsg *m, Err *err)
{
    json_t *names = json_object_get(m->doc, "key"), *types = json_object_get(m->doc, "key_types");
    if (names) {
        size_t n = json_is_array(names) ? json_array_size(names) : 0;
        if (n == 0 || n > RESYNC_KEY_MAX_COLUMNS || !json_is_array(types) || json_array_size(types) != n)
            return err_set(err, ERR_PROTOCOL, "resync message: \"key\" and \"key_types\" must be arrays of one size");
        for (size_t i = 0; i < n; i++) {
            m->key_names[i] = json_string_value(json_array_get(names, i));
            if (!m->key_names[i] || !resync_key_type_parse(json_string_value(json_array_get(types, i)), &m->key_types[i]))
                return err_set(err, ERR_PROTOCOL, "resync message: key column %zu has no name or an unknown type", i);
        }
        m->nkeys = n;
    }
    return key_columns(m, err) &&
           range_end(json_object_get(m->doc, "from"), m->nkeys, m->from, &m->has_from, "from", err) &&
           range_end(json_object_get(m->doc, "to"), m->nkeys, m->to, &m->has_to, "to", err);
}

bool resync_same_window(const char *w_run, long w_chunk, const char *w_attempt, const char *run, long chunk,
                        const char *attempt)
{
    return w_run && run && strcmp(w_run, run) == 0 && w_chunk == chunk &&
           (!w_attempt || !attempt || strcmp(w_attempt, attempt) == 0);
}

bool resync_watermark(const Change *c, bool *low, char **run, char **attempt, long *chunk)
{
    size_t plen = sizeof RESYNC_PREFIX - 1;
    if (c->op != CHANGE_MESSAGE || c->message_prefix.len != plen || memcmp(c->message_prefix.p, RESYNC_PREFIX, plen))
        return false;
    json_t *doc = json_loadb((const char *)c->message_content, c->message_len, 0, NULL);
    const char *phase = json_string_value(json_object_get(doc, "phase"));
    const char *r = json_string_value(json_object_get(doc, "run"));
    json_t *n = json_object_get(doc, "chunk");
    bool ok = phase && r && json_is_integer(n);
    if (ok) {
        *low = strcmp(phase, "low") == 0;
        *run = xstrdup(r);
        const char *a = json_string_value(json_object_get(doc, "attempt"));
        *attempt = a ? xstrdup(a) : NULL;
        *chunk = (long)json_integer_value(n);
    }
    json_decref(doc);
    return ok;
}

bool resync_step(ResyncWindow *w, const Change *c, const char *target, bool (*wants)(const char *table, void *ctx),
                 void *ctx, ResyncStep *step, ResyncMsg **out, Err *err)
{
    *step = RESYNC_NONE;
    *out = NULL;
    size_t plen = sizeof RESYNC_PREFIX - 1;
    if (c->op != CHANGE_MESSAGE || c->message_prefix.len != plen || memcmp(c->message_prefix.p, RESYNC_PREFIX, plen))
        return true;
    json_t *doc = json_loadb((const char *)c->message_content, c->message_len, 0, NULL);
    const char *phase = json_string_value(json_object_get(doc, "phase"));
    const char *run = json_string_value(json_object_get(doc, "run"));
    const char *table = json_string_value(json_object_get(doc, "table"));
    const char *attempt = json_string_value(json_object_get(doc, "attempt"));
    json_t *chunk = json_object_get(doc, "chunk");
    if (!phase || !run || !table || !json_is_integer(chunk)) {
        json_decref(doc);
        return err_set(err, ERR_PROTOCOL, "resync message: expected an object with phase, run, table and chunk");
    }
    long n = (long)json_integer_value(chunk);
    bool ok = true;
    if (!for_target(doc, target) || !wants(table, ctx)) {
        /* not ours */
    } else if (strcmp(phase, "low") == 0) {
        resync_window_clear(w);
        json_t *key = json_object_get(doc, "key");
        size_t nk = json_is_array(key) ? json_array_size(key) : 0;
        if (nk > RESYNC_KEY_MAX_COLUMNS)
            nk = 0;
        w->key_cols = xcalloc(nk + 1, sizeof *w->key_cols);
        for (size_t i = 0; i < nk; i++) {
            const char *name = json_string_value(json_array_get(key, i));
            if (name)
                w->key_cols[w->key_col_count++] = xstrdup(name);
        }
        w->open = true;
        w->run = xstrdup(run);
        w->attempt = attempt ? xstrdup(attempt) : NULL;
        w->table = xstrdup(table);
        w->chunk = n;
        *step = RESYNC_OPENED;
    } else if (resync_same_window(w->run, w->chunk, NULL, run, n, NULL) &&
               !resync_same_window(w->run, w->chunk, w->attempt, run, n, attempt)) {
        /* another attempt at the window's chunk, open or closed: its rows were read before changes
         * the window recorded (resync_same_window); the window's own attempt sends the chunk */
        *step = RESYNC_SUPERSEDED;
    } else if (!w->open || !resync_same_window(w->run, w->chunk, w->attempt, run, n, attempt)) {
        *step = RESYNC_SKIPPED;
        free(w->skipped_table);
        w->skipped_table = xstrdup(table);
        w->skipped_lsn = c->message_lsn;
    } else {
        ResyncMsg *m = xcalloc(1, sizeof *m);
        m->doc = json_incref(doc);
        ok = build(m, err) && build_key(m, err);
        if (ok) {
            *out = m;
            *step = RESYNC_HIGH;
            w->open = false;
        } else {
            resync_msg_free(m);
        }
    }
    json_decref(doc);
    return ok;
}

void resync_msg_free(ResyncMsg *m)
{
    if (!m)
        return;
    free(m->cols);
    free(m->rows);
    free(m->vals);
    json_decref(m->doc);
    free(m);
}

const char *resync_msg_table(const ResyncMsg *m) { return m->rel.qualname; }
const char *resync_msg_from(const ResyncMsg *m) { return m->has_from ? m->from[0] : NULL; }
const char *resync_msg_to(const ResyncMsg *m) { return m->has_to ? m->to[0] : NULL; }
const char *const *resync_msg_from_key(const ResyncMsg *m) { return m->has_from ? m->from : NULL; }
const char *const *resync_msg_to_key(const ResyncMsg *m) { return m->has_to ? m->to : NULL; }
size_t resync_msg_key_count(const ResyncMsg *m) { return m->nkeys; }
const char *resync_msg_key_name(const ResyncMsg *m, size_t i) { return m->key_names[i]; }
const ResyncKeyType *resync_msg_key_types(const ResyncMsg *m) { return m->key_types; }

bool resync_msg_key_default(ResyncMsg *m, const char *col, Err *err)
{
    if (m->nkeys)
        return true;
    m->nkeys = 1;
    m->key_names[0] = col;
    m->key_types[0] = RESYNC_KEY_INTEGER;
    if (!key_columns(m, err)) {
        m->nkeys = 0;
        return false;
    }
    return true;
}

const char *resync_msg_key_value(const ResyncMsg *m, size_t r, size_t i)
{
    const PgoCol *v = &m->rows[r].cols[m->key_idx[i]];
    return v->kind == PGO_COL_TEXT ? (const char *)v->data : NULL;
}

char *resync_msg_row_key(const ResyncMsg *m, size_t r)
{
    const char *vals[RESYNC_KEY_MAX_COLUMNS];
    for (size_t i = 0; i < m->nkeys; i++)
        if (!(vals[i] = resync_msg_key_value(m, r, i)))
            return NULL;
    return m->nkeys ? resync_key_encode(vals, m->nkeys) : NULL;
}

bool resync_msg_has_key(const ResyncMsg *m, const char *const *vals)
{
    size_t lo = 0, hi = m->row_count;
    const char *row[RESYNC_KEY_MAX_COLUMNS];
    while (m->nkeys && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        bool null = false;
        for (size_t i = 0; i < m->nkeys; i++)
            null |= !(row[i] = resync_msg_key_value(m, mid, i));
        if (null)
            return false; /* key columns are never NULL in Postgres */
        int c = resync_key_cmp(m->key_types, m->nkeys, row, vals);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}
bool resync_msg_last(const ResyncMsg *m) { return json_is_true(json_object_get(m->doc, "last")); }
const Rel *resync_msg_rel(const ResyncMsg *m) { return &m->rel; }
size_t resync_msg_row_count(const ResyncMsg *m) { return m->row_count; }
const PgoTuple *resync_msg_row(const ResyncMsg *m, size_t i) { return &m->rows[i]; }

const char *resync_msg_value(const ResyncMsg *m, size_t i, const char *col)
{
    for (uint16_t k = 0; k < m->rel.ncols; k++)
        if (strcmp(m->rel.cols[k].name, col) == 0)
            return m->rows[i].cols[k].kind == PGO_COL_TEXT ? (const char *)m->rows[i].cols[k].data : NULL;
    return NULL;
}
