/* SPDX-License-Identifier: MIT */
/* Unit tests: terminal column widths (core/utf8, East Asian Width through utf8proc) and the two
 * text tables built on them, the CLI's (producer/table.c: audit, connector list, credential
 * list, runs) and the accounts report's (account list, report --format table): a CJK name and
 * an emoji name line up with ASCII ones, and ASCII tables are what they always were. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "i18n.h"
#include "report_sink.h"
#include "table.h"
#include "utf8.h"

#define CJK "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E" /* 日本語: 3 wide glyphs, 6 columns */
#define EMOJI "\xF0\x9F\x98\x80 ok"                /* 😀 ok: 2 + 3 columns */
#define COMBINING "e\xCC\x81t\xC3\xA9"             /* ét + é: combining acute, 3 columns */
#define FULLWIDTH "\xEF\xBC\xA1\xEF\xBC\xA2"       /* ＡＢ: fullwidth forms, 4 columns */
#define ZWSP                                                                                       \
    "a\xE2\x80\x8B"                                                                                \
    "b" /* a, zero-width space, b: 2 columns */

static void fit_is(const char *in, size_t width, int pad, const char *want)
{
    iq_buf b;
    iq_buf_init(&b, 1 << 20);
    assert_int_equal(iq_utf8_fit(&b, in, width, pad), 0);
    assert_string_equal(b.data, want);
    iq_buf_release(&b);
}

static void test_width_and_fit(void **state)
{
    (void)state;
    assert_int_equal(iq_utf8_width(""), 0);
    assert_int_equal(iq_utf8_width("héllo"), 5);
    assert_int_equal(iq_utf8_width(CJK), 6);
    assert_int_equal(iq_utf8_width(EMOJI), 5);
    assert_int_equal(iq_utf8_width(COMBINING), 3);
    assert_int_equal(iq_utf8_width(FULLWIDTH), 4);
    assert_int_equal(iq_utf8_width(ZWSP), 2);
    assert_int_equal(iq_utf8_width("\xED\x95\x9C"), 2); /* 한: Hangul syllable */
    assert_int_equal(iq_utf8_width("a\tb\x01"), 4);     /* control characters: 1 each */
    assert_int_equal(iq_utf8_width("a\xFF"
                                   "b"),
                     3);                            /* an invalid byte: 1, as U+FFFD */
    assert_int_equal(iq_utf8_cp_width(0x1F44D), 2); /* 👍 */
    assert_int_equal(iq_utf8_cp_width(0xFE0F), 0);  /* variation selector */
    assert_int_equal(iq_utf8_cp_width(0x20000), 2); /* CJK extension B */
    fit_is("héllo wörld", 6, 0, "héllo…");
    fit_is("héllo", 5, 0, "héllo");
    fit_is("héllo", 8, 1, "héllo   ");
    fit_is("ééé", 2, 0, "é…");
    fit_is("日本語", 5, 0, "日本…");
    fit_is("日本語", 4, 1, "日… "); /* a wide glyph is never half-shown */
    fit_is("abc", 1, 0, "…");
    /* The cut lands on a code point boundary: the result is always valid UTF-8. */
    for (size_t w = 1; w < 12; w++) {
        iq_buf b;
        iq_buf_init(&b, 1 << 20);
        assert_int_equal(iq_utf8_fit(&b, "ação 日本 😀 ok", w, 0), 0);
        for (size_t i = 0; i < b.len;) {
            uint32_t cp;
            size_t len = iq_utf8_decode(b.data + i, b.len - i, &cp);
            assert_true(len > 0);
            i += len;
        }
        assert_true(iq_utf8_width(b.data) <= w);
        iq_buf_release(&b);
    }
}

/* Runs print(arg) with a memory stream and returns what it wrote (caller frees). */
static char *capture(void (*print)(FILE *out, void *arg), void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    print(out, arg);
    assert_int_equal(fclose(out), 0);
    return text;
}

/* The terminal column where the first occurrence of needle starts in line, or -1. */
static long column_of(const char *line, const char *needle)
{
    const char *at = strstr(line, needle);
    if (!at)
        return -1;
    char *prefix = strndup(line, (size_t)(at - line));
    assert_non_null(prefix);
    long col = (long)iq_utf8_width(prefix);
    free(prefix);
    return col;
}

typedef struct grid {
    const char *const *cells;
    size_t nrows, ncols;
} grid;

static void print_grid(FILE *out, void *arg)
{
    const grid *g = arg;
    iq_table_fprint(out, g->cells, g->nrows, g->ncols);
}

