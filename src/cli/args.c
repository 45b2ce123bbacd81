/*
 * cli/args.c - see args.h. Parsing is one pass over argv that only checks
 * and records operands; the values are read back later by scanning argv
 * again with the same matcher, so a CliArgs owns nothing and a command can
 * return anywhere without freeing it.
 */
#include "cli/args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_operand(const char *arg) { return arg[0] != '-' || arg[1] == '\0'; }

/* The option arg names (exactly, or as "--name=..."), or NULL. *inline_value: the part after '='. */
static const CliOpt *match(const CliSpec *spec, const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (const CliOpt *o = spec->opts; o && o->name; o++) {
        size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n) != 0)
            continue;
        if (arg[n] == '\0')
            return o;
        if (arg[n] == '=') {
            *inline_value = arg + n + 1;
            return o;
        }
    }
    return NULL;
}

bool cli_args_parse(const CliSpec *spec, int argc, char **argv, bool stop_at_operand, CliArgs *out, int *next,
                    char *msg, size_t size)
{
    memset(out, 0, sizeof *out);
    out->spec = spec;
    out->argc = argc;
    out->argv = argv;
    int i = 1;
    bool options_done = false;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true; /* "--": only operands follow */
            if (stop_at_operand) {
                i++;
                break;
            }
            continue;
        }
        if (options_done || is_operand(arg)) {
            if (stop_at_operand)
                break;
            if (out->operand_count >= spec->max_operands || out->operand_count >= CLI_MAX_OPERANDS) {
                snprintf(msg, size, "unexpected argument \"%s\"", arg);
                return false;
            }
            out->operands[out->operand_count++] = arg;
            continue;
        }
        const char *v;
        const CliOpt *o = match(spec, arg, &v);
        /* an action's option is known only after that action (slot drop --force) */
        bool other_action = o && o->only && (out->operand_count == 0 || strcmp(out->operands[0], o->only) != 0);
        if (!o || (!o->arg && v) || other_action) {
            snprintf(msg, size, "unknown option \"%s\"", arg);
            return false;
        }
        if (o->arg && !v) {
            if (i + 1 >= argc) {
                snprintf(msg, size, "%s needs a value (%s)", o->name, o->arg);
                return false;
            }
            v = argv[++i];
        }
        if (o->arg && !v[0]) {
            snprintf(msg, size, "%s needs a value (%s), not an empty one", o->name, o->arg);
            return false;
        }
    }
    if (next)
        *next = i;
    if (!stop_at_operand && out->operand_count < spec->min_operands) {
        snprintf(msg, size, "missing %s", spec->operands ? spec->operands : "an argument");
        return false;
    }
    return true;
}

static const CliOpt *known(const CliArgs *a, const char *name)
{
    for (const CliOpt *o = a->spec->opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    fprintf(stderr, "wal2edge: internal error: option %s is not in the command's table\n", name);
    abort();
}

/* Visit the values of option `name` in order: the k-th one, or the count when k is past them. */
static const char *scan(const CliArgs *a, const char *name, size_t want, size_t *count)
{
    const CliOpt *target = known(a, name);
    size_t seen = 0;
    for (int i = 1; i < a->argc; i++) {
        if (strcmp(a->argv[i], "--") == 0)
            break;
        if (is_operand(a->argv[i]))
            continue;
        const char *v;
        const CliOpt *o = match(a->spec, a->argv[i], &v);
        if (o && o->arg && !v)
            v = a->argv[++i];
        if (o != target)
            continue;
        if (seen++ == want)
            return v ? v : "";
    }
    *count = seen;
    return NULL;
}

bool cli_args_flag(const CliArgs *a, const char *name) { return cli_args_count(a, name) > 0; }

size_t cli_args_count(const CliArgs *a, const char *name)
{
    size_t n = 0;
    scan(a, name, SIZE_MAX, &n);
    return n;
}

const char *cli_args_nth(const CliArgs *a, const char *name, size_t k)
{
    size_t n = 0;
    return scan(a, name, k, &n);
}

const char *cli_args_value(const CliArgs *a, const char *name)
{
    size_t n = cli_args_count(a, name);
    return n ? cli_args_nth(a, name, n - 1) : NULL;
}

bool cli_args_usage(const char *name, const CliSpec *spec, Buf *b, Err *err)
{
    bool ok = buf_append_str(b, name, err);
    if (ok && spec->operands)
        ok = buf_printf(b, err, spec->min_operands ? " %s" : " [%s]", spec->operands);
    for (const CliOpt *o = spec->opts; ok && o && o->name; o++)
        ok = !o->help || buf_printf(b, err, " [%s%s%s]%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
                        o->repeat ? "..." : "");
    return ok;
}

bool cli_args_help(const CliSpec *spec, Buf *b, Err *err)
{
    bool ok = true;
    for (const CliOpt *o = spec->opts; ok && o && o->name; o++) {
        if (!o->help)
            continue; /* an alias, such as -h */
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        ok = buf_printf(b, err, "  %-24s %s%s%s%s\n", head, o->help ? o->help : "", o->only ? " (" : "",
                        o->only ? o->only : "", o->only ? " only)" : "");
    }
    return ok;
}
