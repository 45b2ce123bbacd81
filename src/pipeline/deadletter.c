/*
 * pipeline/deadletter.c - see deadletter.h.
 *
 * Refused rows are appended as one JSON line each to STATE_DIR/DEADLETTER_FILE.
 * The file is opened on the first line (O_APPEND, mode 0600, its directory synced
 * so the entry survives a crash); each line is built in a reused buffer, written
 * with a single write(2) and fdatasync'ed before the skip is reported, so a
 * skipped row is never lost. Values are cut at DEADLETTER_MAX_VALUE and key column
 * values at 256 bytes, with the cut marked. Counting for `status` reads the file
 * back with jansson, line by line, grouping by target.
 */
#include "pipeline/deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define KEY_VALUE_MAX 256          /* bytes of one key column's text */

struct DeadLetter {
    char *path;
    int fd;                        /* -1 until the first line */
    uint64_t appended;
    Buf line;
    DlObserver observer;
    void *observer_user;
    pthread_mutex_t mu;            /* line, fd, appended: targets on threads of their own share it */
};

void deadletter_observe(DeadLetter *dl, DlObserver fn, void *user)
{
    pthread_mutex_lock(&dl->mu);
    dl->observer = fn;
    dl->observer_user = user;
    pthread_mutex_unlock(&dl->mu);
}

DeadLetter *deadletter_new(const char *state_dir)
{
    DeadLetter *dl = xcalloc(1, sizeof *dl);
    dl->path = xasprintf("%s/%s", state_dir, DEADLETTER_FILE);
    dl->fd = -1;
    buf_init(&dl->line, DEADLETTER_MAX_LINE);
    pthread_mutex_init(&dl->mu, NULL);
    return dl;
}

void deadletter_free(DeadLetter *dl)
{
    if (!dl)
        return;
    if (dl->fd >= 0)
        close(dl->fd);
    buf_free(&dl->line);
    pthread_mutex_destroy(&dl->mu);
    free(dl->path);
    free(dl);
}

uint64_t deadletter_appended(const DeadLetter *dl)
{
    if (!dl)
        return 0;
    pthread_mutex_t *mu = (pthread_mutex_t *)&dl->mu; /* a read under the writers' lock */
    pthread_mutex_lock(mu);
    uint64_t n = dl->appended;
    pthread_mutex_unlock(mu);
    return n;
}

static bool str_field(Buf *b, const char *name, const char *s, size_t len, Err *err)
{
    return buf_printf(b, err, ",\"%s\":", name) && json_text_append_str(b, s ? s : "", s ? len : 0, err);
}

bool deadletter_line(const DlEntry *e, int64_t now_us, Buf *out, Err *err)
{
    char when[TIMEFMT_ISO_MAX], lsn[LSN_STR_MAX];
    buf_reset(out);
    size_t kept = e->value_len < DEADLETTER_MAX_VALUE ? e->value_len : DEADLETTER_MAX_VALUE;
    size_t key_len = e->key ? strlen(e->key) : 0;
    bool ok = buf_printf(out, err, "{\"time\":\"%s\"", timefmt_iso(now_us, 6, when)) &&
              str_field(out, "target", e->target, strlen(e->target), err) &&
              str_field(out, "table", e->table, e->table ? strlen(e->table) : 0, err) &&
              buf_printf(out, err, ",\"lsn\":\"%s\",\"xid\":%" PRIu32 ",\"key\":", lsn_format(e->commit_lsn, lsn),
                         e->xid) &&
              (key_len ? buf_append(out, e->key, key_len, err) : buf_append_str(out, "null", err)) &&
              str_field(out, "reason", e->reason, strlen(e->reason), err);
    if (ok && e->value)
        ok = str_field(out, "value", e->value, kept, err) &&
             buf_printf(out, err, ",\"value_bytes\":%zu,\"value_truncated\":%s", e->value_len,
                        kept < e->value_len ? "true" : "false");
    return ok && buf_append_str(out, "}\n", err);
}

