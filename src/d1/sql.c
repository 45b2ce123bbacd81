/*
 * d1/sql.c - see sql.h.
 *
 * NULL values are written as the literal NULL (D1's REST params are strings),
 * every other value is a parameter (or an X'..' literal for BLOBs when
 * inline_blobs is set).
 */
#include "d1/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define SQL_BUF_CAP ((size_t)64 * 1024 * 1024)
#define SQL_LOCAL_COLS 32 /* a row of fewer columns is converted on the stack */
#define SQL_BUF_START 511 /* an upsert of a dozen columns, without regrowing */

D1SqlLimits d1_sql_default_limits(void)
{
    D1SqlLimits l = {D1_MAX_PARAMS, D1_MAX_SQL_BYTES, D1_MAX_ROW_BYTES, false};
    return l;
}

void d1_stmt_list_clear(D1StmtList *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].sql);
        for (size_t k = 0; k < l->items[i].param_count; k++)
            d1_value_clear(&l->items[i].params[k]);
        free(l->items[i].params);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static void value_copy(D1Value *dst, const D1Value *src)
{
    *dst = *src;
    if (src->data) {
        dst->data = xmalloc(src->len + 1);
        memcpy(dst->data, src->data, src->len);
        dst->data[src->len] = '\0';
    }
}

/* A statement under construction. */
typedef struct Sb {
    Buf sql;
    D1Value *params;
    size_t count, cap;
    const D1SqlLimits *lim;
} Sb;

static void sb_init(Sb *sb, const D1SqlLimits *lim)
{
    memset(sb, 0, sizeof *sb);
    buf_init(&sb->sql, SQL_BUF_CAP);
    Err ignored; /* far under the cap; were it refused, the first append would report it */
    if (!buf_reserve(&sb->sql, SQL_BUF_START, &ignored))
        buf_reset(&sb->sql);
    sb->lim = lim;
}

static void sb_free(Sb *sb)
{
    buf_free(&sb->sql);
    for (size_t i = 0; i < sb->count; i++)
        d1_value_clear(&sb->params[i]);
    free(sb->params);
    memset(sb, 0, sizeof *sb);
}

/* Append a value: NULL literal, X'..' literal or the next ?N. */
static bool sb_value(Sb *sb, const D1Value *v, Err *err)
{
    if (v->kind == D1V_NULL)
        return buf_append_str(&sb->sql, "NULL", err);
    if (v->kind == D1V_BLOB && sb->lim->inline_blobs) {
        if (!buf_append_str(&sb->sql, "X'", err))
            return false;
        for (size_t i = 0; i < v->len; i++)
            if (!buf_printf(&sb->sql, err, "%02X", (unsigned char)v->data[i]))
                return false;
        return buf_append_str(&sb->sql, "'", err);
    }
    if (sb->count == sb->cap) {
        sb->cap = sb->cap ? sb->cap * 2 : 16;
        sb->params = xrealloc(sb->params, sb->cap * sizeof *sb->params);
    }
    value_copy(&sb->params[sb->count++], v);
    return buf_append(&sb->sql, "?", 1, err) && buf_append_u64(&sb->sql, sb->count, err);
}

static bool sb_ident(Sb *sb, const char *name, Err *err)
{
    return d1_quote_ident(&sb->sql, name, err);
}

static bool sb_str(Sb *sb, const char *s, Err *err)
{
    return buf_append_str(&sb->sql, s, err);
}

static void sb_emit(Sb *sb, D1StmtList *out)
{
    out->items = xrealloc(out->items, (out->count + 1) * sizeof *out->items);
    D1Stmt *st = &out->items[out->count++];
    st->sql = buf_take(&sb->sql);
    st->params = sb->params;
    st->param_count = sb->count;
    sb->params = NULL;
    sb->count = sb->cap = 0;
}

static bool sb_fits(const Sb *sb)
{
    return sb->count <= sb->lim->max_params && sb->sql.len <= sb->lim->max_sql_bytes;
}

/* The largest present value, for messages. */
static size_t largest(const D1Table *t, const D1Value *vals, const bool *present, size_t *bytes)
{
    size_t best = 0;
    *bytes = 0;
    for (size_t i = 0; i < t->col_count; i++)
        if (present[i] && vals[i].len >= *bytes) {
            *bytes = vals[i].len;
            best = i;
        }
    return best;
}

