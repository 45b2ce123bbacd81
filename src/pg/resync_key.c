/*
 * pg/resync_key.c - see resync_key.h. Integers are compared by value after
 * strtoll (Postgres text of an integer column always parses); everything else
 * with strcmp, which is the byte order Postgres' "C" collation and SQLite's
 * BINARY give UTF-8 text. A composite key's text form is built with jansson so
 * any value (quotes, backslashes, control characters) round-trips.
 */
#include "pg/resync_key.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/mem.h"

bool resync_key_type_of(uint32_t type_oid, ResyncKeyType *out)
{
    switch (type_oid) {
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        *out = RESYNC_KEY_INTEGER;
        return true;
    case 25:   /* text */
    case 1043: /* varchar */
        *out = RESYNC_KEY_TEXT;
        return true;
    case 2950: /* uuid */
        *out = RESYNC_KEY_UUID;
        return true;
    default:
        return false;
    }
}

const char *resync_key_type_name(ResyncKeyType t)
{
    return t == RESYNC_KEY_INTEGER ? "integer" : t == RESYNC_KEY_TEXT ? "text" : "uuid";
}

bool resync_key_type_parse(const char *name, ResyncKeyType *out)
{
    static const ResyncKeyType all[] = {RESYNC_KEY_INTEGER, RESYNC_KEY_TEXT, RESYNC_KEY_UUID};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, resync_key_type_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    return false;
}

int resync_key_cmp1(ResyncKeyType t, const char *a, const char *b)
{
    if (t == RESYNC_KEY_INTEGER) {
        long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
        return x < y ? -1 : x > y;
    }
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

int resync_key_cmp(const ResyncKeyType *types, size_t n, const char *const *a, const char *const *b)
{
    for (size_t i = 0; i < n; i++) {
        int c = resync_key_cmp1(types[i], a[i], b[i]);
        if (c)
            return c;
    }
    return 0;
}

char *resync_key_encode(const char *const *vals, size_t n)
{
    if (n == 1)
        return xstrdup(vals[0]);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string_nocheck(vals[i]));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}
