/*
 * config/dsn.c - see dsn.h.
 *
 * Finds the byte spans of passwords without parsing the DSN fully: in a URI, the
 * text after ':' in the userinfo (up to the authority's last '@') and every
 * password= query parameter; in the keyword form, each password=value, quoted or
 * not, honouring backslash escapes. The spans drive both the redacted copy (each
 * replaced by the marker) and the decoded value (percent-decoding for URIs,
 * quotes and escapes removed otherwise) that is registered with the log redactor.
 */
#include "config/dsn.h"

#include <string.h>

#include "core/buf.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/mem.h"

static bool dsn_is_uri(const char *dsn)
{
    return strncmp(dsn, "postgresql://", 13) == 0 || strncmp(dsn, "postgres://", 11) == 0;
}

static void add_span(DsnPasswords *out, size_t start, size_t len)
{
    if (out->count < DSN_MAX_PASSWORDS && len > 0) {
        out->start[out->count] = start;
        out->len[out->count] = len;
        out->count++;
    }
}

static void find_in_uri(const char *dsn, DsnPasswords *out)
{
    const char *authority = strstr(dsn, "://") + 3;
    size_t authority_len = strcspn(authority, "/?");
    /* userinfo ends at the last '@' of the authority */
    const char *at = NULL;
    for (size_t i = 0; i < authority_len; i++)
        if (authority[i] == '@')
            at = authority + i;
    if (at) {
        const char *colon = memchr(authority, ':', (size_t)(at - authority));
        if (colon)
            add_span(out, (size_t)(colon + 1 - dsn), (size_t)(at - colon - 1));
    }
    const char *query = strchr(authority, '?');
    while (query) {
        query++;
        if (strncmp(query, "password=", 9) == 0) {
            const char *value = query + 9;
            add_span(out, (size_t)(value - dsn), strcspn(value, "&"));
        }
        query = strchr(query, '&');
    }
}

static void find_in_keywords(const char *dsn, DsnPasswords *out)
{
    const char *p = dsn;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t')
            p++;
        size_t key_len = (size_t)(p - key);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=')
            return; /* not key=value: libpq will reject it; nothing to find */
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *value = p;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p == '\'')
                p++;
        } else {
            while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
        }
        if (key_len == 8 && strncmp(key, "password", 8) == 0)
            add_span(out, (size_t)(value - dsn), (size_t)(p - value));
    }
}

void dsn_find_passwords(const char *dsn, DsnPasswords *out)
{
    memset(out, 0, sizeof *out);
    if (dsn_is_uri(dsn))
        find_in_uri(dsn, out);
    else
        find_in_keywords(dsn, out);
}

char *dsn_redacted(const char *dsn)
{
    DsnPasswords found;
    dsn_find_passwords(dsn, &found);
    Buf b;
    Err err;
    buf_init(&b, strlen(dsn) + found.count * sizeof LOG_REDACTED + 1);
    size_t pos = 0;
    /* spans are found left to right */
    for (size_t i = 0; i < found.count; i++) {
        if (!buf_append(&b, dsn + pos, found.start[i] - pos, &err) ||
            !buf_append_str(&b, LOG_REDACTED, &err))
            return xstrdup(LOG_REDACTED);
        pos = found.start[i] + found.len[i];
    }
    if (!buf_append_str(&b, dsn + pos, &err))
        return xstrdup(LOG_REDACTED);
    return buf_take(&b);
}

char *dsn_password_decoded(const char *dsn, const DsnPasswords *found, size_t i)
{
    const char *s = dsn + found->start[i];
    size_t n = found->len[i];
    char *out = xmalloc(n + 1);
    size_t o = 0;
    if (dsn_is_uri(dsn)) {
        for (size_t k = 0; k < n; k++) {
            if (s[k] == '%' && k + 2 < n && hex_value(s[k + 1]) >= 0 && hex_value(s[k + 2]) >= 0) {
                out[o++] = (char)(hex_value(s[k + 1]) * 16 + hex_value(s[k + 2]));
                k += 2;
            } else {
                out[o++] = s[k];
            }
        }
    } else {
        size_t k = 0, end = n;
        if (n >= 1 && s[0] == '\'') {
            k = 1;
            if (n >= 2 && s[n - 1] == '\'')
                end = n - 1;
        }
        for (; k < end; k++) {
            if (s[k] == '\\' && k + 1 < end)
                k++;
            out[o++] = s[k];
        }
    }
    out[o] = '\0';
    return out;
}
