/*
 * value/pgtype.c - how each Postgres type is stored in D1 (see pgtype.h and docs/types.md).
 *
 * Built-in types are recognised by OID (stable across servers); domains,
 * enums, composites and arrays of anything come from the catalog and are
 * resolved recursively (at most D1_MAX_NESTING deep) into one D1Type tree,
 * which value/render then walks for every value of the column.
 */
#include "value/pgtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/str.h"

/* Built-in type OIDs (pg_type.dat; they never change). */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_CHAR = 18, OID_NAME = 19, OID_INT8 = 20, OID_INT2 = 21,
    OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_JSON = 114, OID_XML = 142, OID_CIDR = 650,
    OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_MACADDR8 = 774, OID_MONEY = 790, OID_MACADDR = 829,
    OID_INET = 869, OID_BPCHAR = 1042, OID_VARCHAR = 1043, OID_DATE = 1082, OID_TIME = 1083,
    OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_INTERVAL = 1186, OID_TIMETZ = 1266,
    OID_NUMERIC = 1700, OID_UUID = 2950, OID_JSONB = 3802,
};

typedef struct Builtin {
    uint32_t oid;
    const char *name;
    D1Conv conv;
    D1Affinity affinity;
} Builtin;

static const Builtin builtins[] = {
    {OID_BOOL, "boolean", D1C_BOOL, D1_INTEGER},
    {OID_BYTEA, "bytea", D1C_BYTEA, D1_BLOB},
    {OID_CHAR, "\"char\"", D1C_TEXT, D1_TEXT},
    {OID_NAME, "name", D1C_TEXT, D1_TEXT},
    {OID_INT8, "bigint", D1C_INT, D1_INTEGER},
    {OID_INT2, "smallint", D1C_INT, D1_INTEGER},
    {OID_INT4, "integer", D1C_INT, D1_INTEGER},
    {OID_TEXT, "text", D1C_TEXT, D1_TEXT},
    {OID_OID, "oid", D1C_INT, D1_INTEGER},
    {OID_JSON, "json", D1C_JSON, D1_TEXT},
    {OID_XML, "xml", D1C_TEXT, D1_TEXT},
    {OID_CIDR, "cidr", D1C_TEXT, D1_TEXT},
    {OID_FLOAT4, "real", D1C_FLOAT, D1_REAL},
    {OID_FLOAT8, "double precision", D1C_FLOAT, D1_REAL},
    {OID_MACADDR8, "macaddr8", D1C_TEXT, D1_TEXT},
    {OID_MONEY, "money", D1C_TEXT, D1_TEXT},
    {OID_MACADDR, "macaddr", D1C_TEXT, D1_TEXT},
    {OID_INET, "inet", D1C_TEXT, D1_TEXT},
    {OID_BPCHAR, "character", D1C_TEXT, D1_TEXT},
    {OID_VARCHAR, "character varying", D1C_TEXT, D1_TEXT},
    {OID_DATE, "date", D1C_DATE, D1_TEXT},
    {OID_TIME, "time without time zone", D1C_TIME, D1_TEXT},
    {OID_TIMESTAMP, "timestamp without time zone", D1C_TIMESTAMP, D1_TEXT},
    {OID_TIMESTAMPTZ, "timestamp with time zone", D1C_TIMESTAMPTZ, D1_TEXT},
    {OID_INTERVAL, "interval", D1C_INTERVAL, D1_TEXT},
    {OID_TIMETZ, "time with time zone", D1C_TIMETZ, D1_TEXT},
    {OID_NUMERIC, "numeric", D1C_NUMERIC, D1_TEXT},
    {OID_UUID, "uuid", D1C_TEXT, D1_TEXT},
    {OID_JSONB, "jsonb", D1C_JSON, D1_TEXT},
};

