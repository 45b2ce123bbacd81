/*
 * main.c - process setup and dispatch; everything else lives in the library.
 *
 * Only what must happen once per process, before any thread: SIGPIPE is ignored
 * (a closed socket or pipe shows up as a write error where it happens) and
 * libcurl's global state is set up; cli_main parses the command and runs it.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "net/http.h"

int main(int argc, char **argv)
{
    /* Broken pipes are handled as write errors where they happen, never as a signal. */
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    /* libcurl's global state, once, before anything could start a thread. */
    Err err;
    if (!http_global_init(&err)) {
        fprintf(stderr, "wal2edge: %s\n", err.msg);
        return 1;
    }
    int rc = cli_main(argc, argv);
    http_global_cleanup();
    return rc;
}
