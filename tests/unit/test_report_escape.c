/* SPDX-License-Identifier: MIT */
/* Unit tests: CSV and HTML escaping of hostile account names, UTF-8 repair, LIKE escaping,
 * report labels and filters (terminal widths are test_table's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "i18n.h"
#include "report.h"
#include "report_escape.h"

#define FFFD "\xEF\xBF\xBD"

static void csv_is(const char *in, const char *want)
{
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    assert_int_equal(iq_csv_cell(&b, in), 0);
    assert_string_equal(b.data, want);
    iq_buf_release(&b);
}

static void html_is(const char *in, const char *want)
{
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    assert_int_equal(iq_html_escape(&b, in), 0);
    assert_string_equal(b.data, want);
    iq_buf_release(&b);
}

static void test_csv_formula_injection(void **state)
{
    (void)state;
    csv_is("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
    csv_is("+1+1", "'+1+1");
    csv_is("-2", "'-2");
    csv_is("@SUM(1)", "'@SUM(1)");
    csv_is("\tTAB", "'\tTAB");
    csv_is("\rCR", "\"'\rCR\"");
    csv_is("=1+1,2", "\"'=1+1,2\"");
    /* Only a leading character triggers the prefix. */
    csv_is("a=1", "a=1");
    csv_is("1-2", "1-2");
    csv_is("acct 1", "acct 1");
    csv_is("", "");
}

static void test_csv_quoting(void **state)
{
    (void)state;
    csv_is("a,b", "\"a,b\"");
    csv_is("say \"hi\"", "\"say \"\"hi\"\"\"");
    csv_is("line1\nline2", "\"line1\nline2\"");
    csv_is("line1\r\nline2", "\"line1\r\nline2\"");
    csv_is("\"", "\"\"\"\"");
    csv_is("<script>alert(1)</script>", "<script>alert(1)</script>");
    csv_is("São Paulo", "São Paulo");
}

static void test_csv_invalid_utf8(void **state)
{
    (void)state;
    csv_is("a\xff"
           "b",
           "a" FFFD "b");
    csv_is("\xC0\xAF", FFFD FFFD);                   /* overlong '/' */
    csv_is("x\xE2\x82", "x" FFFD FFFD);              /* truncated sequence */
    csv_is("\xED\xA0\x80", FFFD FFFD FFFD);          /* UTF-16 surrogate */
    csv_is("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
    csv_is("\xff=1", FFFD "=1");                     /* not a formula once repaired */
    csv_is("ok \xF0\x9F\x98\x80", "ok \xF0\x9F\x98\x80");
}

static void test_html_escape(void **state)
{
    (void)state;
    html_is("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
    html_is("\"><img onerror=x>", "&quot;&gt;&lt;img onerror=x&gt;");
    html_is("a&b'c", "a&amp;b&#39;c");
    html_is("=HYPERLINK(\"x\")", "=HYPERLINK(&quot;x&quot;)");
    html_is("a\xff<", "a" FFFD "&lt;");
    html_is("bell\x07", "bell" FFFD);
    html_is("tab\there", "tab\there");
    html_is("Conexão", "Conexão");
    html_is("", "");
}

static void test_like_escape(void **state)
{
    (void)state;
    char *s = iq_like_escape("100%_a\\b");
    assert_string_equal(s, "100\\%\\_a\\\\b");
    free(s);
    s = iq_like_escape("plain");
    assert_string_equal(s, "plain");
    free(s);
}

static void test_one_line(void **state)
{
    (void)state;
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    assert_int_equal(iq_utf8_one_line(&b, "a\r\nb\tc\x01\xff", 8), 0);
    assert_string_equal(b.data, "a  b c" FFFD FFFD);
    iq_buf_release(&b);
}

static void test_labels(void **state)
{
    (void)state;
    iq_lang l;
    assert_int_equal(iq_lang_parse("pt-BR", &l), 0);
    assert_int_equal(l, IQ_LANG_PT_BR);
    assert_int_equal(iq_lang_parse("pt_br", &l), 0);
    assert_int_equal(iq_lang_parse(NULL, &l), 0);
    assert_int_equal(l, IQ_LANG_EN);
    assert_int_equal(iq_lang_parse("fr", &l), -1);
    assert_string_equal(iq_msg_get(IQ_LANG_PT_BR, IQ_MSG_COL_CODE), "Código");
    assert_string_equal(iq_msg_get(IQ_LANG_PT_BR, IQ_MSG_COL_KEEP_COPY),
                        "Manter cópia no servidor");
    assert_string_equal(iq_msg_get(IQ_LANG_EN, IQ_MSG_COL_SECURE), "Secure connection");
    for (int m = 0; m < IQ_MSG__COUNT; m++) {
        assert_true(*iq_msg_get(IQ_LANG_EN, (iq_msg)m) != '\0');
        assert_true(*iq_msg_get(IQ_LANG_PT_BR, (iq_msg)m) != '\0');
    }
    char buf[64];
    iq_i18n_page_of(IQ_LANG_PT_BR, 2, 5, buf, sizeof(buf));
    assert_string_equal(buf, "Página 2 de 5");
    iq_i18n_page_of(IQ_LANG_EN, 1, 3, buf, sizeof(buf));
    assert_string_equal(buf, "Page 1 of 3");
}

static void test_filters_cli(void **state)
{
    (void)state;
    iq_report_filters f;
    iq_report_filters_init(&f);
    char *err = NULL;
    assert_int_equal(iq_report_filters_set(&f, "name", "O'Brien & co", &err), 0);
    assert_int_equal(iq_report_filters_set(&f, "secure", "yes", &err), 0);
    assert_int_equal(iq_report_filters_set(&f, "active", "all", &err), 0);
    assert_int_equal(f.active, -1);
    assert_int_equal(iq_report_filters_set(&f, "keep-copy", "no", &err), 0);
    char *args = iq_report_filters_args(&f);
    assert_string_equal(args, "--name 'O'\\''Brien & co' --secure yes --keep-copy no");
    free(args);
    assert_int_equal(iq_report_filters_set(&f, "secure", "maybe", &err), -1);
    assert_non_null(strstr(err, "--secure"));
    free(err);
    err = NULL;
    assert_int_equal(iq_report_filters_set(&f, "auto-check", "all", &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(iq_report_filters_set(&f, "name", "bad\nname", &err), -1);
    assert_non_null(strstr(err, "--name"));
    free(err);
    iq_report_filters_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_formula_injection),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_invalid_utf8),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_like_escape),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_filters_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
