/*
 * resync/progress.c - see progress.h. The files are read with jansson, each
 * field checked for its type; a file being replaced is read whole or not at
 * all (resync/job renames a new one over it). A writer is alive when
 * kill(pid, 0) finds it (EPERM: it exists, under another user).
 */
#include "resync/progress.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/timefmt.h"

static char *opt_string(json_t *doc, const char *key)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return v ? xstrdup(v) : NULL;
}

bool resync_progress_read(const char *path, const char *table, ResyncStatus *s)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!json_is_object(doc) || !json_is_integer(json_object_get(doc, "chunk"))) {
        json_decref(doc);
        return false;
    }
    memset(s, 0, sizeof *s);
    s->table = xstrdup(table);
    s->why = opt_string(doc, "why");
    s->after = opt_string(doc, "after");
    s->chunk = (long)json_integer_value(json_object_get(doc, "chunk"));
    s->rows = json_integer_value(json_object_get(doc, "rows"));
    s->started_us = json_integer_value(json_object_get(doc, "started_at_us"));
    s->updated_us = json_integer_value(json_object_get(doc, "updated_at_us"));
    s->pid = (long)json_integer_value(json_object_get(doc, "pid"));
    json_t *targets = json_object_get(doc, "targets");
    size_t n = json_is_array(targets) ? json_array_size(targets) : 0;
    s->targets = xcalloc(n + 1, sizeof *s->targets);
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(targets, i));
        if (t)
            s->targets[s->ntargets++] = xstrdup(t);
    }
    const char *state = json_string_value(json_object_get(doc, "state"));
    s->queued = state && strcmp(state, "queued") == 0;
    s->alive = s->pid > 0 && (kill((pid_t)s->pid, 0) == 0 || errno == EPERM);
    json_decref(doc);
    return true;
}

static int by_table(const void *a, const void *b)
{
    return strcmp(((const ResyncStatus *)a)->table, ((const ResyncStatus *)b)->table);
}

bool resync_progress_list(const char *state_dir, ResyncStatus **out, size_t *count, Err *err)
{
    *out = xcalloc(1, sizeof **out);
    *count = 0;
    char *dir = xasprintf("%s/resync", state_dir);
    DIR *dh = opendir(dir);
    if (!dh) {
        bool none = errno == ENOENT;
        if (!none)
            err_set(err, ERR_IO, "reading %s: %s", dir, strerror(errno));
        free(dir);
        return none;
    }
    struct dirent *de;
    while ((de = readdir(dh)) && *count < RESYNC_PROGRESS_MAX) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        char *table = xstrndup(de->d_name, len - 5);
        char *path = xasprintf("%s/%s", dir, de->d_name);
        *out = xrealloc(*out, (*count + 1) * sizeof **out);
        if (resync_progress_read(path, table, &(*out)[*count]))
            (*count)++;
        free(path);
        free(table);
    }
    closedir(dh);
    free(dir);
    qsort(*out, *count, sizeof **out, by_table);
    return true;
}

void resync_progress_free_one(ResyncStatus *s)
{
    for (size_t k = 0; k < s->ntargets; k++)
        free(s->targets[k]);
    free(s->targets);
    free(s->table);
    free(s->why);
    free(s->after);
    memset(s, 0, sizeof *s);
}

void resync_progress_free(ResyncStatus *list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        resync_progress_free_one(&list[i]);
    free(list);
}

const char *resync_progress_state(const ResyncStatus *s)
{
    return !s->alive ? "stopped" : s->queued ? "queued" : "copying";
}

static json_t *iso_or_null(int64_t us)
{
    char text[TIMEFMT_ISO_MAX];
    return us > 0 ? json_string(timefmt_iso(us, 0, text)) : json_null();
}

json_t *resync_progress_json(const ResyncStatus *s)
{
    json_t *targets = json_array();
    for (size_t i = 0; i < s->ntargets; i++)
        json_array_append_new(targets, json_string(s->targets[i]));
    return json_pack("{s:s, s:o, s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "table", s->table, "targets", targets,
                     "state", resync_progress_state(s), "why", s->why ? json_string(s->why) : json_null(), "rows",
                     (json_int_t)s->rows, "chunks", (json_int_t)s->chunk, "last_key",
                     s->after ? json_string(s->after) : json_null(), "started_at", iso_or_null(s->started_us),
                     "updated_at", iso_or_null(s->updated_us), "pid", s->pid > 0 ? json_integer(s->pid) : json_null());
}
