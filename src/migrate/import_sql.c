/*
 * migrate/import_sql.c - see import_sql.h.
 *
 * Each row is rendered into its own buffer first, so its size is known before it
 * is placed: it joins the open INSERT when the statement plus ",\n", the row and
 * the closing ';' stays under the cap, otherwise the open statement is ended and
 * a new one starts with the table's INSERT head, built once at init. A row that
 * cannot fit even a statement of its own is an error, not a split. Literals are
 * copied in runs between single quotes, each quote doubled; blobs become X'..'.
 */
#include "migrate/import_sql.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* out is written to a file by the caller long before this */
#define IMPORT_SQL_OUT_CAP ((size_t)1 << 30)

bool import_sql_literal(Buf *b, const D1Value *v, Err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    switch (v->kind) {
    case D1V_NULL:
        return buf_append_str(b, "NULL", err);
    case D1V_BLOB: {
        if (!buf_append_str(b, "X'", err))
            return false;
        for (size_t i = 0; i < v->len; i++) {
            unsigned char c = (unsigned char)v->data[i];
            char pair[2] = {hex[c >> 4], hex[c & 15]};
            if (!buf_append(b, pair, 2, err))
                return false;
        }
        return buf_append_str(b, "'", err);
    }
    case D1V_INTEGER:
    case D1V_REAL:
    case D1V_TEXT:
        break;
    }
    if (!buf_append_str(b, "'", err))
        return false;
    const char *p = v->data ? v->data : "";
    size_t len = v->data ? v->len : 0;
    for (;;) {
        const char *q = memchr(p, '\'', len);
        size_t run = q ? (size_t)(q - p) + 1 : len;
        if (!buf_append(b, p, run, err))
            return false;
        if (!q)
            break;
        if (!buf_append_str(b, "'", err)) /* '' inside a literal */
            return false;
        p += run;
        len -= run;
    }
    return buf_append_str(b, "'", err);
}

bool import_sql_init(ImportSql *w, const D1Table *t, size_t max_stmt_bytes, Err *err)
{
    memset(w, 0, sizeof *w);
    w->max_stmt = max_stmt_bytes ? max_stmt_bytes : IMPORT_SQL_MAX_STMT_BYTES;
    buf_init(&w->out, IMPORT_SQL_OUT_CAP);
    buf_init(&w->row, w->max_stmt + 1);
    Buf h;
    buf_init(&h, w->max_stmt);
    bool ok = buf_append_str(&h, "INSERT INTO ", err) && d1_quote_ident(&h, t->name, err) &&
              buf_append_str(&h, " (", err);
    for (size_t k = 0; ok && k < t->col_count; k++)
        ok = (k == 0 || buf_append_str(&h, ", ", err)) && d1_quote_ident(&h, t->cols[k].d1_name, err);
    ok = ok && buf_append_str(&h, ") VALUES\n", err);
    w->head_len = h.len;
    w->head = buf_take(&h);
    buf_free(&h);
    if (!ok)
        import_sql_free(w);
    return ok;
}

void import_sql_free(ImportSql *w)
{
    buf_free(&w->out);
    buf_free(&w->row);
    free(w->head);
    memset(w, 0, sizeof *w);
}

bool import_sql_end(ImportSql *w, Err *err)
{
    if (!w->open)
        return true;
    w->open = false;
    return buf_append_str(&w->out, ";\n", err);
}

void import_sql_reset(ImportSql *w)
{
    buf_reset(&w->out);
    w->open = false;
    w->open_bytes = 0;
    w->rows = 0;
    w->stmts = 0;
}

bool import_sql_add_row(ImportSql *w, const D1Value *vals, size_t n, Err *err)
{
    buf_reset(&w->row);
    Err sub;
    bool ok = buf_append_str(&w->row, "(", &sub);
    for (size_t k = 0; ok && k < n; k++)
        ok = (k == 0 || buf_append_str(&w->row, ", ", &sub)) && import_sql_literal(&w->row, &vals[k], &sub);
    ok = ok && buf_append_str(&w->row, ")", &sub);
    /* the statement's ';' must fit too */
    if (!ok || w->head_len + w->row.len + 1 > w->max_stmt)
        return err_set(err, ERR_TOO_LARGE, "a row of %zu+ bytes does not fit one statement of %zu bytes",
                       w->row.len, w->max_stmt);
    if (w->open && w->open_bytes + 2 + w->row.len + 1 <= w->max_stmt) {
        if (!buf_append_str(&w->out, ",\n", err) || !buf_append(&w->out, w->row.data, w->row.len, err))
            return false;
        w->open_bytes += 2 + w->row.len;
    } else {
        if (!import_sql_end(w, err) || !buf_append(&w->out, w->head, w->head_len, err) ||
            !buf_append(&w->out, w->row.data, w->row.len, err))
            return false;
        w->open = true;
        w->open_bytes = w->head_len + w->row.len;
        w->stmts++;
    }
    w->rows++;
    return true;
}
