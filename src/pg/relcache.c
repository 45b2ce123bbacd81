/*
 * pg/relcache.c - see relcache.h.
 *
 * Two open-addressing hash maps (OID -> owned pointer) with linear probing.
 * Entries are only replaced, never deleted one by one, so no tombstones.
 */
#include "pg/relcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct OidMap {
    uint32_t *keys;
    void **vals;           /* NULL = empty slot */
    size_t cap;            /* power of two, or 0 */
    size_t count;
} OidMap;

struct RelCache {
    OidMap rels;           /* -> Rel */
    OidMap types;          /* -> char * */
};

static size_t oid_hash(uint32_t oid)
{
    /* Fibonacci hashing spreads the dense, sequential OIDs Postgres assigns. */
    return (size_t)((oid * 2654435769u) >> 7);
}

static void **map_slot(const OidMap *m, uint32_t oid)
{
    size_t mask = m->cap - 1;
    for (size_t i = oid_hash(oid) & mask;; i = (i + 1) & mask) {
        if (!m->vals[i] || m->keys[i] == oid)
            return &m->vals[i];
    }
}

static void *map_get(const OidMap *m, uint32_t oid)
{
    if (!m->cap)
        return NULL;
    return *map_slot(m, oid);
}

static void map_grow(OidMap *m)
{
    OidMap n;
    n.cap = m->cap ? m->cap * 2 : 16;
    n.count = 0;
    n.keys = xcalloc(n.cap, sizeof *n.keys);
    n.vals = xcalloc(n.cap, sizeof *n.vals);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i]) {
            void **slot = map_slot(&n, m->keys[i]);
            n.keys[slot - n.vals] = m->keys[i];
            *slot = m->vals[i];
            n.count++;
        }
    }
    free(m->keys);
    free(m->vals);
    *m = n;
}

/* Store val under oid; returns the value it replaced (caller frees) or NULL. */
static void *map_put(OidMap *m, uint32_t oid, void *val)
{
    if ((m->count + 1) * 4 > m->cap * 3)
        map_grow(m);
    void **slot = map_slot(m, oid);
    void *old = *slot;
    m->keys[slot - m->vals] = oid;
    *slot = val;
    if (!old)
        m->count++;
    return old;
}

static void rel_free(Rel *r)
{
    if (!r)
        return;
    for (uint16_t i = 0; i < r->ncols; i++)
        free(r->cols[i].name);
    free(r->cols);
    free(r->nspname);
    free(r->relname);
    free(r->qualname);
    free(r);
}

static void map_clear(OidMap *m, bool rels)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i]) {
            if (rels)
                rel_free(m->vals[i]);
            else
                free(m->vals[i]);
            m->vals[i] = NULL;
        }
    }
    m->count = 0;
}

RelCache *relcache_new(void)
{
    return xcalloc(1, sizeof(RelCache));
}

void relcache_free(RelCache *rc)
{
    if (!rc)
        return;
    relcache_clear(rc);
    free(rc->rels.keys);
    free(rc->rels.vals);
    free(rc->types.keys);
    free(rc->types.vals);
    free(rc);
}

void relcache_clear(RelCache *rc)
{
    map_clear(&rc->rels, true);
    map_clear(&rc->types, false);
}

size_t relcache_count(const RelCache *rc)
{
    return rc->rels.count;
}

const Rel *relcache_put(RelCache *rc, const PgoEvent *ev)
{
    Rel *r = xcalloc(1, sizeof *r);
    r->oid = ev->u.relation.oid;
    r->nspname = xstrndup(ev->u.relation.nspname.p, ev->u.relation.nspname.len);
    r->relname = xstrndup(ev->u.relation.relname.p, ev->u.relation.relname.len);
    r->qualname = xasprintf("%s.%s", r->nspname, r->relname);
    r->replident = ev->u.relation.replident;
    r->ncols = ev->u.relation.ncols;
    r->cols = r->ncols ? xcalloc(r->ncols, sizeof *r->cols) : NULL;
    for (uint16_t i = 0; i < r->ncols; i++) {
        const PgoRelCol *src = &ev->u.relation.cols[i];
        r->cols[i].name = xstrndup(src->name.p, src->name.len);
        r->cols[i].type_oid = src->type_oid;
        r->cols[i].typmod = src->typmod;
        r->cols[i].key = (src->flags & PGO_RELCOL_KEY) != 0;
    }
    rel_free(map_put(&rc->rels, r->oid, r));
    return r;
}

const Rel *relcache_get(const RelCache *rc, uint32_t oid)
{
    return map_get(&rc->rels, oid);
}

