/*
 * migrate/d1_rest.c - see d1_rest.h.
 *
 * Preparing is two batches: the first creates the progress table and reads any
 * row an earlier run left (reported as an unfinished migrate); the second, atomic
 * because a D1 batch is one transaction, writes this run's progress row, deletes
 * the slot's checkpoint and empties every mapped table of the database. Rows for
 * import are packed by import_sql into a buffer; at MREST_IMPORT_FILE_BYTES it is
 * written to a file, ended with an UPDATE of the progress row's count, and sent
 * through cf_d1_import, which polls until D1 has applied it whole. A row too large
 * for any statement is handed back (too_large) for the caller's per-row upsert.
 * The read-back pages through the table in key order with keyset pagination
 * (WHERE key > the last page's final key), reading typeof() and an exact text
 * form of each value so each row hashes as the values sent did; the page
 * size adapts to the average row so each answer stays near a byte budget.
 */
#include "migrate/d1_rest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/fs.h"
#include "core/mem.h"
#include "core/timefmt.h"
#include "migrate/checksum.h"
#include "migrate/import_sql.h"

/* first poll of an import after 250 ms, then backing off (cf/client) */
#define MREST_IMPORT_POLL_MS 250
#define MREST_IMPORT_MAX_WAIT_MS (30u * 60 * 1000)

static const LogCtx LOGC = {.component = "migrate"};

#define PROGRESS_DDL                                                                                  \
    "CREATE TABLE IF NOT EXISTS \"" MREST_PROGRESS_TABLE "\" (\"slot\" TEXT PRIMARY KEY, \"run\" TEXT NOT NULL, " \
    "\"lsn\" TEXT NOT NULL, \"started_at\" TEXT NOT NULL, \"imported_rows\" INTEGER NOT NULL DEFAULT 0)"

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "?");
}

bool mrest_prepare(CfClient *c, const char *database_id, const D1Schema *s, const char *database,
                   const char *slot, const char *run, Lsn lsn, MrestEarlier *earlier, Err *err)
{
    memset(earlier, 0, sizeof *earlier);
    const char *slot_param[] = {slot};
    CfD1Stmt first[] = {
        {.sql = PROGRESS_DDL},
        {.sql = "SELECT \"lsn\", \"started_at\", \"imported_rows\" FROM \"" MREST_PROGRESS_TABLE "\" WHERE \"slot\" = ?1",
         .params = slot_param, .param_count = 1},
    };
    CfD1Result res = {0};
    bool ok = cf_d1_batch(c, database_id, first, 2, &res, err);
    if (ok && res.count == 2 && json_array_size(res.stmts[1].rows) > 0) {
        const json_t *row = json_array_get(res.stmts[1].rows, 0);
        earlier->unfinished = true;
        copy_field(earlier->lsn, sizeof earlier->lsn, json_string_value(json_object_get(row, "lsn")));
        copy_field(earlier->started_at, sizeof earlier->started_at,
                   json_string_value(json_object_get(row, "started_at")));
        json_int_t n = json_integer_value(json_object_get(row, "imported_rows"));
        earlier->imported_rows = n > 0 ? (uint64_t)n : 0;
    }
    cf_d1_result_free(&res);
    if (!ok)
        return false;

    char l[LSN_STR_MAX], at[TIMEFMT_ISO_MAX];
    timefmt_iso(clock_wall_us(), 0, at);
    const char *row_params[] = {slot, run, lsn_format(lsn, l), at};
    size_t cap = s->table_count + 2, n = 0;
    CfD1Stmt *stmts = xcalloc(cap, sizeof *stmts);
    char **owned = xcalloc(cap, sizeof *owned);
    stmts[n++] = (CfD1Stmt){
        .sql = "INSERT INTO \"" MREST_PROGRESS_TABLE "\" (\"slot\", \"run\", \"lsn\", \"started_at\", \"imported_rows\") "
               "VALUES (?1, ?2, ?3, ?4, 0) ON CONFLICT (\"slot\") DO UPDATE SET \"run\" = excluded.\"run\", "
               "\"lsn\" = excluded.\"lsn\", \"started_at\" = excluded.\"started_at\", \"imported_rows\" = 0",
        .params = row_params, .param_count = 4};
    stmts[n++] = (CfD1Stmt){.sql = "DELETE FROM \"" D1_STATE_TABLE "\" WHERE \"slot\" = ?1", .params = slot_param,
                            .param_count = 1};
    for (size_t i = 0; ok && i < s->table_count; i++) {
        if (strcmp(s->tables[i].database, database) != 0)
            continue;
        Buf b;
        buf_init(&b, 4096);
        ok = buf_append_str(&b, "DELETE FROM ", err) && d1_quote_ident(&b, s->tables[i].name, err);
        owned[n] = buf_take(&b);
        buf_free(&b);
        stmts[n].sql = owned[n];
        n++;
    }
    if (ok) {
        ok = cf_d1_batch(c, database_id, stmts, n, &res, err);
        cf_d1_result_free(&res);
    }
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    free(owned);
    free(stmts);
    return ok;
}

