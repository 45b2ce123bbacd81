/*
 * targets/kv_rowtag.c - see kv_rowtag.h. The identity is written as the JSON
 * array the index keys rows by; reading it back re-renders each element with the
 * same escaper, so the text compares equal to what kv_identity_json makes from a
 * change (jansson's own dump may escape differently).
 */
#include "targets/kv_rowtag.h"

#include <string.h>

#include <jansson.h>

#include "core/json_text.h"
#include "core/mem.h"

bool kv_rowtag_append(Buf *meta, const char *tbl, const char *pk, size_t pk_len, Err *err)
{
    return buf_append_str(meta, ",\"" KV_ROWTAG_NAME "\":{\"table\":", err) &&
           json_text_append_str(meta, tbl, strlen(tbl), err) && buf_append_str(meta, ",\"pk\":", err) &&
           buf_append(meta, pk, pk_len, err) && buf_append_str(meta, "}", err);
}

bool kv_rowtag_parse(const char *metadata_json, char **tbl, Buf *pk)
{
    if (!metadata_json)
        return false;
    json_t *m = json_loads(metadata_json, 0, NULL);
    json_t *tag = json_object_get(m, KV_ROWTAG_NAME);
    json_t *t = json_object_get(tag, "table"), *ids = json_object_get(tag, "pk");
    bool ok = json_is_string(t) && json_string_length(t) > 0 && json_is_array(ids) && json_array_size(ids) > 0;
    Err err = {0};
    buf_reset(pk);
    ok = ok && buf_append(pk, "[", 1, &err);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        if (!ok)
            break;
        if (i)
            ok = buf_append(pk, ",", 1, &err);
        if (json_is_null(v))
            ok = ok && buf_append_str(pk, "null", &err);
        else if (json_is_string(v))
            ok = ok && json_text_append_str(pk, json_string_value(v), json_string_length(v), &err);
        else
            ok = false;
    }
    ok = ok && buf_append(pk, "]", 1, &err);
    if (ok)
        *tbl = xstrdup(json_string_value(t));
    else
        buf_reset(pk);
    json_decref(m);
    return ok;
}