static bool too_large(const Sb *sb, const D1Table *t, const D1Value *vals, const bool *present,
                      Lsn lsn, Err *err)
{
    char l[LSN_STR_MAX];
    size_t bytes;
    size_t col = largest(t, vals, present, &bytes);
    return err_set(err, ERR_TOO_LARGE,
                   "a change to %s (D1 table \"%s\") at LSN %s does not fit one D1 statement "
                   "(%zu bytes of SQL, limit %zu; %zu parameters, limit %zu); largest column "
                   "\"%s\" is %zu bytes",
                   t->source, t->name, lsn_format(lsn, l), sb->sql.len, sb->lim->max_sql_bytes,
                   sb->count, sb->lim->max_params, t->cols[col].pg_name, bytes);
}

/* Column index of D1 column `i` in the relation, or -1. */
static long rel_index(const Rel *rel, const D1Table *t, size_t i)
{
    const char *name = t->cols[i].pg_name;
    if (i < rel->ncols && strcmp(rel->cols[i].name, name) == 0)
        return (long)i;
    for (uint16_t k = 0; k < rel->ncols; k++)
        if (strcmp(rel->cols[k].name, name) == 0)
            return k;
    return -1;
}

/* Convert a tuple into vals[t->col_count]; present[i] false for 'u' or unknown columns. */
static bool row_values(const D1Table *t, const Rel *rel, const PgoTuple *tup, Lsn lsn,
                       const D1SqlLimits *lim, D1Value *vals, bool *present, Err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < t->col_count; i++) {
        memset(&vals[i], 0, sizeof vals[i]);
        present[i] = false;
        long j = rel_index(rel, t, i);
        if (j < 0 || (size_t)j >= tup->ncols)
            continue;
        const PgoCol *pc = &tup->cols[j];
        char l[LSN_STR_MAX];
        switch (pc->kind) {
        case PGO_COL_NULL:
            present[i] = true;
            break;
        case PGO_COL_UNCHANGED:
            break;
        case PGO_COL_TEXT:
            if (!d1_value_from_text(t->cols[i].type, (const char *)pc->data, pc->len, &vals[i], err)) {
                err_prefix(err, "%s column \"%s\" at LSN %s", t->source, t->cols[i].pg_name,
                           lsn_format(lsn, l));
                return false;
            }
            present[i] = true;
            total += vals[i].len;
            break;
        default:
            return err_set(err, ERR_PROTOCOL,
                           "%s column \"%s\" at LSN %s: binary-format values are not supported "
                           "(the replication session must not ask for binary)",
                           t->source, t->cols[i].pg_name, lsn_format(lsn, l));
        }
    }
    if (total > lim->max_row_bytes) {
        char l[LSN_STR_MAX];
        size_t bytes;
        size_t col = largest(t, vals, present, &bytes);
        return err_set(err, ERR_TOO_LARGE,
                       "a row of %s (D1 table \"%s\") at LSN %s is %zu bytes, over D1's %zu-byte "
                       "row limit; largest column \"%s\" is %zu bytes",
                       t->source, t->name, lsn_format(lsn, l), total, lim->max_row_bytes,
                       t->cols[col].pg_name, bytes);
    }
    return true;
}

static void vals_clear(D1Value *vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d1_value_clear(&vals[i]);
}

