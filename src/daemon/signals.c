/*
 * daemon/signals.c - see signals.h. The handlers only count (a sig_atomic_t);
 * it is installed without SA_RESTART so a blocking poll() returns EINTR and the
 * loop notices at once, and signals_sleep_ms sleeps in slices of at most 50 ms
 * so a stop ends any wait promptly.
 */
#include "daemon/signals.h"

#include <signal.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"

static volatile sig_atomic_t stop_count;
static volatile sig_atomic_t reload_count;

static void on_stop_signal(int signo)
{
    (void)signo;
    if (stop_count < 100)
        stop_count++;
}

static void on_reload_signal(int signo)
{
    (void)signo;
    if (reload_count < 100)
        reload_count++;
}

void signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigfillset(&sa.sa_mask);
    /* no SA_RESTART: poll() returns EINTR so the loop notices at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &sa, NULL);
}

int signals_stop_requested(void) { return stop_count; }

bool signals_reload_requested(void) { return reload_count > 0; }

void signals_reload_clear(void) { reload_count = 0; }

void signals_sleep_ms(int64_t ms)
{
    int64_t until = clock_mono_ms() + ms;
    for (int64_t left = ms; !stop_count && left > 0; left = until - clock_mono_ms()) {
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
