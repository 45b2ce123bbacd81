/* Unit tests for net/httpd: the listen address, and a real request on a port the OS picks. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/mem.h"
#include "net/httpd.h"

Test(httpd, parse_listen)
{
    char host[64];
    unsigned port;
    Err err;
    cr_assert(httpd_parse_listen("127.0.0.1:9187", host, sizeof host, &port, &err));
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 9187);
    cr_assert(httpd_parse_listen("[::1]:0", host, sizeof host, &port, &err));
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    cr_assert(httpd_parse_listen("localhost:80", host, sizeof host, &port, &err));
    cr_assert_str_eq(host, "localhost");
    static const char *const bad[] = {"9187", ":9187", "host:", "host:x1", "host:65536", "::1:9187", "h:1 ", NULL};
    for (size_t i = 0; bad[i]; i++) {
        cr_assert_not(httpd_parse_listen(bad[i], host, sizeof host, &port, &err), "accepted %s", bad[i]);
        cr_assert_eq(err.code, ERR_CONFIG);
        cr_assert(strstr(err.msg, "is not HOST:PORT"), "%s", err.msg);
    }
}

static void handler(void *user, const char *path, HttpdReply *reply)
{
    (void)user;
    reply->status = strcmp(path, "/x") == 0 ? 200 : 404;
    reply->content_type = "text/plain";
    reply->body = xasprintf("path=%s\n", path);
    reply->len = strlen(reply->body);
}

static char *request(unsigned port, const char *text)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    char *buf = xcalloc(1, 4096);
    size_t got = 0;
    ssize_t n;
    while (got < 4095 && (n = read(fd, buf + got, 4095 - got)) > 0)
        got += (size_t)n;
    close(fd);
    return buf;
}

Test(httpd, serves_get_and_refuses_other_methods)
{
    Err err;
    Httpd *h = httpd_start("127.0.0.1:0", handler, NULL, &err);
    cr_assert_not_null(h, "%s", err.msg);
    unsigned port = httpd_port(h);
    cr_assert_gt(port, 0);
    char *r = request(port, "GET /x?q=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 200", 12) == 0, "%s", r);
    cr_assert(strstr(r, "path=/x\n"), "the query string is not part of the path: %s", r);
    free(r);
    r = request(port, "GET /y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 404", 12) == 0, "%s", r);
    free(r);
    r = request(port, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    cr_assert(strncmp(r, "HTTP/1.1 405", 12) == 0, "%s", r);
    free(r);
    char taken[32];
    snprintf(taken, sizeof taken, "127.0.0.1:%u", port);
    Httpd *again = httpd_start(taken, handler, NULL, &err);
    cr_assert_null(again, "the port is taken");
    cr_assert_eq(err.code, ERR_IO);
    httpd_stop(h);
}
