/*
 * core/clock.h - monotonic time for intervals, timeouts and rates.
 *
 * Owns:     reading CLOCK_MONOTONIC in milliseconds and microseconds, so that
 *           every module measures elapsed time the same way.
 * Not mine: wall-clock time (core/timefmt formats it), the injectable clock
 *           of the network layer's pure policies (net/clock).
 */
#ifndef WAL2EDGE_CORE_CLOCK_H
#define WAL2EDGE_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since an arbitrary fixed point; never goes backwards. */
int64_t clock_mono_ms(void);
/* The same in microseconds. */
int64_t clock_mono_us(void);

#endif
