/* Unit tests for core/err: the code table and message helpers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/err.h"

Test(err, table_names_are_unique_and_exit_codes_valid)
{
    for (int a = 0; a < ERR__COUNT; a++) {
        int code = err_exit_code(&(Err){.code = (ErrCode)a});
        cr_assert(code >= 0 && code <= 2, "exit code of %s", err_code_name((ErrCode)a));
        for (int b = a + 1; b < ERR__COUNT; b++)
            cr_assert_str_neq(err_code_name((ErrCode)a), err_code_name((ErrCode)b));
    }
}

Test(err, exit_codes_follow_the_interface)
{
    Err e;
    cr_assert_not(err_set(&e, ERR_CONFIG, "bad %s", "key"));
    cr_assert_eq(err_exit_code(&e), 2);
    cr_assert_str_eq(e.msg, "bad key");
    err_set(&e, ERR_USAGE, "x");
    cr_assert_eq(err_exit_code(&e), 2);
    err_set(&e, ERR_PG_CONNECT, "x");
    cr_assert_eq(err_exit_code(&e), 1);
    cr_assert(err_retryable(&e));
    err_set(&e, ERR_PROTOCOL, "x");
    cr_assert_eq(err_exit_code(&e), 1);
    cr_assert_not(err_retryable(&e));
    cr_assert_eq(err_exit_code(&(Err){.code = ERR_OK}), 0);
}

Test(err, sys_appends_strerror_and_keeps_errno)
{
    Err e;
    errno = ENOENT;
    err_sys(&e, ERR_IO, "opening \"%s\"", "x.jsonc");
    cr_assert_eq(e.sys_errno, ENOENT);
    cr_assert_str_eq(e.msg, "opening \"x.jsonc\": No such file or directory");
}

Test(err, prefix_adds_context_and_truncates_safely)
{
    Err e;
    err_set(&e, ERR_PG, "connection refused");
    err_prefix(&e, "doctor %d", 1);
    cr_assert_str_eq(e.msg, "doctor 1: connection refused");
    cr_assert_eq(e.code, ERR_PG);
    char long_prefix[2000];
    memset(long_prefix, 'a', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';
    err_prefix(&e, "%s", long_prefix);
    cr_assert_eq(strlen(e.msg), ERR_MSG_MAX - 1);
}

Test(err, prefix_name_once)
{
    Err e;
    err_set(&e, ERR_CF_API, "kv.cache: kv bulk write: http 500");
    err_prefix_name(&e, "kv.cache");
    cr_assert_str_eq(e.msg, "kv.cache: kv bulk write: http 500");
    err_set(&e, ERR_CF_API, "kv bulk write: http 500");
    err_prefix_name(&e, "kv.cache");
    cr_assert_str_eq(e.msg, "kv.cache: kv bulk write: http 500");
    /* named twice further down (the target prefixed its own message): once */
    err_set(&e, ERR_PROTOCOL, "kv.cache: kv.cache: a row of public.users arrived without its identity columns");
    err_prefix_name(&e, "kv.cache");
    cr_assert_str_eq(e.msg, "kv.cache: a row of public.users arrived without its identity columns");
    /* a longer name that merely starts the same way is not ours */
    err_set(&e, ERR_CF_API, "kv.cache2: x");
    err_prefix_name(&e, "kv.cache");
    cr_assert_str_eq(e.msg, "kv.cache: kv.cache2: x");
}
