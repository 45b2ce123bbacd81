/*
 * metrics/registry.c - see registry.h.
 *
 * Series live in a small array per family and are found by comparing label
 * values: a few dozen series at most, looked up far less often than a frame
 * is decoded.
 */
#include "metrics/registry.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

typedef struct Series {
    char *values[METRIC_MAX_LABELS];
    double value;                       /* counter, gauge; histogram: sum */
    unsigned long long count;           /* histogram */
    unsigned long long buckets[METRIC_MAX_BUCKETS];
} Series;

struct MetricFamily {
    MetricReg *reg;
    char *name;
    char *help;
    MetricType type;
    size_t label_count;
    char *labels[METRIC_MAX_LABELS];
    double bounds[METRIC_MAX_BUCKETS];
    size_t bound_count;
    Series *series;
    size_t series_count;
    MetricFamily *next;
};

struct MetricReg {
    pthread_mutex_t mu;
    MetricFamily *first, *last;
};

MetricReg *metricreg_new(void)
{
    MetricReg *reg = xcalloc(1, sizeof *reg);
    pthread_mutex_init(&reg->mu, NULL);
    return reg;
}

static void series_free(MetricFamily *f)
{
    for (size_t i = 0; i < f->series_count; i++)
        for (size_t k = 0; k < f->label_count; k++)
            free(f->series[i].values[k]);
    free(f->series);
    f->series = NULL;
    f->series_count = 0;
}

void metricreg_free(MetricReg *reg)
{
    if (!reg)
        return;
    MetricFamily *f = reg->first;
    while (f) {
        MetricFamily *next = f->next;
        series_free(f);
        for (size_t k = 0; k < f->label_count; k++)
            free(f->labels[k]);
        free(f->name);
        free(f->help);
        free(f);
        f = next;
    }
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

/* Find the series of these label values, creating it; NULL past the cap. Mutex held. */
static Series *series_get(MetricFamily *f, const char *const *values)
{
    for (size_t i = 0; i < f->series_count; i++) {
        size_t k = 0;
        while (k < f->label_count && strcmp(f->series[i].values[k], values[k] ? values[k] : "") == 0)
            k++;
        if (k == f->label_count)
            return &f->series[i];
    }
    if (f->series_count >= METRIC_MAX_SERIES)
        return NULL;
    f->series = xrealloc(f->series, (f->series_count + 1) * sizeof *f->series);
    Series *s = &f->series[f->series_count++];
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < f->label_count; k++)
        s->values[k] = xstrdup(values[k] ? values[k] : "");
    return s;
}

MetricFamily *metricreg_family(MetricReg *reg, const char *name, const char *help, MetricType type,
                               const char *const *label_names, const double *buckets, size_t bucket_count)
{
    MetricFamily *f = xcalloc(1, sizeof *f);
    f->reg = reg;
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    f->type = type;
    for (size_t k = 0; label_names && label_names[k] && k < METRIC_MAX_LABELS; k++)
        f->labels[f->label_count++] = xstrdup(label_names[k]);
    for (size_t i = 0; type == METRIC_HISTOGRAM && i < bucket_count && i < METRIC_MAX_BUCKETS; i++)
        f->bounds[f->bound_count++] = buckets[i];
    pthread_mutex_lock(&reg->mu);
    if (f->label_count == 0)
        (void)series_get(f, NULL);
    if (reg->last)
        reg->last->next = f;
    else
        reg->first = f;
    reg->last = f;
    pthread_mutex_unlock(&reg->mu);
    return f;
}

typedef enum { UPDATE_ADD, UPDATE_SET, UPDATE_OBSERVE } UpdateKind;

static void series_update(MetricFamily *f, const char *const *label_values, UpdateKind kind, double v)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->reg->mu);
    Series *s = series_get(f, label_values);
    if (s && kind == UPDATE_SET)
        s->value = v;
    else if (s)
        s->value += v; /* a histogram's value is its sum */
    if (s && kind == UPDATE_OBSERVE) {
        s->count++;
        for (size_t i = 0; i < f->bound_count; i++)
            if (v <= f->bounds[i])
                s->buckets[i]++;
    }
    pthread_mutex_unlock(&f->reg->mu);
}

void metric_add(MetricFamily *f, const char *const *label_values, double delta)
{
    series_update(f, label_values, UPDATE_ADD, delta);
}

void metric_set(MetricFamily *f, const char *const *label_values, double value)
{
    series_update(f, label_values, UPDATE_SET, value);
}

void metric_observe(MetricFamily *f, const char *const *label_values, double value)
{
    series_update(f, label_values, UPDATE_OBSERVE, value);
}

void metric_clear(MetricFamily *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->reg->mu);
    series_free(f);
    pthread_mutex_unlock(&f->reg->mu);
}

