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
};

void resync_window_clear(ResyncWindow *w)
{
    for (size_t i = 0; i < w->key_count; i++)
        free(w->keys[i]);
    free(w->keys);
    free(w->run);
    free(w->table);
    memset(w, 0, sizeof *w);
}

static void record_tuple(ResyncWindow *w, const Rel *rel, const PgoTuple *tup, const char *key)
{
    for (uint16_t j = 0; tup && j < rel->ncols && j < tup->ncols; j++) {
        if (strcmp(rel->cols[j].name, key) != 0 || tup->cols[j].kind != PGO_COL_TEXT)
            continue;
        if (w->key_count == w->key_cap) {
            w->key_cap = w->key_cap ? w->key_cap * 2 : 64;
            w->keys = xrealloc(w->keys, w->key_cap * sizeof *w->keys);
        }
        w->keys[w->key_count++] = xstrndup((const char *)tup->cols[j].data, tup->cols[j].len);
        return;
    }
}

void resync_record(ResyncWindow *w, const char *key_col, const Change *c)
{
    if (!w->open || !c->rel || strcmp(c->rel->qualname, w->table) != 0)
        return;
    record_tuple(w, c->rel, c->new_tuple, key_col);
    record_tuple(w, c->rel, c->old_tuple, key_col);
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
    json_t *chunk = json_object_get(doc, "chunk");
    if (!phase || !run || !table || !json_is_integer(chunk)) {
        json_decref(doc);
        return err_set(err, ERR_PROTOCOL, "resync message: expected an object with phase, run, table and chunk");
    }
    bool ok = true;
    if (!for_target(doc, target) || !wants(table, ctx)) {
        /* not ours */
    } else if (strcmp(phase, "low") == 0) {
        resync_window_clear(w);
        w->open = true;
        w->run = xstrdup(run);
        w->table = xstrdup(table);
        w->chunk = (long)json_integer_value(chunk);
        *step = RESYNC_OPENED;
    } else if (!w->open || strcmp(w->run, run) != 0 || w->chunk != (long)json_integer_value(chunk)) {
        *step = RESYNC_SKIPPED;
    } else {
        ResyncMsg *m = xcalloc(1, sizeof *m);
        m->doc = json_incref(doc);
        ok = build(m, err);
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
const char *resync_msg_from(const ResyncMsg *m) { return json_string_value(json_object_get(m->doc, "from")); }
const char *resync_msg_to(const ResyncMsg *m) { return json_string_value(json_object_get(m->doc, "to")); }
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
