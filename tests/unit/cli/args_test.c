/* Unit tests for cli/args: the accepted forms of options and operands, every usage error's
 * message, values read back in order, action-bound options, and the generated usage and help. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"

static const CliOpt opts[] = {
    {"--flag", NULL, false, NULL, "a flag"},
    {"--name", "N", false, NULL, "a value"},
    {"--item", "X", true, NULL, "repeated"},
    {"--flagged", NULL, false, NULL, "a flag whose name starts like another"},
    {"--force", NULL, false, "drop", "only with drop"},
    {"-q", NULL, false, NULL, NULL},
    {NULL, NULL, false, NULL, NULL},
};
static const CliSpec spec = {"ACTION", 0, 1, opts};

/* A mutable argv (the parser takes main's char **) copied from words; returns argc. */
static char store[16][64];
static char *argv_buf[17];
static int mk(const char *const *words)
{
    int n = 0;
    for (; words[n]; n++) {
        snprintf(store[n], sizeof store[n], "%s", words[n]);
        argv_buf[n] = store[n];
    }
    argv_buf[n] = NULL;
    return n;
}
#define WORDS(...) ((const char *const[]){"cmd", __VA_ARGS__, NULL})
#define PARSE(ok_expected, ...)                                                                          \
    do {                                                                                                 \
        int n_ = mk(WORDS(__VA_ARGS__));                                                                 \
        cr_assert_eq(cli_args_parse(&spec, n_, argv_buf, false, &a, NULL, msg, sizeof msg), ok_expected, \
                     "%s", msg);                                                                          \
    } while (0)

Test(args, forms_and_values)
{
    CliArgs a;
    char msg[128] = "";
    int n = mk(WORDS("--item", "a", "drop", "--name=n1", "--item=b", "--flag", "--name", "n2", "--item", "-c"));
    cr_assert(cli_args_parse(&spec, n, argv_buf, false, &a, NULL, msg, sizeof msg), "%s", msg);
    cr_assert(cli_args_flag(&a, "--flag"));
    cr_assert_not(cli_args_flag(&a, "--flagged"));
    cr_assert_str_eq(cli_args_value(&a, "--name"), "n2", "the last value wins");
    cr_assert_eq(cli_args_count(&a, "--item"), 3);
    cr_assert_str_eq(cli_args_nth(&a, "--item", 0), "a");
    cr_assert_str_eq(cli_args_nth(&a, "--item", 1), "b");
    cr_assert_str_eq(cli_args_nth(&a, "--item", 2), "-c", "a value may start with '-'");
    cr_assert_null(cli_args_nth(&a, "--item", 3));
    cr_assert_eq(a.operand_count, 1);
    cr_assert_str_eq(a.operands[0], "drop");
    cr_assert_null(cli_args_value(&(CliArgs){.spec = &spec, .argc = 1, .argv = argv_buf}, "--name"));
}

Test(args, usage_errors)
{
    CliArgs a;
    char msg[128];
    PARSE(false, "--nope");
    cr_assert_str_eq(msg, "unknown option \"--nope\"");
    PARSE(false, "--flag=1");
    cr_assert_str_eq(msg, "unknown option \"--flag=1\"", "a flag takes no value");
    PARSE(false, "--fla");
    cr_assert_str_eq(msg, "unknown option \"--fla\"", "no abbreviations");
    PARSE(false, "--name");
    cr_assert_str_eq(msg, "--name needs a value (N)");
    PARSE(false, "--name=");
    cr_assert_str_eq(msg, "--name needs a value (N), not an empty one");
    PARSE(false, "x", "y");
    cr_assert_str_eq(msg, "unexpected argument \"y\"");
    PARSE(false, "--force");
    cr_assert_str_eq(msg, "unknown option \"--force\"", "an action's option before any action");
    PARSE(false, "info", "--force");
    cr_assert_str_eq(msg, "unknown option \"--force\"", "another action's option");
    PARSE(true, "drop", "--force");
    PARSE(true, "--", "--flag");
    cr_assert_eq(a.operand_count, 1, "after --, only operands");
    cr_assert_str_eq(a.operands[0], "--flag");
    cr_assert_not(cli_args_flag(&a, "--flag"));

    static const CliSpec needs = {"FILE", 1, 1, NULL};
    int n = mk((const char *const[]){"cmd", NULL});
    cr_assert_not(cli_args_parse(&needs, n, argv_buf, false, &a, NULL, msg, sizeof msg));
    cr_assert_str_eq(msg, "missing FILE");
    n = mk(WORDS("-"));
    cr_assert(cli_args_parse(&needs, n, argv_buf, false, &a, NULL, msg, sizeof msg),
              "\"-\" alone is an operand (stdin)");
}

Test(args, stops_at_the_command)
{
    CliArgs a;
    char msg[128];
    int next = 0;
    int n = mk(WORDS("--name", "x", "run", "--other"));
    cr_assert(cli_args_parse(&spec, n, argv_buf, true, &a, &next, msg, sizeof msg), "%s", msg);
    cr_assert_eq(next, 3);
    cr_assert_str_eq(cli_args_value(&a, "--name"), "x");
    n = mk(WORDS("--flag", "--", "run"));
    cr_assert(cli_args_parse(&spec, n, argv_buf, true, &a, &next, msg, sizeof msg), "%s", msg);
    cr_assert_eq(next, 3, "-- ends the options");
}

Test(args, usage_and_help_from_the_table)
{
    Buf b;
    Err e;
    buf_init(&b, 4096);
    cr_assert(cli_args_usage("cmd", &spec, &b, &e));
    cr_assert_str_eq(b.data, "cmd [ACTION] [--flag] [--name N] [--item X]... [--flagged] [--force]");
    buf_reset(&b);
    cr_assert(cli_args_help(&spec, &b, &e));
    cr_assert(strstr(b.data, "  --name N                 a value\n") != NULL, "%s", b.data);
    cr_assert(strstr(b.data, "  --force                  only with drop (drop only)\n") != NULL, "%s", b.data);
    cr_assert_null(strstr(b.data, "-q"), "aliases are left out");
    buf_free(&b);
}
