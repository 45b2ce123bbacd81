/* Unit tests for core/log: formats, levels, context and redaction. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/log.h"
#include "core/secret.h"

static char captured[8][4096];
static int captured_count;

static void capture(LogLevel level, const char *line, void *user)
{
    (void)level;
    (void)user;
    if (captured_count < 8)
        snprintf(captured[captured_count++], sizeof captured[0], "%s", line);
}

static void setup(void)
{
    captured_count = 0;
    log_set_sink(capture, NULL);
    log_redact_clear();
}

TestSuite(log, .init = setup);

Test(log, json_lines_carry_context)
{
    log_configure(LOG_INFO, LOG_FORMAT_JSON);
    LogCtx ctx = {.component = "stream", .slot = "s1", .lsn = 0x16B3748ULL, .has_lsn = true};
    log_info(&ctx, "received \"%s\"", "begin");
    cr_assert_eq(captured_count, 1);
    json_error_t jerr;
    json_t *doc = json_loads(captured[0], 0, &jerr);
    cr_assert_not_null(doc, "line is JSON: %s", captured[0]);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "component")), "stream");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "slot")), "s1");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "lsn")), "0/16B3748");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "msg")), "received \"begin\"");
    cr_assert_not_null(json_object_get(doc, "ts"));
    json_decref(doc);
}

Test(log, text_format_and_level_filter)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT);
    LogCtx ctx = {.component = "doctor"};
    log_info(&ctx, "hidden");
    log_warn(&ctx, "shown %d", 2);
    cr_assert_eq(captured_count, 1);
    cr_assert(strstr(captured[0], "WARN  doctor: shown 2"), "%s", captured[0]);
    log_error(NULL, "no context");
    cr_assert(strstr(captured[1], "ERROR wal2edge: no context"), "%s", captured[1]);
}

Test(log, secrets_are_redacted_in_every_format)
{
    Secret *s = secret_new("canary-SECRET-9f2c");
    cr_assert_str_eq(secret_display(s), "[redacted]");
    cr_assert_str_eq(secret_reveal(s), "canary-SECRET-9f2c");
    log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
    log_info(NULL, "token is canary-SECRET-9f2c and again canary-SECRET-9f2c");
    log_configure(LOG_DEBUG, LOG_FORMAT_TEXT);
    LogCtx ctx = {.component = "x", .slot = "canary-SECRET-9f2c"};
    log_error(&ctx, "%s", "canary-SECRET-9f2c");
    cr_assert_eq(captured_count, 2);
    for (int i = 0; i < captured_count; i++) {
        cr_assert_null(strstr(captured[i], "canary-SECRET-9f2c"), "leaked: %s", captured[i]);
        cr_assert_not_null(strstr(captured[i], "[redacted]"));
    }
    secret_free(s);
}

Test(log, fragments_and_short_secrets)
{
    Secret *s = secret_new("postgresql://u:hunter22@h/db");
    secret_add_fragment(s, "hunter22");
    char *out = log_redact("connect failed for password hunter22");
    cr_assert_str_eq(out, "connect failed for password [redacted]");
    free(out);
    secret_add_fragment(s, "ab"); /* too short to register: would mangle every line */
    out = log_redact("about abc");
    cr_assert_str_eq(out, "about abc");
    free(out);
    secret_free(s);
}

Test(log, parsers)
{
    LogLevel l;
    LogFormat f;
    cr_assert(log_level_parse("warning", &l) && l == LOG_WARN);
    cr_assert(log_level_parse("debug", &l) && l == LOG_DEBUG);
    cr_assert_not(log_level_parse("loud", &l));
    cr_assert(log_format_parse("json", &f) && f == LOG_FORMAT_JSON);
    cr_assert_not(log_format_parse("xml", &f));
}
