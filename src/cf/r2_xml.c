/*
 * cf/r2_xml.c - see r2_xml.h.
 *
 * Not a parser: it looks for <tag>...</tag> of a known name inside a response
 * already capped in size, and decodes the entities of the text between.
 */
#include "cf/r2_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "core/str.h"

static void put_utf8(Buf *b, uint32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    Err e;
    if (!buf_append(b, o, n, &e))
        abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
}

static char *xml_decode(const char *s, size_t len)
{
    static const struct {
        const char *ent;
        char ch;
    } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    Buf b;
    Err e;
    buf_init(&b, SIZE_MAX / 2); /* the input is capped already */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '&') {
            bool done = false;
            for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++) {
                size_t el = strlen(named[k].ent);
                if (len - i >= el && memcmp(s + i, named[k].ent, el) == 0) {
                    put_utf8(&b, (unsigned char)named[k].ch);
                    i += el - 1;
                    done = true;
                }
            }
            if (!done && len - i >= 4 && s[i + 1] == '#') {
                size_t j = i + 2;
                bool hex = j < len && (s[j] == 'x' || s[j] == 'X');
                if (hex)
                    j++;
                uint32_t cp = 0;
                size_t digits = 0;
                for (; j < len && digits < 8; j++, digits++) {
                    char ch = s[j];
                    int v = (ch >= '0' && ch <= '9')           ? ch - '0'
                            : hex && (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                            : hex && (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                                               : -1;
                    if (v < 0)
                        break;
                    cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
                }
                if (digits > 0 && j < len && s[j] == ';' && cp > 0 && cp <= 0x10FFFF &&
                    !(cp >= 0xD800 && cp <= 0xDFFF)) {
                    put_utf8(&b, cp);
                    i = j;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        if (!buf_append(&b, &s[i], 1, &e))
            abort();   /* GCOVR_EXCL_LINE: uncapped buffer */
    }
    return buf_take(&b);
}

const char *r2_xml_contains(const char *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen(needle);
    if (nlen == 0 || nlen > hlen)
        return NULL;
    for (size_t i = 0; i + nlen <= hlen; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
            return hay + i;
    return NULL;
}

/* Bounds of the first <tag>…</tag> in xml[from..len): content [*cs, *ce), end after close. */
bool r2_xml_find(const char *xml, size_t len, size_t from, const char *tag, size_t *cs, size_t *ce,
                 size_t *end)
{
    if (from >= len)
        return false;
    char open[72], close[72];
    if (strlen(tag) > 64)
        return false;
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *o = r2_xml_contains(xml + from, len - from, open);
    if (!o)
        return false;
    size_t start = (size_t)(o - xml) + strlen(open);
    const char *c = r2_xml_contains(xml + start, len - start, close);
    if (!c)
        return false;
    *cs = start;
    *ce = (size_t)(c - xml);
    *end = *ce + strlen(close);
    return true;
}

char *r2_xml_text(const char *xml, size_t len, size_t from, const char *tag, size_t *next)
{
    size_t cs, ce, end;
    if (!r2_xml_find(xml, len, from, tag, &cs, &ce, &end))
        return NULL;
    if (next)
        *next = end;
    return xml_decode(xml + cs, ce - cs);
}

void r2_list_result_free(R2ListResult *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].key);
        free(r->items[i].etag);
        free(r->items[i].last_modified);
    }
    free(r->items);
    for (size_t i = 0; i < r->prefix_count; i++)
        free(r->common_prefixes[i]);
    free(r->common_prefixes);
    free(r->next_token);
    memset(r, 0, sizeof *r);
}

bool r2_xml_parse_list(const char *xml, size_t len, R2ListResult *out, Err *err)
{
    memset(out, 0, sizeof *out);
    if (!r2_xml_contains(xml, len, "<ListBucketResult"))
        return err_set(err, ERR_PROTOCOL, "r2 list: the response is not a ListBucketResult");
    size_t pos = 0, cs, ce, end, cap = 0;
    while (r2_xml_find(xml, len, pos, "Contents", &cs, &ce, &end)) {
        char *key = r2_xml_text(xml, ce, cs, "Key", NULL);
        if (!key) {
            r2_list_result_free(out);
            return err_set(err, ERR_PROTOCOL, "r2 list: an entry has no Key");
        }
        if (out->count == cap) {
            cap = cap ? cap * 2 : 16;
            out->items = xrealloc(out->items, cap * sizeof *out->items);
        }
        R2ListEntry *e = &out->items[out->count++];
        memset(e, 0, sizeof *e);
        e->key = key;
        char *size = r2_xml_text(xml, ce, cs, "Size", NULL);
        if (size && !str_to_u64(size, UINT64_MAX, &e->size)) {
            free(size);
            r2_list_result_free(out);
            return err_set(err, ERR_PROTOCOL, "r2 list: an entry has a bad Size");
        }
        free(size);
        e->etag = r2_xml_text(xml, ce, cs, "ETag", NULL);
        e->last_modified = r2_xml_text(xml, ce, cs, "LastModified", NULL);
        pos = end;
    }
    pos = 0;
    size_t pcap = 0;
    while (r2_xml_find(xml, len, pos, "CommonPrefixes", &cs, &ce, &end)) {
        char *p = r2_xml_text(xml, ce, cs, "Prefix", NULL);
        if (p) {
            if (out->prefix_count == pcap) {
                pcap = pcap ? pcap * 2 : 8;
                out->common_prefixes = xrealloc(out->common_prefixes, pcap * sizeof(char *));
            }
            out->common_prefixes[out->prefix_count++] = p;
        }
        pos = end;
    }
    char *trunc = r2_xml_text(xml, len, 0, "IsTruncated", NULL);
    out->truncated = trunc && strcmp(trunc, "true") == 0;
    free(trunc);
    out->next_token = r2_xml_text(xml, len, 0, "NextContinuationToken", NULL);
    if (out->truncated && !out->next_token) {
        r2_list_result_free(out);
        return err_set(err, ERR_PROTOCOL, "r2 list: truncated without a continuation token");
    }
    return true;
}

