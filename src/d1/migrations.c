/*
 * d1/migrations.c - see migrations.h.
 *
 * No migration state of its own: the directory is the state. Every NNNN_*.sql
 * file there is read and concatenated, and the next number is one past the
 * highest. A table whose exact CREATE TABLE text appears in that concatenation is
 * already migrated; one whose name appears with a different definition gets a
 * note asking for a hand-written ALTER (nothing is guessed); the rest go into one
 * new file. The checkpoint table comes first, or its position upgrade when an
 * older file created it without the column. Files are written to a temporary
 * name, fsynced and renamed, so wrangler never sees a half-written migration.
 */
#include "d1/migrations.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fs.h"
#include "core/mem.h"

#define MIGRATIONS_MAX_BYTES ((size_t)64 * 1024 * 1024)

void d1_migration_report_clear(MigrationReport *r)
{
    for (size_t i = 0; i < r->written_count; i++)
        free(r->written[i]);
    free(r->written);
    for (size_t i = 0; i < r->note_count; i++)
        free(r->notes[i]);
    free(r->notes);
    memset(r, 0, sizeof *r);
}

static void push(char ***list, size_t *count, char *s)
{
    *list = xrealloc(*list, (*count + 1) * sizeof **list);
    (*list)[(*count)++] = s;
}

static bool mkdir_p(const char *path, Err *err)
{
    char *p = xstrdup(path);
    bool ok = true;
    for (char *q = p + 1; ok; q++) {
        bool end = *q == '\0';
        if (*q == '/' || end) {
            *q = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                ok = err_sys(err, ERR_IO, "cannot create directory \"%s\"", p);
            if (end)
                break;
            *q = '/';
        }
    }
    free(p);
    return ok;
}

/* NNNN_*.sql */
static bool is_migration(const char *name, unsigned *num)
{
    size_t n = strlen(name);
    if (n < 9 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (unsigned)(name[i] - '0');
    }
    *num = v;
    return true;
}

static bool read_into(const char *path, Buf *b, Err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, ERR_IO, "cannot open \"%s\"", path);
    char chunk[8192];
    bool ok = true;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ok = err_sys(err, ERR_IO, "cannot read \"%s\"", path);
            break;
        }
        if (n == 0)
            break;
        if (!buf_append(b, chunk, (size_t)n, err)) {
            ok = false;
            break;
        }
    }
    close(fd);
    return ok;
}

/* All existing migrations of dir, concatenated; *next = the number after the highest. */
static bool existing(const char *dir, Buf *all, unsigned *next, Err *err)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return err_sys(err, ERR_IO, "cannot list \"%s\"", dir);
    unsigned max = 0;
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(dh)) != NULL) {
        unsigned num;
        if (!is_migration(de->d_name, &num))
            continue;
        if (num > max)
            max = num;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        ok = read_into(path, all, err) && buf_append(all, "\n", 1, err);
        free(path);
    }
    closedir(dh);
    *next = max + 1;
    return ok;
}

static bool write_file(const char *path, const char *text, Err *err)
{
    return fs_write_file_durably(path, ".tmp", text, strlen(text), 0644, err);
}

