/*
 * targets/checkpoint.c - see checkpoint.h. A checkpoint is parsed into a copy
 * and assigned only when both halves are valid, so a corrupt row never leaves
 * a target with half a checkpoint.
 */
#include "targets/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/fs.h"
#include "core/mem.h"

bool checkpoint_parse(const char *commit_lsn, const char *end_lsn, TargetCheckpoint *out)
{
    TargetCheckpoint cp;
    Err sub;
    if (!commit_lsn || !end_lsn || !lsn_parse(commit_lsn, &cp.commit_lsn, &sub) || !lsn_parse(end_lsn, &cp.end_lsn, &sub))
        return false;
    *out = cp;
    return true;
}

bool checkpoint_read_sqlite(Sqlite *db, const char *query, const char *slot, const char *what,
                            TargetCheckpoint *out, Err *err)
{
    SqliteStmt *st = sqlite_prepare(db, query, err);
    if (!st)
        return false;
    bool ok = sqlite_bind_text(st, 1, slot, strlen(slot), err);
    int rc = ok ? sqlite_step(st, err) : -1;
    if (rc == 1 && !checkpoint_parse(sqlite_column_text(st, 0, NULL), sqlite_column_text(st, 1, NULL), out))
        ok = err_set(err, ERR_STORE, "%s: the %s of slot \"%s\" is corrupt", sqlite_path(db), what, slot);
    else if (rc < 0)
        ok = false;
    sqlite_finalize(st);
    return ok;
}

bool checkpoint_file_write(const char *path, const TargetCheckpoint *cp, int64_t offset, Err *err)
{
    char c[LSN_STR_MAX], e[LSN_STR_MAX];
    char *text = xasprintf("{\"commit_lsn\":\"%s\",\"end_lsn\":\"%s\",\"offset\":%lld}\n",
                           lsn_format(cp->commit_lsn, c), lsn_format(cp->end_lsn, e), (long long)offset);
    bool ok = fs_write_file_durably(path, ".tmp", text, strlen(text), 0600, err);
    free(text);
    return ok;
}

bool checkpoint_file_read(const char *path, const char *what, TargetCheckpoint *cp, int64_t *offset, bool *found,
                          Err *err)
{
    *found = false;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc && access(path, F_OK) != 0 && errno == ENOENT)
        return true;
    if (!doc)
        return err_set(err, ERR_IO, "%s \"%s\" is malformed: %s", what, path, jerr.text);
    json_t *off = json_object_get(doc, "offset");
    TargetCheckpoint read;
    bool ok = json_is_integer(off) && json_integer_value(off) >= 0 &&
              checkpoint_parse(json_string_value(json_object_get(doc, "commit_lsn")),
                               json_string_value(json_object_get(doc, "end_lsn")), &read);
    if (ok) {
        *cp = read;
        *offset = (int64_t)json_integer_value(off);
        *found = true;
    }
    json_decref(doc);
    return ok || err_set(err, ERR_IO, "%s \"%s\" is malformed", what, path);
}
