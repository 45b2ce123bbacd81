/*
 * core/timefmt.c - see timefmt.h.
 */
#include "core/timefmt.h"

#include <string.h>
#include <time.h>

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
    size_t n = strftime(out, TIMEFMT_ISO_MAX - 9, "%Y-%m-%dT%H:%M:%S", &tm);
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