static bool append_locked(DeadLetter *dl, const DlEntry *e, Err *err)
{
    if (!deadletter_line(e, clock_wall_us(), &dl->line, err))
        return false;
    if (dl->fd < 0) {
        if (!fs_mkdir_parents(dl->path, err))
            return false;
        dl->fd = open(dl->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (dl->fd < 0)
            return err_sys(err, ERR_IO, "cannot open the dead-letter file \"%s\"", dl->path);
        /* the file's directory entry must survive a crash as well as its lines */
        if (!fs_sync_parent_dir(dl->path, err))
            return false;
    }
    /* one write(2) of a whole line with O_APPEND: lines of concurrent writers do not interleave */
    if (!fs_write_all(dl->fd, dl->line.data, dl->line.len) || fdatasync(dl->fd) != 0)
        return err_sys(err, ERR_IO, "cannot append to the dead-letter file \"%s\"", dl->path);
    dl->appended++;
    return true;
}

bool deadletter_append(DeadLetter *dl, const DlEntry *e, Err *err)
{
    pthread_mutex_lock(&dl->mu);
    bool ok = append_locked(dl, e, err);
    pthread_mutex_unlock(&dl->mu);
    return ok;
}

bool deadletter_refuse(DeadLetter *dl, const DlPolicy *p, const DlEntry *e, Err *err)
{
    char lsn[LSN_STR_MAX];
    lsn_format(e->commit_lsn, lsn);
    if (p->skip && dl) {
        if (!deadletter_append(dl, e, err)) {
            err_prefix(err, "%s: skipping a row of %s at %s", e->target, e->table, lsn);
            return false;
        }
        pthread_mutex_lock(&dl->mu); /* not called once it is taken away */
        if (dl->observer)
            dl->observer(dl->observer_user, e->target, p->code);
        pthread_mutex_unlock(&dl->mu);
        LogCtx lc = {.component = e->target, .lsn = e->commit_lsn, .has_lsn = true};
        log_warn(&lc, "%s: skipped a change of %s, key %.200s, transaction %s (xid %" PRIu32
                 "): %s; recorded in %s (\"on_error\": \"skip\" in %s)",
                 e->target, e->table, e->key ? e->key : "null", lsn, e->xid, e->reason, dl->path, p->mapping_file);
        return true;
    }
    return err_set(err, p->code,
                   "%s: refused a change of %s, key %.200s, transaction at commit LSN %s (xid %" PRIu32
                   "): %s; the checkpoint stays before it. Set \"on_error\": \"skip\" in the \"%s\" section of "
                   "%s to skip such rows (recorded in STATE_DIR/" DEADLETTER_FILE "%s), or %s",
                   e->target, e->table, e->key ? e->key : "null", lsn, e->xid, e->reason, p->section,
                   p->mapping_file, p->skip ? "; this command keeps none, so it stops" : "",
                   p->ways_out ? p->ways_out : "fix the row in Postgres");
}

void deadletter_cols_json(const Rel *rel, const PgoTuple *tup, const char *const *cols, size_t ncols, size_t max,
                          Buf *out)
{
    Err ignored;
    buf_reset(out);
    bool ok = buf_append_str(out, "{", &ignored);
    bool first = true;
    for (size_t i = 0; ok && i < ncols; i++) {
        long at = -1;
        for (uint16_t k = 0; k < rel->ncols && at < 0; k++)
            if (strcmp(rel->cols[k].name, cols[i]) == 0)
                at = k;
        if (at < 0 || !tup || (size_t)at >= tup->ncols)
            continue;
        const PgoCol *c = &tup->cols[at];
        if (c->kind != PGO_COL_NULL && c->kind != PGO_COL_TEXT)
            continue;
        if (out->len > max)
            break;
        ok = (first || buf_append_str(out, ",", &ignored)) &&
             json_text_append_str(out, cols[i], strlen(cols[i]), &ignored) && buf_append_str(out, ":", &ignored);
        first = false;
        if (ok && c->kind == PGO_COL_NULL) {
            ok = buf_append_str(out, "null", &ignored);
        } else if (ok) {
            size_t n = c->len < KEY_VALUE_MAX ? c->len : KEY_VALUE_MAX;
            ok = json_text_append_str(out, (const char *)c->data, n, &ignored);
            if (ok && n < c->len) { /* mark the cut inside the string: "abc..." */
                out->len--;
                ok = buf_append_str(out, "...\"", &ignored);
            }
        }
    }
    if (ok)
        ok = buf_append_str(out, "}", &ignored);
    if (!ok) { /* cannot happen below the cap; keep the line valid JSON anyway */
        buf_reset(out);
        ok = buf_append_str(out, "null", &ignored);
    }
}

bool deadletter_count(const char *state_dir, DlCount *out, size_t max, size_t *count, Err *err)
{
    *count = 0;
    char *path = xasprintf("%s/%s", state_dir, DEADLETTER_FILE);
    FILE *f = fopen(path, "re");
    if (!f) {
        bool missing = errno == ENOENT;
        if (!missing)
            err_sys(err, ERR_IO, "cannot read the dead-letter file \"%s\"", path);
        free(path);
        return missing;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *doc = n <= DEADLETTER_MAX_LINE ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
        const char *target = json_string_value(json_object_get(doc, "target"));
        if (target) {
            size_t i = 0;
            while (i < *count && strcmp(out[i].target, target) != 0)
                i++;
            if (i == *count && *count < max) {
                snprintf(out[i].target, sizeof out[i].target, "%s", target);
                out[i].lines = 0;
                (*count)++;
            }
            if (i < *count)
                out[i].lines++;
        }
        json_decref(doc);
    }
    free(line);
    fclose(f);
    free(path);
    return true;
}