bool mrest_finish(CfClient *c, const char *database_id, const char *slot, const char *run, Err *err)
{
    const char *params[] = {slot, run};
    CfD1Stmt st = {.sql = "DELETE FROM \"" MREST_PROGRESS_TABLE "\" WHERE \"slot\" = ?1 AND \"run\" = ?2",
                   .params = params, .param_count = 2};
    CfD1Result res = {0};
    bool ok = cf_d1_batch(c, database_id, &st, 1, &res, err);
    cf_d1_result_free(&res);
    return ok;
}

/* ------------------------------------------------------------ import */

struct MrestImport {
    CfClient *client;          /* borrowed */
    char *database_id;
    const D1Table *t;          /* borrowed */
    char *path;
    char *where;               /* WHERE clause naming this run's progress row */
    ImportSql w;
    uint64_t files;
    uint64_t rows_sent;
};

MrestImport *mrest_import_new(CfClient *c, const char *database_id, const D1Table *t, const char *path,
                              const char *slot, const char *run, Err *err)
{
    MrestImport *im = xcalloc(1, sizeof *im);
    if (!import_sql_init(&im->w, t, 0, err)) {
        free(im);
        return NULL;
    }
    im->client = c;
    im->database_id = xstrdup(database_id);
    im->t = t;
    im->path = xstrdup(path);
    Buf b;
    buf_init(&b, 4096);
    D1Value sv = {.kind = D1V_TEXT, .data = (char *)slot, .len = strlen(slot)};
    D1Value rv = {.kind = D1V_TEXT, .data = (char *)run, .len = strlen(run)};
    bool ok = buf_append_str(&b, " WHERE \"slot\" = ", err) && import_sql_literal(&b, &sv, err) &&
              buf_append_str(&b, " AND \"run\" = ", err) && import_sql_literal(&b, &rv, err) &&
              buf_append_str(&b, ";\n", err);
    im->where = buf_take(&b);
    buf_free(&b);
    if (!ok) {
        mrest_import_free(im);
        return NULL;
    }
    return im;
}

uint64_t mrest_import_files(const MrestImport *im)
{
    return im->files;
}

void mrest_import_free(MrestImport *im)
{
    if (!im)
        return;
    if (im->path)
        unlink(im->path);
    import_sql_free(&im->w);
    free(im->database_id);
    free(im->path);
    free(im->where);
    free(im);
}

static bool write_file(const char *path, const char *data, size_t len, Err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, ERR_IO, "creating the import file %s", path);
    if (!fs_write_all(fd, data, len)) {
        err_sys(err, ERR_IO, "writing the import file %s", path);
        close(fd);
        return false;
    }
    if (close(fd) != 0)
        return err_sys(err, ERR_IO, "writing the import file %s", path);
    return true;
}

