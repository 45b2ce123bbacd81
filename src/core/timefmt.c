/*
 * core/timefmt.c - see timefmt.h.
 *
 * gmtime_r splits the seconds; years 0-9999 are then written digit by digit,
 * because strftime was most of a change log line's cost under callgrind; other
 * years fall back to strftime. Negative times borrow a second so the fraction
 * (3 or 6 digits, or none) is never negative.
 */
#include "core/timefmt.h"

#include <string.h>
#include <time.h>

/* v as exactly `width` decimal digits (zero-padded) at p. */
static void put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *timefmt_iso(int64_t unix_us, int frac_digits, char out[TIMEFMT_ISO_MAX])
{
    int64_t secs = unix_us / 1000000;
    int64_t micros = unix_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    size_t n;
    long year = (long)tm.tm_year + 1900;
    if (year >= 0 && year <= 9999) {
        /* by hand: strftime was most of a change log line's cost (callgrind) */
        const int parts[] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
        const char seps[] = "--T::";
        put_digits(out, (unsigned)year, 4);
        n = 4;
        for (size_t i = 0; i < 5; i++) {
            out[n++] = seps[i];
            put_digits(out + n, (unsigned)parts[i], 2);
            n += 2;
        }
    } else {
        n = strftime(out, TIMEFMT_ISO_MAX - 9, "%Y-%m-%dT%H:%M:%S", &tm);
    }
    if (frac_digits == 3 || frac_digits == 6) {
        unsigned frac = (unsigned)(frac_digits == 3 ? micros / 1000 : micros);
        out[n++] = '.';
        for (int i = frac_digits - 1; i >= 0; i--) {
            out[n + (size_t)i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += (size_t)frac_digits;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return out;
}
