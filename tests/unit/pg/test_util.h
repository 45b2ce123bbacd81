/*
 * tests/unit/pg/test_util.h - helpers shared by the pg unit tests (header-only).
 */
#ifndef WAL2EDGE_TESTS_PG_TEST_UTIL_H
#define WAL2EDGE_TESTS_PG_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg/ddlmsg.h"

/* Decode hex (spaces ignored) into a malloc'd buffer; *n = byte count. */
static inline uint8_t *hex_bytes(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    uint8_t *out = malloc(len / 2 + 1);
    size_t k = 0;
    int hi = -1;
    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[k++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *n = k;
    return out;
}

/* Read a whole fixture file from WAL2EDGE_FIXTURES/<rel>; NULL if missing. */
static inline uint8_t *read_fixture(const char *rel, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", WAL2EDGE_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    buf[got] = 0;
    *n = got;
    return buf;
}

/* The DDL capture message of fixture ddl/<name>.json (captured from PostgreSQL 15); false if unreadable. */
static inline bool ddl_fixture(const char *name, DdlMsg *out, Err *err)
{
    char rel[128];
    snprintf(rel, sizeof rel, "ddl/%s.json", name);
    size_t n = 0;
    uint8_t *text = read_fixture(rel, &n);
    if (!text)
        return err_set(err, ERR_IO, "fixture %s is missing", rel);
    bool ok = ddlmsg_parse(text, n, out, err);
    free(text);
    return ok;
}

#endif