static bool values_equal(const D1Value *a, const D1Value *b)
{
    return a->kind == b->kind && a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* INSERT INTO t (cols) VALUES ( */
static bool upsert_head(Sb *sb, const D1Table *t, const bool *present, Err *err)
{
    bool ok = sb_str(sb, "INSERT INTO ", err) && sb_ident(sb, t->name, err) && sb_str(sb, " (", err);
    bool first = true;
    for (size_t i = 0; ok && i < t->col_count; i++) {
        if (present && !present[i])
            continue;
        ok = (first || sb_str(sb, ", ", err)) && sb_ident(sb, t->cols[i].d1_name, err);
        first = false;
    }
    return ok && sb_str(sb, ") VALUES ", err);
}

static bool upsert_row(Sb *sb, const D1Table *t, const D1Value *vals, const bool *present, Err *err)
{
    bool ok = sb_str(sb, "(", err);
    bool first = true;
    for (size_t i = 0; ok && i < t->col_count; i++) {
        if (present && !present[i])
            continue;
        ok = (first || sb_str(sb, ", ", err)) && sb_value(sb, &vals[i], err);
        first = false;
    }
    return ok && sb_str(sb, ")", err);
}

static bool upsert_tail(Sb *sb, const D1Table *t, const bool *present, Err *err)
{
    bool ok = sb_str(sb, " ON CONFLICT (", err);
    for (size_t k = 0; ok && k < t->key_count; k++)
        ok = (k == 0 || sb_str(sb, ", ", err)) && sb_ident(sb, t->cols[t->key[k]].d1_name, err);
    ok = ok && sb_str(sb, ") DO ", err);
    bool first = true;
    for (size_t i = 0; ok && i < t->col_count; i++) {
        if ((present && !present[i]) || t->cols[i].is_key)
            continue;
        ok = sb_str(sb, first ? "UPDATE SET " : ", ", err) && sb_ident(sb, t->cols[i].d1_name, err) &&
             sb_str(sb, " = excluded.", err) && sb_ident(sb, t->cols[i].d1_name, err);
        first = false;
    }
    return ok && (!first || sb_str(sb, "NOTHING", err));
}

char *d1_sql_upsert_text(const D1Table *t)
{
    D1SqlLimits lim = d1_sql_default_limits();
    Sb sb;
    Err e;
    sb_init(&sb, &lim);
    bool ok = upsert_head(&sb, t, NULL, &e) && sb_str(&sb, "(", &e);
    for (size_t i = 0; ok && i < t->col_count; i++)
        ok = buf_printf(&sb.sql, &e, "%s?%zu", i ? ", " : "", i + 1);
    ok = ok && sb_str(&sb, ")", &e) && upsert_tail(&sb, t, NULL, &e);
    char *out = buf_take(&sb.sql);
    sb_free(&sb);
    return out;
}

static bool emit_upsert(const D1Table *t, const D1Value *vals, const bool *present, Lsn lsn,
                        const D1SqlLimits *lim, D1StmtList *out, Err *err)
{
    Sb sb;
    sb_init(&sb, lim);
    bool ok = upsert_head(&sb, t, present, err) && upsert_row(&sb, t, vals, present, err) &&
              upsert_tail(&sb, t, present, err);
    if (ok && !sb_fits(&sb))
        ok = too_large(&sb, t, vals, present, lsn, err);
    if (ok)
        sb_emit(&sb, out);
    sb_free(&sb);
    return ok;
}

/* WHERE k1 = ?.. AND k2 IS NULL */
static bool where_key(Sb *sb, const D1Table *t, const D1Value *key_vals, Err *err)
{
    bool ok = sb_str(sb, " WHERE ", err);
    for (size_t k = 0; ok && k < t->key_count; k++) {
        const D1Value *v = &key_vals[t->key[k]];
        ok = (k == 0 || sb_str(sb, " AND ", err)) && sb_ident(sb, t->cols[t->key[k]].d1_name, err) &&
             (v->kind == D1V_NULL ? sb_str(sb, " IS NULL", err)
                                  : sb_str(sb, " = ", err) && sb_value(sb, v, err));
    }
    return ok;
}

static bool emit_delete(const D1Table *t, const D1Value *key_vals, const bool *present, Lsn lsn,
                        const D1SqlLimits *lim, D1StmtList *out, Err *err)
{
    Sb sb;
    sb_init(&sb, lim);
    bool ok = sb_str(&sb, "DELETE FROM ", err) && sb_ident(&sb, t->name, err) &&
              where_key(&sb, t, key_vals, err);
    if (ok && !sb_fits(&sb))
        ok = too_large(&sb, t, key_vals, present, lsn, err);
    if (ok)
        sb_emit(&sb, out);
    sb_free(&sb);
    return ok;
}

/* UPDATE t SET present columns (with_key: key columns too) WHERE old key. */
static bool emit_update(const D1Table *t, const D1Value *vals, const bool *present,
                        const D1Value *key_vals, bool with_key, Lsn lsn, const D1SqlLimits *lim,
                        D1StmtList *out, Err *err)
{
    Sb sb;
    sb_init(&sb, lim);
    bool ok = sb_str(&sb, "UPDATE ", err) && sb_ident(&sb, t->name, err);
    bool first = true;
    for (size_t i = 0; ok && i < t->col_count; i++) {
        if (!present[i] || (t->cols[i].is_key && !with_key))
            continue;
        ok = sb_str(&sb, first ? " SET " : ", ", err) && sb_ident(&sb, t->cols[i].d1_name, err) &&
             sb_str(&sb, " = ", err) && sb_value(&sb, &vals[i], err);
        first = false;
    }
    if (first) { /* nothing to set: every changed column was unchanged TOAST */
        sb_free(&sb);
        return true;
    }
    ok = ok && where_key(&sb, t, key_vals, err);
    if (ok && !sb_fits(&sb))
        ok = too_large(&sb, t, vals, present, lsn, err);
    if (ok)
        sb_emit(&sb, out);
    sb_free(&sb);
    return ok;
}

/* Key values from `vals`; false (with err) when a key column is missing. */
static bool key_present(const D1Table *t, const bool *present, const char *which, Lsn lsn, Err *err)
{
    for (size_t k = 0; k < t->key_count; k++)
        if (!present[t->key[k]]) {
            char l[LSN_STR_MAX];
            return err_set(err, ERR_PROTOCOL,
                           "cannot find the D1 row of %s at LSN %s: the %s row lacks key column "
                           "\"%s\" (check the table's replica identity)",
                           t->source, lsn_format(lsn, l), which, t->cols[t->key[k]].pg_name);
        }
    return true;
}

bool d1_sql_for_change(const D1Table *t, const Change *c, Lsn lsn, const D1SqlLimits *lim,
                       D1StmtList *out, Err *err)
{
    size_t n = t->col_count;
    /* the rows of a table under SQL_LOCAL_COLS columns on the stack: four allocations per change less */
    D1Value nv_local[SQL_LOCAL_COLS], ov_local[SQL_LOCAL_COLS];
    bool np_local[SQL_LOCAL_COLS], op_local[SQL_LOCAL_COLS];
    bool local = n < SQL_LOCAL_COLS;
    D1Value *nv = local ? nv_local : xcalloc(n + 1, sizeof *nv), *ov = local ? ov_local : xcalloc(n + 1, sizeof *ov);
    bool *np = local ? np_local : xcalloc(n + 1, sizeof *np), *op = local ? op_local : xcalloc(n + 1, sizeof *op);
    if (local) {
        memset(nv, 0, (n + 1) * sizeof *nv);
        memset(ov, 0, (n + 1) * sizeof *ov);
        memset(np, 0, (n + 1) * sizeof *np);
        memset(op, 0, (n + 1) * sizeof *op);
    }
    bool ok = true;
    const bool has_old = c->old_tuple != NULL && c->old_kind != 0;
    if (has_old)
        ok = row_values(t, c->rel, c->old_tuple, lsn, lim, ov, op, err);
    if (ok && c->op != CHANGE_DELETE) {
        if (!c->new_tuple)
            ok = err_set(err, ERR_PROTOCOL, "%s change without a new row", t->source);
        else
            ok = row_values(t, c->rel, c->new_tuple, lsn, lim, nv, np, err);
    }
    if (!ok)
        goto done;
    bool all_present = true;
    for (size_t i = 0; i < n; i++)
        all_present = all_present && np[i];
    switch (c->op) {
    case CHANGE_INSERT:
        ok = key_present(t, np, "new", lsn, err) && emit_upsert(t, nv, np, lsn, lim, out, err);
        break;
    case CHANGE_UPDATE: {
        ok = key_present(t, np, "new", lsn, err);
        bool key_changed = false;
        if (ok && has_old) {
            ok = key_present(t, op, "old", lsn, err);
            for (size_t k = 0; ok && k < t->key_count; k++)
                if (!values_equal(&ov[t->key[k]], &nv[t->key[k]]))
                    key_changed = true;
        }
        if (!ok)
            break;
        if (key_changed && all_present)
            ok = emit_delete(t, ov, op, lsn, lim, out, err) && emit_upsert(t, nv, np, lsn, lim, out, err);
        else if (key_changed)
            ok = emit_update(t, nv, np, ov, true, lsn, lim, out, err);
        else if (all_present)
            ok = emit_upsert(t, nv, np, lsn, lim, out, err);
        else
            ok = emit_update(t, nv, np, nv, false, lsn, lim, out, err);
        break;
    }
    case CHANGE_DELETE:
        if (!has_old) {
            char l[LSN_STR_MAX];
            ok = err_set(err, ERR_PROTOCOL,
                         "cannot delete from %s at LSN %s: the change carries no old key (check "
                         "the table's replica identity)",
                         t->source, lsn_format(lsn, l));
            break;
        }
        ok = key_present(t, op, "old", lsn, err) && emit_delete(t, ov, op, lsn, lim, out, err);
        break;
    case CHANGE_TRUNCATE:
        ok = d1_sql_truncate(t, out, err);
        break;
    case CHANGE_MESSAGE:
        break;
    }
done:
    vals_clear(nv, n);
    vals_clear(ov, n);
    if (!local) {
        free(nv);
        free(ov);
        free(np);
        free(op);
    }
    return ok;
}

static const PgoTuple *change_row(const Change *c)
{
    return c->op == CHANGE_DELETE || !c->new_tuple ? c->old_tuple : c->new_tuple;
}

void d1_sql_change_key(const D1Table *t, const Change *c, Buf *key)
{
    const char **names = xcalloc(t->key_count + 1, sizeof *names);
    for (size_t k = 0; k < t->key_count; k++)
        names[k] = t->cols[t->key[k]].pg_name;
    deadletter_cols_json(c->rel, change_row(c), names, t->key_count, DEADLETTER_MAX_KEY, key);
    free(names);
}

void d1_sql_refusal_policy(const D1Table *t, bool constraint, ErrCode code, DlPolicy *policy)
{
    *policy = (DlPolicy){
        .skip = t->mapping && t->mapping->d1.on_error == MAP_ON_ERROR_SKIP,
        .mapping_file = t->mapping ? t->mapping->file : "the mapping file",
        .section = "d1",
        .ways_out = constraint ? "drop that constraint from the D1 table (Postgres does not have it), or fix the "
                                 "row in Postgres"
                               : "leave the large column out of D1 (\"exclude\" in the \"d1\" section), or make "
                                 "the row smaller in Postgres",
        .code = code,
    };
}

void d1_refusal_init(D1Refusal *r, const D1Table *t, const char *target, const TxnInfo *txn, const Change *c,
                     bool constraint, const Err *cause)
{
    buf_init(&r->key, 2 * DEADLETTER_MAX_KEY + 4096);
    buf_init(&r->value, 2 * DEADLETTER_MAX_VALUE + 4096);
    d1_sql_change_key(t, c, &r->key);
    const char **names = xcalloc(t->col_count + 1, sizeof *names);
    for (size_t i = 0; i < t->col_count; i++)
        names[i] = t->cols[i].pg_name;
    deadletter_cols_json(c->rel, change_row(c), names, t->col_count, DEADLETTER_MAX_VALUE, &r->value);
    free(names);
    d1_sql_refusal_policy(t, constraint, cause->code, &r->policy);
    snprintf(r->reason, sizeof r->reason, "%s", cause->msg);
    r->entry = (DlEntry){.target = target, .table = t->source, .commit_lsn = txn->commit_lsn, .xid = txn->xid,
                         .key = r->key.data, .reason = r->reason, .value = r->value.data, .value_len = r->value.len};
}

void d1_refusal_free(D1Refusal *r)
{
    buf_free(&r->key);
    buf_free(&r->value);
}

bool d1_sql_truncate(const D1Table *t, D1StmtList *out, Err *err)
{
    D1SqlLimits lim = d1_sql_default_limits();
    Sb sb;
    sb_init(&sb, &lim);
    bool ok = sb_str(&sb, "DELETE FROM ", err) && sb_ident(&sb, t->name, err);
    if (ok)
        sb_emit(&sb, out);
    sb_free(&sb);
    return ok;
}

bool d1_sql_upsert_rows(const D1Table *t, const D1Value *const *rows, size_t row_count, Lsn lsn,
                        const D1SqlLimits *lim, D1StmtList *out, Err *err)
{
    bool *all = xcalloc(t->col_count + 1, sizeof *all);
    for (size_t i = 0; i < t->col_count; i++)
        all[i] = true;
    Sb sb, tail;
    sb_init(&sb, lim);
    sb_init(&tail, lim);
    bool ok = upsert_tail(&tail, t, NULL, err);
    size_t in_stmt = 0;
    for (size_t r = 0; ok && r < row_count; r++) {
        size_t total = 0;
        for (size_t i = 0; i < t->col_count; i++)
            total += rows[r][i].len;
        if (total > lim->max_row_bytes) {
            char l[LSN_STR_MAX];
            size_t bytes;
            size_t col = largest(t, rows[r], all, &bytes);
            ok = err_set(err, ERR_TOO_LARGE,
                         "a row of %s (D1 table \"%s\") at LSN %s is %zu bytes, over D1's %zu-byte "
                         "row limit; largest column \"%s\" is %zu bytes",
                         t->source, t->name, lsn_format(lsn, l), total, lim->max_row_bytes,
                         t->cols[col].pg_name, bytes);
            break;
        }
        for (int attempt = 0; ok && attempt < 2; attempt++) {
            if (in_stmt == 0)
                ok = upsert_head(&sb, t, NULL, err);
            size_t mark_len = sb.sql.len, mark_count = sb.count;
            ok = ok && (in_stmt == 0 || sb_str(&sb, ", ", err)) && upsert_row(&sb, t, rows[r], NULL, err);
            if (!ok)
                break;
            bool fits = sb.count <= lim->max_params && sb.sql.len + tail.sql.len <= lim->max_sql_bytes;
            if (fits) {
                in_stmt++;
                break;
            }
            /* roll the row back out */
            for (size_t k = mark_count; k < sb.count; k++)
                d1_value_clear(&sb.params[k]);
            sb.count = mark_count;
            sb.sql.len = mark_len;
            sb.sql.data[mark_len] = '\0';
            if (in_stmt == 0) {
                ok = too_large(&sb, t, rows[r], all, lsn, err);
                break;
            }
            ok = buf_append(&sb.sql, tail.sql.data, tail.sql.len, err);
            if (ok)
                sb_emit(&sb, out);
            in_stmt = 0;
        }
    }
    if (ok && in_stmt) {
        ok = buf_append(&sb.sql, tail.sql.data, tail.sql.len, err);
        if (ok)
            sb_emit(&sb, out);
    }
    sb_free(&sb);
    sb_free(&tail);
    free(all);
    return ok;
}

static void text_value(D1Value *v, const char *s)
{
    memset(v, 0, sizeof *v);
    v->kind = D1V_TEXT;
    v->data = xstrdup(s);
    v->len = strlen(s);
}

bool d1_sql_checkpoint(const char *slot, Lsn commit_lsn, Lsn end_lsn, int64_t commit_time_us,
                       D1StmtList *out, Err *err)
{
    (void)err;
    char c[LSN_STR_MAX], e[LSN_STR_MAX], pos[LSN_FIXED_MAX], ts[TIMEFMT_ISO_MAX];
    timefmt_iso(commit_time_us, 6, ts);
    D1Stmt st;
    st.sql = xstrdup("INSERT INTO \"" D1_STATE_TABLE "\" (\"slot\", \"commit_lsn\", \"end_lsn\", "
                     "\"updated_at\", \"position\") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (\"slot\") DO UPDATE SET "
                     "\"commit_lsn\" = excluded.\"commit_lsn\", \"end_lsn\" = excluded.\"end_lsn\", "
                     "\"updated_at\" = excluded.\"updated_at\", \"position\" = excluded.\"position\"");
    st.param_count = 5;
    st.params = xcalloc(5, sizeof *st.params);
    text_value(&st.params[0], slot);
    text_value(&st.params[1], lsn_format(commit_lsn, c));
    text_value(&st.params[2], lsn_format(end_lsn, e));
    text_value(&st.params[3], ts);
    text_value(&st.params[4], lsn_format_fixed(end_lsn, pos));
    out->items = xrealloc(out->items, (out->count + 1) * sizeof *out->items);
    out->items[out->count++] = st;
    return true;
}

const char *d1_sql_checkpoint_query(void)
{
    return "SELECT \"commit_lsn\", \"end_lsn\" FROM \"" D1_STATE_TABLE "\" WHERE \"slot\" = ?1";
}