/* The staged rows as one import: its statements, then the progress row's update. */
static bool import_send(MrestImport *im, Err *err)
{
    if (im->w.rows == 0)
        return true;
    size_t rows = im->w.rows;
    bool ok = import_sql_end(&im->w, err) &&
              buf_printf(&im->w.out, err, "UPDATE \"" MREST_PROGRESS_TABLE "\" SET \"imported_rows\" = "
                                          "\"imported_rows\" + %zu%s", rows, im->where) &&
              write_file(im->path, im->w.out.data, im->w.out.len, err);
    size_t bytes = im->w.out.len, stmts = im->w.stmts + 1;
    CfD1ImportResult res = {0};
    if (ok)
        ok = cf_d1_import(im->client, im->database_id, im->path, MREST_IMPORT_POLL_MS, MREST_IMPORT_MAX_WAIT_MS, &res,
                          err);
    if (ok) {
        im->files++;
        log_debug(&LOGC, "d1 %s: imported %zu rows (%zu statements, %zu bytes; d1 ran %" PRIu64 " queries)",
                  im->t->name, rows, stmts, bytes, res.num_queries);
    } else {
        err_prefix(err, "importing rows %" PRIu64 "..%" PRIu64 " of %s (import file %" PRIu64 ", %zu bytes; d1 "
                        "applies a file whole or not at all)",
                   im->rows_sent + 1, im->rows_sent + rows, im->t->name, im->files + 1, bytes);
    }
    cf_d1_import_result_free(&res);
    im->rows_sent += rows;
    import_sql_reset(&im->w);
    return ok;
}

bool mrest_import_row(MrestImport *im, const D1Value *vals, bool *too_large, Err *err)
{
    *too_large = false;
    Err sub;
    if (!import_sql_add_row(&im->w, vals, im->t->col_count, &sub)) {
        if (sub.code != ERR_TOO_LARGE) {
            *err = sub;
            return false;
        }
        *too_large = true;
        return true;
    }
    return im->w.out.len < MREST_IMPORT_FILE_BYTES || import_send(im, err);
}

bool mrest_import_finish(MrestImport *im, Err *err)
{
    return import_send(im, err);
}

/* ------------------------------------------------------------ read-back */

static bool verify_sql(const D1Table *t, const char *after, size_t page, Buf *b, Err *err)
{
    bool ok = buf_append_str(b, "SELECT ", err);
    for (size_t k = 0; ok && k < t->col_count; k++) {
        Buf c;
        buf_init(&c, 1024);
        ok = d1_quote_ident(&c, t->cols[k].d1_name, err) &&
             buf_printf(b, err,
                        "%stypeof(%s) AS \"t%zu\", CASE typeof(%s) WHEN 'integer' THEN CAST(%s AS TEXT) "
                        "WHEN 'blob' THEN '\\x' || hex(%s) ELSE %s END AS \"v%zu\"",
                        k ? ", " : "", c.data, k, c.data, c.data, c.data, c.data, k);
        buf_free(&c);
    }
    ok = ok && buf_append_str(b, " FROM ", err) && d1_quote_ident(b, t->name, err);
    if (ok && after) {
        ok = buf_append_str(b, " WHERE (", err);
        for (size_t k = 0; ok && k < t->key_count; k++)
            ok = (k == 0 || buf_append_str(b, ", ", err)) && d1_quote_ident(b, t->cols[t->key[k]].d1_name, err);
        ok = ok && buf_printf(b, err, ") > %s", after);
    }
    ok = ok && buf_append_str(b, " ORDER BY ", err);
    for (size_t k = 0; ok && k < t->key_count; k++)
        ok = (k == 0 || buf_append_str(b, ", ", err)) && d1_quote_ident(b, t->cols[t->key[k]].d1_name, err);
    return ok && buf_printf(b, err, " LIMIT %zu", page);
}

/* Values read back come as text for these two (exact): converted the way Postgres text is. */
static const D1Type READ_INTEGER = {.conv = D1C_INT, .affinity = D1_INTEGER, .pg_name = (char *)"integer"};
static const D1Type READ_BLOB = {.conv = D1C_BYTEA, .affinity = D1_BLOB, .pg_name = (char *)"blob"};

/* One value read back (typeof, value) into *v; *owned when v must be cleared. */
static bool value_of(const json_t *type, const json_t *val, D1Value *v, bool *owned)
{
    const char *ty = json_string_value(type);
    *owned = false;
    if (!ty)
        return false;
    if (strcmp(ty, "null") == 0) {
        *v = (D1Value){.kind = D1V_NULL};
        return json_is_null(val);
    }
    if (strcmp(ty, "real") == 0) {
        *v = (D1Value){.kind = D1V_REAL, .r = json_number_value(val)};
        return json_is_number(val);
    }
    const char *s = json_string_value(val);
    size_t len = json_string_length(val);
    if (!s)
        return false;
    if (strcmp(ty, "text") == 0) {
        *v = (D1Value){.kind = D1V_TEXT, .data = (char *)s, .len = len};
        return true;
    }
    const D1Type *as = strcmp(ty, "integer") == 0 ? &READ_INTEGER : strcmp(ty, "blob") == 0 ? &READ_BLOB : NULL;
    Err sub;
    *owned = as && d1_value_from_text(as, s, len, v, &sub);
    return *owned;
}