static char *slug(const char *s)
{
    char *out = xstrdup(s);
    for (char *p = out; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            *p = (char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            *p = '_';
    }
    return out;
}

static bool write_database(const D1Schema *s, const char *db, const char *dir, MigrationReport *out,
                           Err *err)
{
    if (!mkdir_p(dir, err))
        return false;
    Buf all;
    buf_init(&all, MIGRATIONS_MAX_BYTES);
    unsigned next = 0;
    bool ok = existing(dir, &all, &next, err);
    const char *have = all.data ? all.data : "";
    char *state_ddl = d1_ddl_state_table(), *upgrade = d1_ddl_state_upgrade();
    bool has_state = strstr(have, "CREATE TABLE IF NOT EXISTS \"" D1_STATE_TABLE "\"") != NULL;
    /* a directory written before the position: its upgrade as the next file */
    bool old_state = has_state && !strstr(have, state_ddl) && !strstr(have, upgrade);
    if (ok && (!has_state || old_state)) {
        char *text = has_state
            ? xasprintf("-- wal2edge: the checkpoint's read-your-writes position (end LSN as 16 hex "
                        "digits, compared as text)\n%s",
                        upgrade)
            : xasprintf("-- wal2edge: the replication checkpoint (slot, last applied commit "
                        "LSN), written in the same batch as the data\n%s",
                        state_ddl);
        char *path = xasprintf(has_state ? "%s/%04u_wal2edge_state_position.sql" : "%s/%04u_wal2edge_state.sql",
                               dir, next);
        ok = next <= 9999 && write_file(path, text, err);
        if (ok) {
            push(&out->written, &out->written_count, path);
            next++;
        } else {
            free(path);
        }
        free(text);
    }
    free(state_ddl);
    free(upgrade);
    Buf add;
    buf_init(&add, MIGRATIONS_MAX_BYTES);
    size_t added = 0;
    const char *first = NULL;
    for (size_t i = 0; ok && i < s->table_count; i++) {
        const D1Table *t = &s->tables[i];
        if (strcmp(t->database, db) != 0)
            continue;
        char *ddl = d1_ddl_table(t);
        Buf head;
        buf_init(&head, 4096);
        ok = buf_append_str(&head, "CREATE TABLE IF NOT EXISTS ", err) &&
             d1_quote_ident(&head, t->name, err) && buf_append_str(&head, " (", err);
        if (ok && strstr(have, ddl)) {
            /* already created by an earlier migration */
        } else if (ok && strstr(have, head.data)) {
            push(&out->notes, &out->note_count,
                 xasprintf("%s: D1 table \"%s\" differs from the one an earlier migration "
                           "created; write an ALTER TABLE migration for it by hand",
                           dir, t->name));
        } else if (ok) {
            ok = buf_printf(&add, err, "%s-- %s\n%s", added ? "\n" : "", t->source, ddl);
            if (!first)
                first = t->name;
            added++;
        }
        buf_free(&head);
        free(ddl);
    }
    if (ok && added) {
        char *what = slug(added == 1 ? first : db);
        char *path = xasprintf("%s/%04u_create_%s%s.sql", dir, next, what, added == 1 ? "" : "_tables");
        char *text = xasprintf("-- wal2edge: tables of D1 database \"%s\"\n%s", db, add.data);
        if (next > 9999)
            ok = err_set(err, ERR_IO, "\"%s\" already holds 9999 migrations", dir);
        else
            ok = write_file(path, text, err);
        if (ok)
            push(&out->written, &out->written_count, path);
        else
            free(path);
        free(what);
        free(text);
    }
    buf_free(&add);
    buf_free(&all);
    return ok;
}

bool d1_migrations_write(const D1Schema *s, const char *dir, MigrationReport *out, Err *err)
{
    memset(out, 0, sizeof *out);
    size_t n;
    char **dbs = d1_schema_databases(s, &n);
    bool ok = true;
    if (n == 0)
        ok = mkdir_p(dir, err);
    for (size_t i = 0; ok && i < n; i++) {
        char *sub = n == 1 ? xstrdup(dir) : xasprintf("%s/%s", dir, dbs[i]);
        ok = write_database(s, dbs[i], sub, out, err);
        free(sub);
    }
    for (size_t i = 0; i < n; i++)
        free(dbs[i]);
    free(dbs);
    return ok;
}

bool d1_migration_append(const char *dir, const char *name, const char *text, char **path_out, Err *err)
{
    *path_out = NULL;
    Buf all;
    buf_init(&all, (size_t)1 << 30);
    unsigned next = 1;
    bool ok = mkdir_p(dir, err) && existing(dir, &all, &next, err);
    buf_free(&all);
    if (!ok)
        return false;
    char *what = slug(name);
    char *path = xasprintf("%s/%04u_%s.sql", dir, next, what);
    free(what);
    if (!write_file(path, text, err)) {
        free(path);
        return false;
    }
    *path_out = path;
    return true;
}
