/*
 * core/timefmt.c - see timefmt.h.
 *
 * The date comes from the day number by arithmetic and years 0-9999 are written
 * digit by digit (strftime was most of a change log line's cost under callgrind,
 * and gmtime_r locks); other years fall back to gmtime_r and strftime. Negative times borrow a second so the fraction
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

void timefmt_civil(int64_t z, int64_t *year, unsigned *month, unsigned *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

char *timefmt_iso(int64_t unix_us, int frac_digits, char out[TIMEFMT_ISO_MAX])
{
    int64_t secs = unix_us / 1000000;
    int64_t micros = unix_us % 1000000;
    if (micros < 0) {
        micros += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    timefmt_civil(days, &year, &month, &day);
    size_t n;
    if (year >= 0 && year <= 9999) {
        /* by hand: strftime was most of a change log line's cost (callgrind) */
        const unsigned parts[] = {month, day, (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60)};
        const char seps[] = "--T::";
        put_digits(out, (unsigned)year, 4);
        n = 4;
        for (size_t i = 0; i < 5; i++) {
            out[n++] = seps[i];
            put_digits(out + n, parts[i], 2);
            n += 2;
        }
    } else {
        time_t t = (time_t)secs;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            memset(&tm, 0, sizeof tm);
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
