/*
 * net/httpd.h - a small read-only HTTP server: the only module that includes
 *               libmicrohttpd.
 *
 * Owns:     parsing the listen address ("127.0.0.1:9187", "[::1]:9187",
 *           "localhost:9187"), binding it, serving GET and HEAD from the
 *           library's own thread, refusing every other method (405) and any
 *           request body.
 * Not mine: what the pages say (metrics/metrics).
 * Pure:     no (sockets, a thread). httpd_parse_listen() is pure.
 * Threads:  the handler runs on the server's thread, one request at a time.
 * Trust:    request paths are untrusted; the handler gets the path only
 *           (the query string is dropped by the library).
 */
#ifndef WAL2EDGE_NET_HTTPD_H
#define WAL2EDGE_NET_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef struct HttpdReply {
    int status;
    const char *content_type;  /* static string */
    char *body;                /* malloc'ed; owned by the server once returned */
    size_t len;
} HttpdReply;

/* Fill *reply for GET `path` (HEAD is answered from the same reply without the body). */
typedef void (*HttpdHandler)(void *user, const char *path, HttpdReply *reply);

typedef struct Httpd Httpd;

/* Split "HOST:PORT" / "[V6]:PORT" into host (brackets removed) and port. ERR_CONFIG on bad input. */
bool httpd_parse_listen(const char *listen, char *host, size_t host_size, unsigned *port, Err *err) WARN_UNUSED;

/* Bind `listen` and serve on a thread of the library. ERR_CONFIG for a bad address, ERR_IO when binding fails. */
Httpd *httpd_start(const char *listen, HttpdHandler handler, void *user, Err *err) WARN_UNUSED;
/* The bound port (the one the OS picked for port 0). */
unsigned httpd_port(const Httpd *h);
void httpd_stop(Httpd *h);

#endif
