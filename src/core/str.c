/*
 * core/str.c - see str.h.
 *
 * Digits only: no sign, spaces or base prefixes as strtoull would accept. Overflow
 * is checked before each multiply against the caller's max; str_to_i64 parses the
 * magnitude with a limit one larger for negatives so INT64_MIN is accepted.
 */
#include "core/str.h"

bool str_to_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned digit = (unsigned)(*p - '0');
        if (v > (max - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

bool str_to_i64(const char *s, int64_t *out)
{
    if (!s)
        return false;
    bool negative = *s == '-';
    uint64_t magnitude;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (!str_to_u64(s + negative, limit, &magnitude))
        return false;
    *out = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return true;
}