/* Arrays of built-ins, so hand-built catalogs need no entry for them. */
static const struct { uint32_t oid, elem; } builtin_arrays[] = {
    {1000, OID_BOOL},      {1001, OID_BYTEA},    {1002, OID_CHAR},      {1003, OID_NAME},
    {1005, OID_INT2},      {1007, OID_INT4},     {1009, OID_TEXT},      {1014, OID_BPCHAR},
    {1015, OID_VARCHAR},   {1016, OID_INT8},     {1021, OID_FLOAT4},    {1022, OID_FLOAT8},
    {1028, OID_OID},       {1041, OID_INET},     {651, OID_CIDR},       {1040, OID_MACADDR},
    {775, OID_MACADDR8},   {791, OID_MONEY},     {1182, OID_DATE},      {1183, OID_TIME},
    {1115, OID_TIMESTAMP}, {1185, OID_TIMESTAMPTZ}, {1187, OID_INTERVAL}, {1270, OID_TIMETZ},
    {1231, OID_NUMERIC},   {2951, OID_UUID},     {199, OID_JSON},       {3807, OID_JSONB},
    {143, OID_XML},
};

const char *d1_affinity_name(D1Affinity a)
{
    switch (a) {
    case D1_INTEGER: return "INTEGER";
    case D1_REAL: return "REAL";
    case D1_TEXT: return "TEXT";
    case D1_BLOB: return "BLOB";
    }
    return "TEXT";
}

