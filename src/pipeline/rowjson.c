/*
 * pipeline/rowjson.c - see rowjson.h.
 *
 * A RowShape is built once per table from the catalog: one entry per column with
 * its exclusion flag and its resolved type (a type D1 has no column type for falls
 * back to TEXT, so every value still renders). Each row is then written straight
 * into the caller's buffer as one JSON object, the column found by its position
 * first and by name only if the relation's columns moved. Values render through
 * the D1 value rules; unchanged TOAST columns are skipped or written as
 * {"unchanged_toast":true}, and non-text (binary) columns as a "\\x..." string.
 */
#include "pipeline/rowjson.h"

#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/json_text.h"
#include "core/mem.h"

typedef struct ShapeCol {
    char *name;
    D1Type *type;              /* NULL: render the text as a string */
    bool excluded;
} ShapeCol;

struct RowShape {
    ShapeCol *cols;
    size_t count;
};

RowShape *rowshape_new(const CatalogInfo *cat, const CatTable *table, const char *const *exclude,
                       size_t exclude_count, Err *err)
{
    RowShape *shape = xcalloc(1, sizeof *shape);
    shape->cols = xcalloc(table->col_count ? table->col_count : 1, sizeof *shape->cols);
    shape->count = table->col_count;
    for (size_t i = 0; i < table->col_count; i++) {
        const CatColumn *c = &table->cols[i];
        ShapeCol *sc = &shape->cols[i];
        sc->name = xstrdup(c->name);
        for (size_t k = 0; k < exclude_count; k++)
            if (strcmp(exclude[k], c->name) == 0)
                sc->excluded = true;
        Err ignored;
        /* a type D1 has no column type for still renders, as its text */
        sc->type = d1_type_resolve(cat, c->type_oid, NULL, &ignored);
        if (!sc->type)
            sc->type = d1_type_resolve(cat, c->type_oid, "TEXT", &ignored);
    }
    (void)err;
    return shape;
}

void rowshape_free(RowShape *shape)
{
    if (!shape)
        return;
    for (size_t i = 0; i < shape->count; i++) {
        free(shape->cols[i].name);
        d1_type_free(shape->cols[i].type);
    }
    free(shape->cols);
    free(shape);
}

static const ShapeCol *find_col(const RowShape *shape, const char *name, size_t hint)
{
    if (hint < shape->count && strcmp(shape->cols[hint].name, name) == 0)
        return &shape->cols[hint];
    for (size_t i = 0; i < shape->count; i++)
        if (strcmp(shape->cols[i].name, name) == 0)
            return &shape->cols[i];
    return NULL;
}

static bool append_hex_string(Buf *out, const uint8_t *p, size_t n, Err *err)
{
    return buf_append_str(out, "\"\\\\x", err) && hex_append(out, p, n, err) && buf_append_str(out, "\"", err);
}

bool rowjson_append(const RowShape *shape, const Rel *rel, const PgoTuple *tup, RowJsonUnchanged unchanged,
                    Buf *out, bool *had_unchanged, Err *err)
{
    if (had_unchanged)
        *had_unchanged = false;
    if (!buf_append_str(out, "{", err))
        return false;
    bool first = true;
    for (uint16_t i = 0; i < tup->ncols && i < rel->ncols; i++) {
        const char *name = rel->cols[i].name;
        const ShapeCol *sc = find_col(shape, name, i);
        const PgoCol *col = &tup->cols[i];
        if (sc && sc->excluded)
            continue;
        if (col->kind == PGO_COL_UNCHANGED) {
            if (had_unchanged)
                *had_unchanged = true;
            if (unchanged == ROWJSON_SKIP_UNCHANGED)
                continue;
        }
        if ((!first && !buf_append(out, ",", 1, err)) || !json_text_append_str(out, name, strlen(name), err) ||
            !buf_append(out, ":", 1, err))
            return false;
        first = false;
        bool ok;
        switch (col->kind) {
        case PGO_COL_NULL:
            ok = buf_append_str(out, "null", err);
            break;
        case PGO_COL_UNCHANGED:
            ok = buf_append_str(out, "{\"unchanged_toast\":true}", err);
            break;
        case PGO_COL_TEXT:
            if (sc && sc->type) {
                ok = d1_value_append_json(sc->type, (const char *)col->data, col->len, out, err);
                if (!ok)
                    err_prefix(err, "column \"%s\" of %s", name, rel->qualname);
            } else {
                ok = json_text_append_str(out, (const char *)col->data, col->len, err);
            }
            break;
        default:
            ok = append_hex_string(out, col->data, col->len, err);
        }
        if (!ok)
            return false;
    }
    return buf_append_str(out, "}", err);
}
