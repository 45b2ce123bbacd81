/*
 * daemon/signals.h - SIGINT/SIGTERM become a flag the loop polls; SIGHUP
 *                    another (reload the config, daemon/run).
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
/* SIGHUP came since the last signals_reload_clear (installed by signals_install). */
bool signals_reload_requested(void);
void signals_reload_clear(void);
/* Sleep about ms milliseconds, waking within 50 ms once a stop is requested. */
void signals_sleep_ms(int64_t ms);

#endif
