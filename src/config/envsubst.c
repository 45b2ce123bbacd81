/*
 * config/envsubst.c - see envsubst.h.
 *
 * One left-to-right pass: text between '$' signs is copied, "$${" is an escaped
 * literal "${", a lone '$' stays, and "${NAME}", "${NAME:-default}" (unset or
 * empty) and "${NAME-default}" (unset only) are expanded through the caller's
 * lookup. Expanded values are not scanned again. An unset variable without a
 * default is an error naming it, so a config never runs with a silent hole; the
 * output is capped at 1 MiB.
 */
#include "config/envsubst.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

#define ENVSUBST_MAX (1024 * 1024)

const char *envsubst_getenv(const char *name, void *user)
{
    (void)user;
    return getenv(name);
}

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Expand the ${...} starting at *cursor (pointing at '$'); advance past '}'. */
static bool expand_one(const char **cursor, EnvLookup lookup, void *user, Buf *out, Err *err)
{
    const char *p = *cursor + 2;
    const char *name_start = p;
    if (!is_name_start(*p))
        return err_set(err, ERR_CONFIG, "invalid variable reference: expected a name after \"${\"");
    while (is_name_char(*p))
        p++;
    char *name = xstrndup(name_start, (size_t)(p - name_start));
    const char *value = lookup(name, user);
    bool ok = true;
    if (*p == '}') {
        if (!value)
            ok = err_set(err, ERR_CONFIG,
                         "environment variable \"%s\" is not set (use ${%s:-default} to give a default)",
                         name, name);
        else
            ok = buf_append_str(out, value, err);
        p++;
    } else if (*p == ':' && p[1] == '-') {
        const char *dflt = p + 2;
        const char *close = strchr(dflt, '}');
        if (!close) {
            ok = err_set(err, ERR_CONFIG, "unterminated \"${%s:-\" (missing '}')", name);
        } else {
            if (value && value[0])
                ok = buf_append_str(out, value, err);
            else
                ok = buf_append(out, dflt, (size_t)(close - dflt), err);
            p = close + 1;
        }
    } else if (*p == '-') {
        const char *dflt = p + 1;
        const char *close = strchr(dflt, '}');
        if (!close) {
            ok = err_set(err, ERR_CONFIG, "unterminated \"${%s-\" (missing '}')", name);
        } else {
            ok = value ? buf_append_str(out, value, err)
                       : buf_append(out, dflt, (size_t)(close - dflt), err);
            p = close + 1;
        }
    } else {
        ok = err_set(err, ERR_CONFIG,
                     "invalid variable reference \"${%s\": expected '}', ':-' or '-'", name);
    }
    free(name);
    *cursor = p;
    return ok;
}

bool envsubst(const char *in, EnvLookup lookup, void *user, char **out, bool *used_env, Err *err)
{
    Buf b;
    buf_init(&b, ENVSUBST_MAX);
    bool used = false;
    const char *p = in;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (!buf_append_str(&b, p, err))
                goto fail;
            break;
        }
        if (!buf_append(&b, p, (size_t)(dollar - p), err))
            goto fail;
        if (dollar[1] == '$' && dollar[2] == '{') {
            if (!buf_append(&b, "${", 2, err))
                goto fail;
            p = dollar + 3;
        } else if (dollar[1] == '{') {
            p = dollar;
            if (!expand_one(&p, lookup, user, &b, err))
                goto fail;
            used = true;
        } else {
            if (!buf_append(&b, "$", 1, err))
                goto fail;
            p = dollar + 1;
        }
    }
    if (used_env)
        *used_env = used;
    *out = buf_take(&b);
    return true;
fail:
    buf_free(&b);
    return false;
}