/* "(lit, lit)" of the key values of a row, for the next page's WHERE. */
static bool key_literals(const D1Table *t, const D1Value *dv, Buf *out, Err *err)
{
    buf_reset(out);
    bool ok = buf_append_str(out, "(", err);
    for (size_t k = 0; ok && k < t->key_count; k++) {
        const D1Value *v = &dv[t->key[k]];
        ok = k == 0 || buf_append_str(out, ", ", err);
        if (!ok)
            break;
        if (v->kind == D1V_INTEGER)
            ok = buf_printf(out, err, "%lld", (long long)v->i);
        else if (v->kind == D1V_REAL)
            ok = buf_printf(out, err, "%.17g", v->r);
        else
            ok = import_sql_literal(out, v, err);
    }
    return ok && buf_append_str(out, ")", err);
}

bool mrest_verify(CfClient *c, const char *database_id, const D1Table *t, size_t page_rows, uint64_t *rows,
                  uint64_t *sum, Err *err)
{
    *rows = 0;
    *sum = 0;
    size_t page = page_rows ? page_rows : MREST_VERIFY_FIRST_PAGE;
    uint64_t bytes = 0; /* of the values read so far, for the page size */
    if (t->key_count == 0)
        return err_set(err, ERR_CONFIG, "d1 table %s has no key to read it back by", t->name);
    size_t n = t->col_count;
    D1Value *dv = xcalloc(n + 1, sizeof *dv);
    bool *owned = xcalloc(n + 1, sizeof *owned);
    Buf sql, after;
    buf_init(&sql, 1 << 20);
    buf_init(&after, D1_MAX_SQL_BYTES / 2);
    bool ok = true, more = true, have_after = false;
    while (ok && more) {
        buf_reset(&sql);
        ok = verify_sql(t, have_after ? after.data : NULL, page, &sql, err);
        CfD1Stmt st = {.sql = sql.data};
        CfD1Result res = {0};
        ok = ok && cf_d1_batch_raw(c, database_id, &st, 1, &res, err);
        const json_t *got_rows = ok && res.count == 1 ? res.stmts[0].rows : NULL;
        if (ok && !json_is_array(got_rows))
            ok = err_set(err, ERR_PROTOCOL, "d1 table %s: the read-back answer has no rows", t->name);
        size_t got = ok ? json_array_size(got_rows) : 0;
        for (size_t r = 0; ok && r < got; r++) {
            const json_t *row = json_array_get(got_rows, r);
            if (!json_is_array(row) || json_array_size(row) != 2 * n) {
                ok = err_set(err, ERR_PROTOCOL, "d1 table %s: a row read back has the wrong shape", t->name);
                break;
            }
            for (size_t k = 0; ok && k < n; k++)
                if (!value_of(json_array_get(row, 2 * k), json_array_get(row, 2 * k + 1), &dv[k], &owned[k]))
                    ok = err_set(err, ERR_PROTOCOL, "d1 table %s: column %s of row %" PRIu64 " read back is malformed",
                                 t->name, t->cols[k].d1_name, *rows + 1);
            if (ok) {
                for (size_t k = 0; k < n; k++)
                    bytes += dv[k].len + 8;
                *sum += migrate_row_hash(dv, n);
                (*rows)++;
                if (r + 1 == got)
                    ok = key_literals(t, dv, &after, err);
            }
            for (size_t k = 0; k < n; k++) {
                if (owned[k])
                    d1_value_clear(&dv[k]);
                owned[k] = false;
            }
        }
        have_after = true;
        more = got == page;
        if (!page_rows && *rows > 0) {
            uint64_t fit = MREST_VERIFY_PAGE_BYTES / (bytes / *rows + 1);
            page = fit < 100 ? 100 : fit > 10000 ? 10000 : (size_t)fit;
        }
        cf_d1_result_free(&res);
    }
    if (!ok)
        err_prefix(err, "reading d1 table %s back", t->name);
    buf_free(&sql);
    buf_free(&after);
    free(owned);
    free(dv);
    return ok;
}