/* The value (a histogram's sum) and count of a series; false when it does not exist. */
static bool series_read(MetricFamily *f, const char *const *label_values, double *value, unsigned long long *count)
{
    *value = 0;
    *count = 0;
    if (!f)
        return false;
    pthread_mutex_lock(&f->reg->mu);
    bool found = false;
    for (size_t i = 0; i < f->series_count && !found; i++) {
        size_t k = 0;
        while (k < f->label_count && strcmp(f->series[i].values[k], label_values[k]) == 0)
            k++;
        if (k == f->label_count) {
            found = true;
            *value = f->series[i].value;
            *count = f->series[i].count;
        }
    }
    pthread_mutex_unlock(&f->reg->mu);
    return found;
}

double metric_value(MetricFamily *f, const char *const *label_values)
{
    double v;
    unsigned long long count;
    series_read(f, label_values, &v, &count);
    return v;
}

double metric_sum(MetricFamily *f, size_t label_index, const char *label_value)
{
    double sum = 0;
    if (!f)
        return 0;
    pthread_mutex_lock(&f->reg->mu);
    for (size_t i = 0; i < f->series_count; i++)
        if (!label_value || (label_index < f->label_count && strcmp(f->series[i].values[label_index], label_value) == 0))
            sum += f->series[i].value;
    pthread_mutex_unlock(&f->reg->mu);
    return sum;
}

double metric_mean(MetricFamily *f, const char *const *label_values)
{
    double sum;
    unsigned long long count;
    return series_read(f, label_values, &sum, &count) && count ? sum / (double)count : -1;
}

/* A sample value: integers without a fraction, else the shortest exact form; +Inf, -Inf, NaN. */
static void format_value(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, "%sInf", v > 0 ? "+" : "-");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, size, "%.0f", v);
    else
        for (int prec = 6; prec <= 17; prec++) { /* the shortest form that reads back exactly */
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
}

/* HELP text escapes \ and newline; label values also escape ". */
static bool append_escaped(Buf *out, const char *s, bool quote, Err *err)
{
    for (const char *p = s; *p; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        if (!(rep ? buf_append_str(out, rep, err) : buf_append(out, p, 1, err)))
            return false;
    }
    return true;
}

/* name{l1="v1",l2="v2"[,le="x"]} value */
static bool append_sample(Buf *out, const MetricFamily *f, const char *suffix, const Series *s, const char *le,
                          double value, Err *err)
{
    char num[64];
    if (!buf_append_str(out, f->name, err) || !buf_append_str(out, suffix, err))
        return false;
    if (f->label_count || le) {
        if (!buf_append_str(out, "{", err))
            return false;
        for (size_t k = 0; k < f->label_count; k++)
            if (!buf_printf(out, err, "%s%s=\"", k ? "," : "", f->labels[k]) ||
                !append_escaped(out, s->values[k], true, err) || !buf_append_str(out, "\"", err))
                return false;
        if (le && !buf_printf(out, err, "%sle=\"%s\"", f->label_count ? "," : "", le))
            return false;
        if (!buf_append_str(out, "}", err))
            return false;
    }
    format_value(value, num, sizeof num);
    return buf_printf(out, err, " %s\n", num);
}

static bool render_family(Buf *out, const MetricFamily *f, Err *err)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (!buf_printf(out, err, "# HELP %s ", f->name) || !append_escaped(out, f->help, false, err) ||
        !buf_printf(out, err, "\n# TYPE %s %s\n", f->name, type_names[f->type]))
        return false;
    for (size_t i = 0; i < f->series_count; i++) {
        const Series *s = &f->series[i];
        if (f->type != METRIC_HISTOGRAM) {
            if (!append_sample(out, f, "", s, NULL, s->value, err))
                return false;
            continue;
        }
        char le[64];
        for (size_t b = 0; b < f->bound_count; b++) {
            format_value(f->bounds[b], le, sizeof le);
            if (!append_sample(out, f, "_bucket", s, le, (double)s->buckets[b], err))
                return false;
        }
        if (!append_sample(out, f, "_bucket", s, "+Inf", (double)s->count, err) ||
            !append_sample(out, f, "_sum", s, NULL, s->value, err) ||
            !append_sample(out, f, "_count", s, NULL, (double)s->count, err))
            return false;
    }
    return true;
}

bool metricreg_render(MetricReg *reg, Buf *out, Err *err)
{
    pthread_mutex_lock(&reg->mu);
    bool ok = true;
    for (const MetricFamily *f = reg->first; ok && f; f = f->next)
        ok = render_family(out, f, err);
    pthread_mutex_unlock(&reg->mu);
    return ok;
}
