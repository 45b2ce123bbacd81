/*
 * daemon/signals.h - SIGINT/SIGTERM become a flag the loop polls.
 *
 * Owns:     the process's signal handlers. They only set a flag: no logging,
 *           no allocation, no exit(). A second signal asks for a faster stop
 *           but never makes the loop confirm anything that is not durable.
 */
#ifndef WAL2EDGE_DAEMON_SIGNALS_H
#define WAL2EDGE_DAEMON_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

void signals_install(void);
/* Number of stop signals received so far (0: keep running). */
int signals_stop_requested(void);
/* Sleep about ms milliseconds, waking within 50 ms once a stop is requested. */
void signals_sleep_ms(int64_t ms);

#endif
