/*
 * core/clock.h - monotonic time for intervals, timeouts and rates, and the
 *                wall clock for timestamps.
 *
 * Owns:     reading CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds and
 *           microseconds, so that every module measures elapsed time and
 *           stamps records the same way.
 * Not mine: formatting wall-clock time (core/timefmt), the injectable clock
 *           of the network layer's pure policies (net/clock).
 */
#ifndef WAL2EDGE_CORE_CLOCK_H
#define WAL2EDGE_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since an arbitrary fixed point; never goes backwards. */
int64_t clock_mono_ms(void);
/* The same in microseconds. */
int64_t clock_mono_us(void);

/* Wall-clock time: microseconds since the Unix epoch (UTC); may jump. */
int64_t clock_wall_us(void);
/* The same in milliseconds. */
int64_t clock_wall_ms(void);

#endif
