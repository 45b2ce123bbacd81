/*
 * schema/shape.c - see shape.h. A Shape owns copies of every string, so it
 * outlives the message or the relation cache entry it came from. The JSON form
 * is {"oid", "table", "exact", "columns": [{"attnum", "name", "type",
 * "type_oid", "typmod", "not_null", "default", "pk"}]}, written and read with
 * jansson; reading checks each field's type before copying it.
 */
#include "schema/shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/mem.h"

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

Shape *shape_from_ddl(const DdlMsg *m)
{
    Shape *s = xcalloc(1, sizeof *s);
    s->oid = m->oid;
    s->qualname = xstrdup(m->qualname);
    s->exact = true;
    s->ncols = m->ncols;
    s->cols = xcalloc(m->ncols ? m->ncols : 1, sizeof *s->cols);
    for (size_t i = 0; i < m->ncols; i++) {
        const DdlColumn *c = &m->cols[i];
        s->cols[i] = (ShapeCol){c->attnum, xstrdup(c->name), xstrdup(c->type), c->type_oid, c->typmod,
                                c->not_null, dup_or_null(c->default_expr), c->pk};
    }
    return s;
}

Shape *shape_from_rel(const Rel *rel)
{
    Shape *s = xcalloc(1, sizeof *s);
    s->oid = rel->oid;
    s->qualname = xstrdup(rel->qualname);
    s->ncols = rel->ncols;
    s->cols = xcalloc(rel->ncols ? rel->ncols : 1, sizeof *s->cols);
    for (size_t i = 0; i < rel->ncols; i++) {
        const RelCol *c = &rel->cols[i];
        s->cols[i] = (ShapeCol){0, xstrdup(c->name), NULL, c->type_oid, c->typmod, false, NULL, c->key};
    }
    return s;
}

Shape *shape_copy(const Shape *src)
{
    Shape *s = xcalloc(1, sizeof *s);
    *s = *src;
    s->qualname = xstrdup(src->qualname);
    s->cols = xcalloc(src->ncols ? src->ncols : 1, sizeof *s->cols);
    for (size_t i = 0; i < src->ncols; i++) {
        s->cols[i] = src->cols[i];
        s->cols[i].name = xstrdup(src->cols[i].name);
        s->cols[i].type = dup_or_null(src->cols[i].type);
        s->cols[i].default_expr = dup_or_null(src->cols[i].default_expr);
    }
    return s;
}

void shape_free(Shape *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        free(s->cols[i].name);
        free(s->cols[i].type);
        free(s->cols[i].default_expr);
    }
    free(s->cols);
    free(s->qualname);
    free(s);
}

const ShapeCol *shape_column(const Shape *s, const char *name)
{
    for (size_t i = 0; i < s->ncols; i++)
        if (strcmp(s->cols[i].name, name) == 0)
            return &s->cols[i];
    return NULL;
}

bool shape_ddl_message(const Change *c, const char *target, DdlMsg *out, bool *is_ddl, Err *err)
{
    *is_ddl = c->op == CHANGE_MESSAGE && c->message_transactional &&
              ddlmsg_prefix_is(c->message_prefix.p, c->message_prefix.len);
    if (!*is_ddl || ddlmsg_parse(c->message_content, c->message_len, out, err))
        return true;
    char lsn[LSN_STR_MAX];
    err_prefix(err, "%s: the DDL capture message at %s", target, lsn_format(c->message_lsn, lsn));
    return false;
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

char *shape_to_json(const Shape *s)
{
    json_t *cols = json_array();
    for (size_t i = 0; i < s->ncols; i++) {
        const ShapeCol *c = &s->cols[i];
        json_array_append_new(cols, json_pack("{s:i, s:s, s:o, s:I, s:i, s:b, s:o, s:b}", "attnum", c->attnum,
                                              "name", c->name, "type", str_or_null(c->type), "type_oid",
                                              (json_int_t)c->type_oid, "typmod", (int)c->typmod, "not_null",
                                              c->not_null, "default", str_or_null(c->default_expr), "pk", c->pk));
    }
    json_t *doc = json_pack("{s:I, s:s, s:b, s:o}", "oid", (json_int_t)s->oid, "table", s->qualname, "exact",
                            s->exact, "columns", cols);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* A string member (NULL when null and allowed); false when it has another type. */
static bool member_str(json_t *obj, const char *key, bool nullable, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    return json_is_string(v) || (nullable && json_is_null(v));
}

static bool member_int(json_t *obj, const char *key, long long lo, long long hi, long long *out)
{
    json_t *v = json_object_get(obj, key);
    *out = json_is_integer(v) ? json_integer_value(v) : 0;
    return json_is_integer(v) && *out >= lo && *out <= hi;
}

static bool read_column(json_t *c, ShapeCol *out)
{
    long long attnum, oid, typmod;
    const char *name, *type, *def;
    if (!json_is_object(c) || !member_int(c, "attnum", 0, INT16_MAX, &attnum) ||
        !member_int(c, "type_oid", 0, UINT32_MAX, &oid) || !member_int(c, "typmod", INT32_MIN, INT32_MAX, &typmod) ||
        !member_str(c, "name", false, &name) || !name[0] || !member_str(c, "type", true, &type) ||
        !member_str(c, "default", true, &def) || !json_is_boolean(json_object_get(c, "not_null")) ||
        !json_is_boolean(json_object_get(c, "pk")))
        return false;
    *out = (ShapeCol){(int)attnum, xstrdup(name), dup_or_null(type), (uint32_t)oid, (int32_t)typmod,
                      json_is_true(json_object_get(c, "not_null")), dup_or_null(def),
                      json_is_true(json_object_get(c, "pk"))};
    return true;
}

Shape *shape_from_json(const char *text, Err *err)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    long long oid;
    const char *table;
    json_t *cols = doc ? json_object_get(doc, "columns") : NULL;
    if (!json_is_object(doc) || !member_int(doc, "oid", 0, UINT32_MAX, &oid) ||
        !member_str(doc, "table", false, &table) || !json_is_boolean(json_object_get(doc, "exact")) ||
        !json_is_array(cols)) {
        json_decref(doc);
        return err_set(err, ERR_STORE, "stored table shape: not a shape object (oid, table, exact, columns)"), NULL;
    }
    Shape *s = xcalloc(1, sizeof *s);
    s->oid = (uint32_t)oid;
    s->qualname = xstrdup(table);
    s->exact = json_is_true(json_object_get(doc, "exact"));
    size_t n = json_array_size(cols);
    s->cols = xcalloc(n ? n : 1, sizeof *s->cols);
    for (size_t i = 0; i < n; i++) {
        if (!read_column(json_array_get(cols, i), &s->cols[i])) {
            err_set(err, ERR_STORE, "stored table shape of %s: column %zu is malformed", s->qualname, i + 1);
            shape_free(s);
            json_decref(doc);
            return NULL;
        }
        s->ncols = i + 1;
    }
    json_decref(doc);
    return s;
}
