/*
 * metrics/page.c - see page.h.
 *
 * Pure rendering of a PageData snapshot into one self-contained HTML page (inline
 * CSS, no scripts, a 10 s meta refresh): the slot table, one row per target, two
 * SVG sparklines of the last hour each scaled to its own maximum, and the last
 * errors. Every text that comes from outside (names, reasons, errors) goes through
 * put_text, which escapes HTML and drops control characters.
 */
#include "metrics/page.h"

#include <stdio.h>
#include <string.h>

#define SPARK_W 360
#define SPARK_H 64

static bool put(Buf *out, Err *err, const char *s) { return buf_append_str(out, s, err); }

/* Text into HTML: & < > " ' escaped, control characters dropped. */
static bool put_text(Buf *out, Err *err, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '"' ? "&quot;"
                          : *p == '\'' ? "&#39;" : NULL;
        bool ok = rep ? buf_append_str(out, rep, err) : *p < 0x20 ? true : buf_append(out, p, 1, err);
        if (!ok)
            return false;
    }
    return true;
}

/* 1536 → "1.5 KiB" */
static void human_bytes(double v, char *out, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static bool row(Buf *out, Err *err, const char *name, const char *value, const char *cls)
{
    return buf_printf(out, err, "<tr><th>%s</th><td class=\"%s\">", name, cls) && put_text(out, err, value) &&
           put(out, err, "</td></tr>\n");
}

static bool bytes_row(Buf *out, Err *err, const char *name, double v, const char *cls)
{
    char text[64] = "-";
    if (v >= 0)
        human_bytes(v, text, sizeof text);
    return row(out, err, name, text, cls);
}

/* A sparkline of the last hour: an SVG polyline scaled to its largest value. */
static bool sparkline(Buf *out, Err *err, const char *title, const char *unit, const char *id, const double *v,
                      size_t n, int sample_seconds)
{
    double max = 0, last = n ? v[n - 1] : 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > max)
            max = v[i];
    if (!buf_printf(out, err,
                    "<figure><figcaption>%s: now %.2f %s, max %.2f %s (last %zu min)</figcaption>"
                    "<svg id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
                    "<rect width=\"%d\" height=\"%d\" fill=\"#f4f6f8\"/>",
                    title, last, unit, max, unit, (n * (size_t)sample_seconds + 59) / 60, id, SPARK_W, SPARK_H,
                    SPARK_W, SPARK_H, SPARK_W, SPARK_H))
        return false;
    if (n >= 1) {
        if (!put(out, err, "<polyline fill=\"none\" stroke=\"#0a7d5a\" stroke-width=\"2\" points=\""))
            return false;
        for (size_t i = 0; i < n; i++) {
            double x = n == 1 ? SPARK_W : (double)i * (SPARK_W - 1) / (double)(n - 1);
            double y = SPARK_H - 2 - (max > 0 ? v[i] / max * (SPARK_H - 4) : 0);
            if (!buf_printf(out, err, "%s%.1f,%.1f", i ? " " : "", x, y))
                return false;
        }
        if (!put(out, err, "\"/>"))
            return false;
        /* the newest point, so even a single sample shows */
        double y = SPARK_H - 2 - (max > 0 ? last / max * (SPARK_H - 4) : 0);
        if (!buf_printf(out, err, "<circle cx=\"%d\" cy=\"%.1f\" r=\"3\" fill=\"#0a7d5a\"/>", SPARK_W - 3, y))
            return false;
    }
    return put(out, err, "</svg></figure>\n");
}

