/*
 * core/timefmt.h - ISO 8601 UTC timestamps, the one way wal2edge writes times
 *                  (logs, change log, checkpoints, status, KV metadata).
 * Owns:     formatting a Unix time in microseconds as UTC text, the civil date
 *           of a day number.
 * Not mine: reading the clock (core/clock).
 * Pure:     yes (gmtime_r only, past year 9999).
 */
#ifndef WAL2EDGE_CORE_TIMEFMT_H
#define WAL2EDGE_CORE_TIMEFMT_H

#include <stdint.h>

/* "-292277-01-01T00:00:00.000000Z" fits with room to spare. */
#define TIMEFMT_ISO_MAX 48

/* unix_us (microseconds since the Unix epoch) as YYYY-MM-DDTHH:MM:SS[.f…]Z with
 * frac_digits 0, 3 or 6 fractional digits. Returns out. */
char *timefmt_iso(int64_t unix_us, int frac_digits, char out[TIMEFMT_ISO_MAX]);

/* The proleptic Gregorian date of day z since 1970-01-01 (H. Hinnant's civil_from_days): pure
 * arithmetic, where gmtime_r takes glibc's time zone lock on every call. */
void timefmt_civil(int64_t z, int64_t *year, unsigned *month, unsigned *day);

#endif