static void test_cli_table_aligns_wide_names(void **state)
{
    (void)state;
    static const char *const cells[] = {
        "ID", "NAME",    "TYPE",  /**/
        "1",  "plain",   "http",  /**/
        "2",  CJK,       "socks", /**/
        "3",  EMOJI,     "http",  /**/
        "4",  FULLWIDTH, "http",  /**/
        "5",  COMBINING, "http",  /**/
    };
    grid g = {cells, 6, 3};
    char *text = capture(print_grid, &g);
    /* NAME is as wide as its widest cell (6 columns), plus the two-space gap. */
    assert_string_equal(text, "ID  NAME    TYPE\n"
                              "1   plain   http\n"
                              "2   " CJK "  socks\n"
                              "3   " EMOJI "   http\n"
                              "4   " FULLWIDTH "    http\n"
                              "5   " COMBINING "     http\n");
    /* The same, said as alignment: every row's third cell starts where TYPE does. */
    long want = column_of(text, "TYPE");
    assert_int_equal(want, 12);
    char *save = NULL;
    int row = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *third = cells[row * 3 + 2];
        assert_int_equal(column_of(line, third), want);
        row++;
    }
    assert_int_equal(row, 6);
    free(text);
}

/* ASCII tables are byte for byte what the code-point count printed. */
static void test_cli_table_ascii(void **state)
{
    (void)state;
    static const char *const cells[] = {"AT", "ACTOR", "CHANGES", "2026-01-01", "root", "x=1",
                                        "t",  "",      ""};
    grid g = {cells, 3, 3};
    char *text = capture(print_grid, &g);
    /* "t" padded to 10 + 2 columns, "" to 5 + 2, the last cell never padded */
    assert_string_equal(text, "AT          ACTOR  CHANGES\n"
                              "2026-01-01  root   x=1\n"
                              "t"
                              "           "
                              "       "
                              "\n");
    free(text);
}

typedef struct report_case {
    const iq_report_row *rows;
    size_t n;
    int width;
} report_case;

static void print_report(FILE *out, void *arg)
{
    const report_case *rc = arg;
    iq_report_ctx ctx = {.lang = IQ_LANG_EN, .out = out, .width = rc->width};
    ctx.total = ctx.count = (int64_t)rc->n;
    for (size_t i = 0; i < rc->n; i++) {
        /* what report.c measures before streaming: the widest name in terminal columns */
        if (rc->rows[i].id > ctx.max_id)
            ctx.max_id = rc->rows[i].id;
        if ((int64_t)iq_utf8_width(rc->rows[i].name) > ctx.max_name)
            ctx.max_name = (int64_t)iq_utf8_width(rc->rows[i].name);
    }
    void *st = NULL;
    assert_int_equal(iq_report_sink_table.begin(&ctx, &st), 0);
    for (size_t i = 0; i < rc->n; i++)
        assert_int_equal(iq_report_sink_table.row(&ctx, st, &rc->rows[i], (int64_t)i), 0);
    assert_int_equal(iq_report_sink_table.end(&ctx, st), 0);
    iq_report_sink_table.free(st);
    assert_null(ctx.error);
}

static void test_report_table_aligns_wide_names(void **state)
{
    (void)state;
    const iq_report_row rows[] = {
        {1, "plain", true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
        {2, CJK, true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
        {3, EMOJI, true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
        {14, FULLWIDTH, true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
        {15, COMBINING, true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
    };
    report_case rc = {rows, IQ_ARRAY_LEN(rows), 200};
    char *text = capture(print_report, &rc);
    /* Every name is shown whole (the column is as wide as the widest in columns, not in code
     * points), and the column after it starts at one terminal column on every line. */
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    assert_non_null(line); /* the header */
    long want = column_of(line, "Secure");
    assert_true(want > 0);
    while ((line = strtok_r(NULL, "\n", &save)) && line[0] != '-')
        ; /* a second header line */
    assert_non_null(line);
    /* the dashes under Secure (the third run) start there too */
    const char *dashes = line ? line : "";
    long runs = 0, col = 0;
    for (const char *p = dashes; *p; p++, col++)
        if (*p == '-' && (p == dashes || p[-1] == ' ') && ++runs == 3)
            break;
    assert_int_equal(col, want);
    size_t n = 0;
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_true(n < IQ_ARRAY_LEN(rows));
        assert_non_null(strstr(line, rows[n].name));
        assert_int_equal(column_of(line, "Yes"), want);
        n++;
    }
    assert_int_equal(n, IQ_ARRAY_LEN(rows));
    free(text);
}

/* A narrow terminal still cuts a wide name on a glyph boundary and keeps the columns. */
static void test_report_table_narrow(void **state)
{
    (void)state;
    const iq_report_row rows[] = {
        {1, "a rather long plain account name", true, "ssl", "imap", 993, true, true, true, "ok",
         "auto"},
        {2, CJK CJK CJK CJK, true, "ssl", "imap", 993, true, true, true, "ok", "auto"},
    };
    report_case rc = {rows, IQ_ARRAY_LEN(rows), 80};
    char *text = capture(print_report, &rc);
    char *save = NULL;
    long want = -1;
    size_t lines = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lines++;
        long col = column_of(line, "Yes");
        if (col < 0)
            continue;
        if (want < 0)
            want = col;
        assert_int_equal(col, want);
        assert_true(iq_utf8_width(line) <= 80);
    }
    assert_true(want > 0);
    assert_true(lines >= 4);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_width_and_fit),
        cmocka_unit_test(test_cli_table_aligns_wide_names),
        cmocka_unit_test(test_cli_table_ascii),
        cmocka_unit_test(test_report_table_aligns_wide_names),
        cmocka_unit_test(test_report_table_narrow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
