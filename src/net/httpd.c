/*
 * net/httpd.c - see httpd.h.
 *
 * libmicrohttpd runs its own polling thread (at most 64 connections, 10 s idle
 * timeout) and calls on_request several times per request: the first call only
 * marks the request as seen, a body is discarded and the request answered 405,
 * and the handler runs once the request is complete. Only GET and HEAD reach it;
 * HEAD gets the status and headers with an empty body. The listen address is
 * resolved with getaddrinfo, so "[::1]:port" and host names work; port 0 picks a
 * free port, read back with httpd_port.
 */
#include "net/httpd.h"

#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/mem.h"

struct Httpd {
    struct MHD_Daemon *daemon;
    HttpdHandler handler;
    void *user;
    unsigned port;
};

bool httpd_parse_listen(const char *listen, char *host, size_t host_size, unsigned *port, Err *err)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (colon && hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (colon && memchr(listen, ':', hlen)) {
        hlen = 0; /* a bare IPv6 address without brackets is ambiguous */
    }
    char *end = NULL;
    unsigned long p = colon && colon[1] >= '0' && colon[1] <= '9' ? strtoul(colon + 1, &end, 10) : 0;
    if (!colon || hlen == 0 || hlen >= host_size || !end || *end || p > 65535)
        return err_set(err, ERR_CONFIG,
                       "metrics.listen \"%s\" is not HOST:PORT (e.g. \"127.0.0.1:9187\" or \"[::1]:9187\")",
                       listen);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    static int seen, has_body; /* markers of the request's progress */
    Httpd *h = cls;
    if (*req_cls == NULL) {
        *req_cls = &seen; /* first call: headers only; answer once the body (if any) is consumed */
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a body is discarded unread, and the request refused */
        *req_cls = &has_body;
        return MHD_YES;
    }
    HttpdReply reply = {0};
    bool head = strcmp(method, "HEAD") == 0;
    if (*req_cls == &has_body || (!head && strcmp(method, "GET") != 0)) {
        reply.status = 405;
        reply.content_type = "text/plain; charset=utf-8";
        reply.body = xstrdup("only GET and HEAD\n");
        reply.len = strlen(reply.body);
    } else {
        h->handler(h->user, url, &reply);
    }
    struct MHD_Response *resp =
        head ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer_with_free_callback(reply.len, reply.body, free);
    if (head)
        free(reply.body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", reply.content_type ? reply.content_type : "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)reply.status, resp);
    MHD_destroy_response(resp);
    return rc;
}

Httpd *httpd_start(const char *listen, HttpdHandler handler, void *user, Err *err)
{
    char host[256];
    unsigned port;
    if (!httpd_parse_listen(listen, host, sizeof host, &port, err))
        return NULL;
    char service[8];
    snprintf(service, sizeof service, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, service, &hints, &ai);
    if (gai != 0 || !ai)
        return err_set(err, ERR_CONFIG, "metrics.listen \"%s\": cannot resolve \"%s\": %s", listen, host,
                       gai_strerror(gai)),
               NULL;
    Httpd *h = xcalloc(1, sizeof *h);
    h->handler = handler;
    h->user = user;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                 ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        free(h);
        return err_set(err, ERR_IO, "metrics.listen \"%s\": cannot listen there (in use, or not this machine's "
                       "address)", listen),
               NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    return h;
}

unsigned httpd_port(const Httpd *h) { return h->port; }

void httpd_stop(Httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
