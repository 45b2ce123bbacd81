/*
 * net/retry.c - retry classification and delays (see retry.h).
 *
 * Pure: time, sleep and randomness come in as arguments. An explicit
 * x-should-retry header overrides everything, then a transport error decides by
 * its kind, then the status (408, 409, 429, 5xx). The delay is the server's when
 * it gave one (retry-after-ms, then retry-after as seconds or an HTTP date), else
 * exponential backoff from the base, capped, minus up to jitter_pct of itself.
 * A retry whose delay would cross the total time budget is refused up front
 * rather than slept and then abandoned.
 */
#include "net/retry.h"

#include <string.h>

void retry_policy_default(RetryPolicy *p)
{
    p->max_attempts = 5;
    p->base_delay_ms = 500;
    p->max_delay_ms = 8000;
    p->max_total_ms = 120000;
    p->jitter_pct = 25;
}

bool retry_status_retryable(long status)
{
    return status == 408 || status == 409 || status == 429 || (status >= 500 && status <= 599);
}

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return *a == *b;
}

bool retry_is_retryable(const RetryInput *in)
{
    if (in->x_should_retry) {
        if (ieq(in->x_should_retry, "true"))
            return true;
        if (ieq(in->x_should_retry, "false"))
            return false;
    }
    if (in->transport_error)
        return in->transport_retryable;
    return retry_status_retryable(in->status);
}

/* Strict non-negative decimal with an optional fraction; result in thousandths. */
static bool parse_milli(const char *s, uint64_t *out_milli)
{
    uint64_t whole = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX / 10000u))
            return false;
        whole = whole * 10u + (uint64_t)(*p - '0');
    }
    uint64_t frac = 0, scale = 1000;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
        }
    }
    if (*p != '\0')
        return false;
    *out_milli = whole * 1000u + frac;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool retry_parse_http_date(const char *s, int64_t *out)
{
    /* "Sun, 06 Nov 1994 08:49:37 GMT" : exactly 29 characters */
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT") != 0)
        return false;
    unsigned day, year, hh, mm, ss, mon = 0;
    if (!digits(s + 5, 2, &day) || !digits(s + 12, 4, &year) || !digits(s + 17, 2, &hh) ||
        !digits(s + 20, 2, &mm) || !digits(s + 23, 2, &ss))
        return false;
    for (unsigned i = 0; i < 12; i++)
        if (memcmp(s + 8, months[i], 3) == 0)
            mon = i + 1;
    if (mon == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return false;
    *out = days_from_civil((int64_t)year, mon, day) * 86400 + (int64_t)hh * 3600 +
           (int64_t)mm * 60 + (int64_t)ss;
    return true;
}

bool retry_server_delay_ms(const char *retry_after_ms, const char *retry_after, int64_t now_wall_s,
                           uint64_t *out_ms)
{
    uint64_t milli;
    if (retry_after_ms && parse_milli(retry_after_ms, &milli)) {
        *out_ms = milli / 1000u;   /* milli-milliseconds → ms */
        return true;
    }
    if (!retry_after)
        return false;
    if (parse_milli(retry_after, &milli)) {
        *out_ms = milli;           /* thousandths of seconds = ms */
        return true;
    }
    int64_t when;
    if (retry_parse_http_date(retry_after, &when)) {
        *out_ms = when > now_wall_s ? (uint64_t)(when - now_wall_s) * 1000u : 0;
        return true;
    }
    return false;
}

uint64_t retry_backoff_ms(const RetryPolicy *p, unsigned failures, uint32_t rand_u32)
{
    uint64_t d = p->base_delay_ms;
    for (unsigned i = 1; i < failures && d < p->max_delay_ms; i++)
        d *= 2;
    if (d > p->max_delay_ms)
        d = p->max_delay_ms;
    unsigned pct = p->jitter_pct > 100 ? 100 : p->jitter_pct;
    /* d × rand/2^32 × pct/100, computed without overflow for d < 2^32 */
    uint64_t cut = ((d * pct / 100u) * (uint64_t)rand_u32) >> 32;
    return d - cut;
}

RetryDecision retry_decide(const RetryPolicy *p, const RetryInput *in, unsigned attempts_made,
                           uint64_t elapsed_ms, int64_t now_wall_s, uint32_t rand_u32)
{
    RetryDecision d = {false, 0, false, false};
    if (!retry_is_retryable(in))
        return d;
    uint64_t delay;
    if (!in->transport_error &&
        retry_server_delay_ms(in->retry_after_ms, in->retry_after, now_wall_s, &delay)) {
        d.server_delay = true;
    } else {
        delay = retry_backoff_ms(p, attempts_made, rand_u32);
    }
    d.delay_ms = delay;
    if (attempts_made >= p->max_attempts || elapsed_ms >= p->max_total_ms ||
        delay > p->max_total_ms - elapsed_ms) {
        d.budget_exhausted = true;
        return d;
    }
    d.retry = true;
    return d;
}
