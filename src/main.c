/*
 * main.c - process setup and dispatch; everything else lives in the library.
 */
#include <signal.h>
#include <string.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    /* Broken pipes are handled as write errors where they happen, never as a signal. */
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, NULL);
    return cli_main(argc, argv);
}
