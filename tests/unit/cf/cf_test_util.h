/* Shared helpers for the cf unit tests: read a fixture file. */
#ifndef WAL2EDGE_TESTS_CF_TEST_UTIL_H
#define WAL2EDGE_TESTS_CF_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static inline char *cf_fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", WAL2EDGE_FIXTURES, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "fixture %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

#endif