void relcache_put_type(RelCache *rc, const PgoEvent *ev)
{
    const PgoStr *nsp = &ev->u.type.nspname, *name = &ev->u.type.typname;
    char *full;
    /* An empty namespace means pg_catalog (e.g. a domain reported by its base type). */
    if (nsp->len == 0 || (nsp->len == 10 && memcmp(nsp->p, "pg_catalog", 10) == 0))
        full = xstrndup(name->p, name->len);
    else
        full = xasprintf("%.*s.%.*s", (int)nsp->len, nsp->p, (int)name->len, name->p);
    free(map_put(&rc->types, ev->u.type.oid, full));
}

typedef struct BuiltinType {
    uint32_t oid;
    const char *name;
} BuiltinType;

/* pg_type.typname of the stable catalog OIDs (FirstGenbkiObjectId = 10000 and below), sorted by OID. */
static const BuiltinType builtin_types[] = {
    {16, "bool"}, {17, "bytea"}, {18, "char"}, {19, "name"}, {20, "int8"}, {21, "int2"},
    {22, "int2vector"}, {23, "int4"}, {24, "regproc"}, {25, "text"}, {26, "oid"}, {27, "tid"},
    {28, "xid"}, {29, "cid"}, {30, "oidvector"}, {114, "json"}, {142, "xml"}, {143, "_xml"},
    {194, "pg_node_tree"}, {199, "_json"}, {600, "point"}, {601, "lseg"}, {602, "path"},
    {603, "box"}, {604, "polygon"}, {628, "line"}, {650, "cidr"}, {651, "_cidr"},
    {700, "float4"}, {701, "float8"}, {718, "circle"}, {774, "macaddr8"}, {790, "money"},
    {791, "_money"}, {829, "macaddr"}, {869, "inet"}, {1000, "_bool"}, {1001, "_bytea"},
    {1002, "_char"}, {1003, "_name"}, {1005, "_int2"}, {1007, "_int4"}, {1009, "_text"},
    {1014, "_bpchar"}, {1015, "_varchar"}, {1016, "_int8"}, {1021, "_float4"},
    {1022, "_float8"}, {1028, "_oid"}, {1033, "aclitem"}, {1040, "_macaddr"}, {1041, "_inet"},
    {1042, "bpchar"}, {1043, "varchar"}, {1082, "date"}, {1083, "time"}, {1114, "timestamp"},
    {1115, "_timestamp"}, {1182, "_date"}, {1183, "_time"}, {1184, "timestamptz"},
    {1185, "_timestamptz"}, {1186, "interval"}, {1187, "_interval"}, {1231, "_numeric"},
    {1266, "timetz"}, {1270, "_timetz"}, {1560, "bit"}, {1561, "_bit"}, {1562, "varbit"},
    {1563, "_varbit"}, {1700, "numeric"}, {1790, "refcursor"}, {2202, "regprocedure"},
    {2203, "regoper"}, {2204, "regoperator"}, {2205, "regclass"}, {2206, "regtype"},
    {2950, "uuid"}, {2951, "_uuid"}, {2970, "txid_snapshot"}, {3220, "pg_lsn"},
    {3614, "tsvector"}, {3615, "tsquery"}, {3734, "regconfig"}, {3769, "regdictionary"},
    {3802, "jsonb"}, {3807, "_jsonb"}, {3904, "int4range"}, {3905, "_int4range"},
    {3906, "numrange"}, {3907, "_numrange"}, {3908, "tsrange"}, {3909, "_tsrange"},
    {3910, "tstzrange"}, {3911, "_tstzrange"}, {3912, "daterange"}, {3913, "_daterange"},
    {3926, "int8range"}, {3927, "_int8range"}, {4072, "jsonpath"}, {4089, "regnamespace"},
    {4096, "regrole"}, {4191, "regcollation"}, {4451, "int4multirange"},
    {4532, "nummultirange"}, {4533, "tsmultirange"}, {4534, "tstzmultirange"},
    {4535, "datemultirange"}, {4536, "int8multirange"}, {5038, "pg_snapshot"}, {5069, "xid8"},
};

const char *relcache_builtin_type_name(uint32_t oid)
{
    size_t lo = 0, hi = sizeof builtin_types / sizeof builtin_types[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (builtin_types[mid].oid == oid)
            return builtin_types[mid].name;
        if (builtin_types[mid].oid < oid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *relcache_type_name(const RelCache *rc, uint32_t oid)
{
    const char *name = map_get(&rc->types, oid);
    return name ? name : relcache_builtin_type_name(oid);
}
