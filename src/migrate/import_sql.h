/*
 * migrate/import_sql.h - the SQL text D1's /import API ingests for one table:
 *                        multi-row INSERTs of literal values.
 *
 * Owns:     rendering D1 values as SQL literals and packing rows into INSERT
 *           statements that each stay under a byte cap (D1 refuses a statement
 *           over 100,000 bytes, also inside an import). No transaction
 *           statements: D1 refuses BEGIN/COMMIT and runs a whole import
 *           atomically anyway.
 * Not mine: writing the file and the import flow (migrate, cf/client), the
 *           values (value/render), identifier quoting (d1/ddl).
 * Pure:     yes.
 *
 * Literals: INTEGER, REAL and TEXT values are written as quoted strings, so
 * the column's affinity converts them exactly as it converts the string
 * parameters the REST upsert path binds (the two paths store the same
 * values); BLOBs as X'..'; NULL as NULL.
 */
#ifndef WAL2EDGE_MIGRATE_IMPORT_SQL_H
#define WAL2EDGE_MIGRATE_IMPORT_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "d1/ddl.h"
#include "value/render.h"

/* Bytes per statement in an import file: D1's limit minus a margin. */
#define IMPORT_SQL_MAX_STMT_BYTES 90000

typedef struct ImportSql {
    Buf out;                   /* statements, each ending ";\n"; the last may be open */
    size_t max_stmt;           /* bytes per statement, ';' included */
    bool open;                 /* out ends with an unterminated INSERT */
    size_t open_bytes;         /* its length so far */
    size_t rows;               /* rows in out */
    size_t stmts;              /* statements in out (the open one included) */
    char *head;                /* INSERT INTO "t" ("a", "b") VALUES */
    size_t head_len;
    Buf row;                   /* scratch: one rendered row */
} ImportSql;

/* For table t (its name and columns, in order); max_stmt_bytes 0 → the default. */
bool import_sql_init(ImportSql *w, const D1Table *t, size_t max_stmt_bytes, Err *err) WARN_UNUSED;
void import_sql_free(ImportSql *w);

/* Append one row (vals in t's column order). ERR_TOO_LARGE, with nothing
 * appended, when the row alone does not fit one statement: the caller sends
 * that row another way (a bound-parameter upsert). */
bool import_sql_add_row(ImportSql *w, const D1Value *vals, size_t n, Err *err) WARN_UNUSED;

/* Terminate the open statement: out then holds complete statements only. */
bool import_sql_end(ImportSql *w, Err *err) WARN_UNUSED;

/* Empty out (after it was written somewhere); the counters restart. */
void import_sql_reset(ImportSql *w);

/* Append v as an SQL literal (see the header comment). */
bool import_sql_literal(Buf *b, const D1Value *v, Err *err) WARN_UNUSED;

#endif