bool d1_affinity_parse(const char *name, D1Affinity *out)
{
    static const D1Affinity all[] = {D1_INTEGER, D1_REAL, D1_TEXT, D1_BLOB};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(name, d1_affinity_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

void d1_type_free(D1Type *t)
{
    if (!t)
        return;
    d1_type_free(t->elem);
    for (size_t i = 0; i < t->attr_count; i++) {
        free(t->attr_names[i]);
        d1_type_free(t->attrs[i]);
    }
    free(t->attr_names);
    free(t->attrs);
    free(t->pg_name);
    free(t);
}

static const Builtin *builtin(uint32_t oid)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (builtins[i].oid == oid)
            return &builtins[i];
    return NULL;
}

static D1Type *resolve(const CatalogInfo *cat, uint32_t oid, int depth, Err *err)
{
    if (depth > D1_MAX_NESTING)
        return err_set(err, ERR_CONFIG, "type %u nests domains, arrays or composites too deeply",
                       oid), NULL;
    const Builtin *b = builtin(oid);
    const CatType *ct = catalog_type(cat, oid);
    D1Type *t = xcalloc(1, sizeof *t);
    t->oid = oid;
    t->delim = ',';
    if (b) {
        t->conv = b->conv;
        t->affinity = b->affinity;
        t->big_int = oid == OID_INT8;
        t->pg_name = xstrdup(b->name);
        return t;
    }
    t->pg_name = ct ? xstrdup(ct->formatted) : xasprintf("type %u", oid);
    uint32_t elem = 0;
    for (size_t i = 0; i < sizeof builtin_arrays / sizeof builtin_arrays[0]; i++)
        if (builtin_arrays[i].oid == oid)
            elem = builtin_arrays[i].elem;
    if (ct && ct->elem_oid) {
        elem = ct->elem_oid;
        t->delim = ct->delim ? ct->delim : ',';
    }
    if (elem) {
        t->conv = D1C_ARRAY;
        t->affinity = D1_TEXT;
        t->elem = resolve(cat, elem, depth + 1, err);
        if (!t->elem) {
            d1_type_free(t);
            return NULL;
        }
        if (!ct) {
            free(t->pg_name);
            t->pg_name = xasprintf("%s[]", t->elem->pg_name);
        }
        return t;
    }
    if (ct && ct->typtype == 'd') {
        D1Type *base = resolve(cat, ct->base_oid, depth + 1, err);
        if (!base) {
            d1_type_free(t);
            return NULL;
        }
        free(base->pg_name);
        base->pg_name = t->pg_name; /* messages name the domain */
        t->pg_name = NULL;
        d1_type_free(t);
        return base;
    }
    if (ct && ct->typtype == 'e') {
        t->conv = D1C_TEXT;
        t->affinity = D1_TEXT;
        for (size_t i = 0; i < ct->label_count; i++)
            if (strlen(ct->labels[i]) > t->max_label)
                t->max_label = strlen(ct->labels[i]);
        return t;
    }
    if (ct && ct->typtype == 'c') {
        t->conv = D1C_COMPOSITE;
        t->affinity = D1_TEXT;
        t->attr_count = ct->attr_count;
        t->attr_names = xcalloc(ct->attr_count + 1, sizeof *t->attr_names);
        t->attrs = xcalloc(ct->attr_count + 1, sizeof *t->attrs);
        for (size_t i = 0; i < ct->attr_count; i++) {
            t->attr_names[i] = xstrdup(ct->attrs[i].name);
            t->attrs[i] = resolve(cat, ct->attrs[i].type_oid, depth + 1, err);
            if (!t->attrs[i]) {
                err_prefix(err, "attribute \"%s\" of %s", ct->attrs[i].name, t->pg_name);
                d1_type_free(t);
                return NULL;
            }
        }
        return t;
    }
    if (ct && ct->typtype == 'b' && strcmp(ct->name, "citext") == 0) {
        t->conv = D1C_TEXT;
        t->affinity = D1_TEXT;
        return t;
    }
    err_set(err, ERR_CONFIG, "type \"%s\" has no D1 equivalent", t->pg_name);
    d1_type_free(t);
    return NULL;
}

D1Type *d1_type_resolve(const CatalogInfo *cat, uint32_t oid, const char *override, Err *err)
{
    D1Affinity aff = D1_TEXT;
    if (override && !d1_affinity_parse(override, &aff))
        return err_set(err, ERR_CONFIG, "\"%s\" is not a D1 type (use INTEGER, REAL, TEXT or BLOB)",
                       override), NULL;
    Err sub;
    D1Type *t = resolve(cat, oid, 0, &sub);
    if (!t) {
        if (!override) {
            *err = sub;
            return NULL;
        }
        /* unsupported, but the mapping says how to store it: keep the text */
        const CatType *ct = catalog_type(cat, oid);
        t = xcalloc(1, sizeof *t);
        t->oid = oid;
        t->conv = D1C_RAW;
        t->delim = ',';
        t->pg_name = ct ? xstrdup(ct->formatted) : xasprintf("type %u", oid);
    }
    if (override) {
        t->affinity = aff;
        t->overridden = true;
    }
    return t;
}

size_t d1_type_max_bytes(const D1Type *t, int32_t typmod)
{
    switch (t->conv) {
    case D1C_INT:
    case D1C_BOOL:
    case D1C_FLOAT:
        return 8;
    case D1C_DATE:
        return 16;
    case D1C_TIME:
    case D1C_TIMETZ:
        return 32;
    case D1C_TIMESTAMP:
    case D1C_TIMESTAMPTZ:
        return 40;
    case D1C_INTERVAL:
        return 96;
    case D1C_NUMERIC:
        /* numeric(p,s): p digits, sign, point; unconstrained: unbounded */
        return typmod >= 4 ? (size_t)((((uint32_t)typmod - 4) >> 16) & 0xffff) + 3 : 0;
    case D1C_TEXT:
        switch (t->oid) {
        case OID_UUID: return 36;
        case OID_CHAR: return 4;
        case OID_NAME: return 64;
        case OID_MONEY: return 32;
        case OID_INET:
        case OID_CIDR: return 50;
        case OID_MACADDR: return 17;
        case OID_MACADDR8: return 23;
        case OID_BPCHAR:
        case OID_VARCHAR:
            return typmod > 4 ? (size_t)(typmod - 4) * 4 : 0;
        default:
            return t->max_label;
        }
    default:
        return 0;
    }
}
