/*
 * d1/table.c - see table.h: quoting identifiers and freeing one resolved
 * table. The resolving itself (mappings + catalog -> D1Table) is d1/ddl's.
 */
#include "d1/table.h"

#include <stdlib.h>
#include <string.h>

bool d1_quote_ident(Buf *b, const char *name, Err *err)
{
    /* the usual name has no quote to double: three appends, not one per character */
    if (!strchr(name, '"'))
        return buf_append(b, "\"", 1, err) && buf_append_str(b, name, err) && buf_append(b, "\"", 1, err);
    if (!buf_append(b, "\"", 1, err))
        return false;
    for (const char *p = name; *p; p++)
        if (!buf_append(b, p, 1, err) || (*p == '"' && !buf_append(b, "\"", 1, err)))
            return false;
    return buf_append(b, "\"", 1, err);
}

void d1_table_clear(D1Table *t)
{
    free(t->database);
    free(t->shard_cols);
    free(t->name);
    free(t->source);
    for (size_t i = 0; i < t->col_count; i++) {
        free(t->cols[i].pg_name);
        free(t->cols[i].d1_name);
        free(t->cols[i].pg_type);
        d1_type_free(t->cols[i].type);
    }
    free(t->cols);
    free(t->key);
    free(t->key_origin);
    for (size_t i = 0; i < t->index_count; i++) {
        free(t->indexes[i].name);
        free(t->indexes[i].cols);
    }
    free(t->indexes);
    free(t->unbounded);
    memset(t, 0, sizeof *t);
}
