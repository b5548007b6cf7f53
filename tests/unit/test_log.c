/* Log lines as JSON (log_format = json): one valid object per line, every
 * byte a message may carry escaped, the module as "event"; and the text
 * format unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Run one LOGW with stderr sent to a file; its output into out. */
static void capture(enum log_format format, int partition, const char *msg, char *out, size_t len)
{
        FILE *f = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        assert_non_null(f);
        assert_true(saved >= 0);
        dup2(fileno(f), STDERR_FILENO);
        log_setup(7, LOG_DEBUG);
        log_set_format(format);
        LOGW(partition, "%s", msg);
        log_set_format(LOG_TEXT);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(f);
        n = fread(out, 1, len - 1, f);
        out[n] = '\0';
        fclose(f);
}

static void test_json_line(void **state)
{
        char out[2048];
        (void)state;
        capture(LOG_JSON, 3, "conn: a \"quoted\" \\ back\nslash \x01 and \xc3\xa9", out,
                sizeof out);
        assert_int_equal(strncmp(out, "{\"time\":\"", 9), 0);
        assert_non_null(strstr(out, "Z\",\"level\":\"warn\",\"node\":7,\"partition\":3,"
                                    "\"event\":\"conn\",\"msg\":\"conn: a \\\"quoted\\\" \\\\ "
                                    "back\\u000aslash \\u0001 and \\u00c3\\u00a9\","
                                    "\"src\":\"test_log.c:"));
        /* One line: the newline in the message was escaped. */
        assert_non_null(strchr(out, '\n'));
        assert_int_equal(strchr(out, '\n')[1], '\0');
}

static void test_json_node_wide_and_no_module(void **state)
{
        char out[2048];
        (void)state;
        capture(LOG_JSON, -1, "no colon here", out, sizeof out);
        assert_non_null(strstr(out, "\"partition\":null,\"event\":\"\",\"msg\":\"no colon here\""));
}

static void test_text_line(void **state)
{
        char out[2048];
        (void)state;
        capture(LOG_TEXT, -1, "server: hello", out, sizeof out);
        assert_non_null(strstr(out, "Z WARN node=7 part=- server: hello (test_log.c:"));
}

static void test_format_names(void **state)
{
        (void)state;
        assert_int_equal(log_format_parse("text"), LOG_TEXT);
        assert_int_equal(log_format_parse("json"), LOG_JSON);
        assert_int_equal(log_format_parse("xml"), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_json_line),
            cmocka_unit_test(test_json_node_wide_and_no_module),
            cmocka_unit_test(test_text_line),
            cmocka_unit_test(test_format_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