bool page_render(const PageData *d, Buf *out, Err *err)
{
    char text[256];
    bool ready = d->ready_status == 200;
    bool ok = put(out, err,
                  "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta http-equiv=\"refresh\" content=\"10\"><title>wal2edge</title><style>"
                  "body{font:15px system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}"
                  "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:20px 0 6px}"
                  "table{border-collapse:collapse}th,td{padding:3px 12px 3px 0;text-align:left}"
                  "th{font-weight:600;color:#555}.ok{color:#0a7d5a}.warn{color:#a05a00}.bad{color:#b3261e}"
                  ".badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff}"
                  ".badge.ok{background:#0a7d5a}.badge.bad{background:#b3261e}"
                  "figure{display:inline-block;margin:0 24px 8px 0}figcaption{font-size:13px;color:#555}"
                  "li{margin:2px 0;font-family:monospace;font-size:13px}</style></head><body>\n") &&
              put(out, err, "<h1>wal2edge ") && put_text(out, err, d->version) && put(out, err, "</h1>\n") &&
              buf_printf(out, err, "<p><span class=\"badge %s\">%s</span> ", ready ? "ok" : "bad",
                         ready ? "ready" : "not ready") &&
              put_text(out, err, d->ready_reason) && put(out, err, "</p>\n<h2>Slot ") &&
              put_text(out, err, d->slot) && put(out, err, "</h2>\n<table>\n") &&
              row(out, err, "state", d->state, "") &&
              row(out, err, "wal_status", d->wal_status[0] ? d->wal_status : "-",
                  strcmp(d->wal_status, "lost") == 0         ? "bad"
                  : strcmp(d->wal_status, "unreserved") == 0 ? "warn"
                                                             : "ok") &&
              bytes_row(out, err, "retained WAL", d->retained_bytes,
                        d->retained_bytes > d->max_retained_bytes ? "warn" : "") &&
              bytes_row(out, err, "safe WAL size", d->safe_wal_bytes, "") &&
              bytes_row(out, err, "replication lag", d->lag_bytes, "");
    if (ok) {
        if (d->lag_seconds >= 0)
            snprintf(text, sizeof text, "%.1f s", d->lag_seconds);
        else
            snprintf(text, sizeof text, "-");
        ok = row(out, err, "lag", text, "");
    }
    if (ok) {
        if (d->heartbeat_age_seconds >= 0)
            snprintf(text, sizeof text, "%.0f s ago", d->heartbeat_age_seconds);
        else
            snprintf(text, sizeof text, "none yet");
        ok = row(out, err, "last heartbeat", text, "");
    }
    if (ok) {
        snprintf(text, sizeof text, "%.0f", d->transactions);
        ok = row(out, err, "transactions", text, "") &&
             put(out, err, "</table>\n<h2>Targets</h2>\n<table>\n<tr><th>target</th><th>lag</th><th>writes</th>"
                           "<th>requests</th><th>commit to durable</th><th>health</th></tr>\n");
    }
    for (size_t i = 0; ok && i < d->target_count; i++) {
        const PageTarget *t = &d->targets[i];
        char lag[64], ctd[64], requests[96] = "-"; /* "-": an embedded target sends none */
        human_bytes(t->lag_bytes, lag, sizeof lag);
        if (t->requests > 0)
            snprintf(requests, sizeof requests, "%.0f (%.0f retried, %.0f rate-limited)", t->requests, t->retries,
                     t->rate_limited);
        if (t->commit_to_durable_avg >= 0)
            snprintf(ctd, sizeof ctd, "%.3f s avg", t->commit_to_durable_avg);
        else
            snprintf(ctd, sizeof ctd, "-");
        ok = put(out, err, "<tr><td>") && put_text(out, err, t->name) &&
             buf_printf(out, err, "</td><td>%s</td><td>%.0f</td><td>%s</td><td>%s</td>", lag, t->writes_ok, requests,
                        ctd) &&
             (t->failing[0] ? put(out, err, "<td class=\"bad\">failing: ") && put_text(out, err, t->failing)
                            : put(out, err, "<td class=\"ok\">ok")) &&
             put(out, err, "</td></tr>\n");
    }
    ok = ok && put(out, err, "</table>\n<h2>Last hour</h2>\n") &&
         sparkline(out, err, "throughput", "tx/s", "throughput", d->throughput, d->samples, d->sample_seconds) &&
         sparkline(out, err, "lag", "s", "lag", d->lag_history, d->samples, d->sample_seconds) &&
         put(out, err, "\n<h2>Last errors</h2>\n");
    if (ok && d->error_count == 0)
        ok = put(out, err, "<p class=\"ok\">none</p>\n");
    else if (ok)
        ok = put(out, err, "<ul>\n");
    for (size_t i = 0; ok && i < d->error_count; i++)
        ok = put(out, err, "<li class=\"bad\">") && put_text(out, err, d->errors[i]) && put(out, err, "</li>\n");
    if (ok && d->error_count)
        ok = put(out, err, "</ul>\n");
    return ok && put(out, err, "</body></html>\n");
}
