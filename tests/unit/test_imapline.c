/* SPDX-License-Identifier: MIT */
/* The IMAP line filter: which literal announcements and response codes reach libetpan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imapline.h"

#define MAX_LITERAL (1024 * 1024)

/* Filters line; returns what libetpan would see (static), or NULL when refused (*res says why). */
static const char *filter_kind(const char *line, iq_imap_line_kind kind, iq_imap_line_result *res)
{
    static char seen[4096];
    iq_buf out;
    iq_buf_init(&out, sizeof(seen) - 1);
    int rc = iq_imap_line_filter(line, strlen(line), kind, MAX_LITERAL, &out, res);
    if (rc == 0)
        snprintf(seen, sizeof(seen), "%s", out.data ? out.data : "");
    else
        assert_int_equal(out.len, 0);
    iq_buf_release(&out);
    return rc == 0 ? seen : NULL;
}

/* greeting: the first line of the connection, parsed without a parser context */
static const char *filter(const char *line, bool greeting, iq_imap_line_result *res)
{
    return filter_kind(line, greeting ? IQ_IMAP_LINE_GREETING : IQ_IMAP_LINE_START, res);
}

static void test_literals(void **state)
{
    (void)state;
    iq_imap_line_result res;
    const char *ok = "* 1 FETCH (UID 5 BODY[] {1024}\r\n";
    assert_string_equal(filter(ok, false, &res), ok);
    assert_int_equal(res.literal, 1024);
    assert_non_null(filter("A1 LOGIN {5+}\r\n", false, &res));
    assert_int_equal(res.literal, 5);
    assert_non_null(filter("* 1 FETCH (BODY[] {0000000005}\n", false, &res)); /* 10 digits */
    assert_int_equal(res.literal, 5);

    /* every other shape libetpan 1.9.4 takes for a literal is refused */
    static const char *const bad[] = {
        "* 1 FETCH (BODY[] { 5000000}\r\n", "* 1 FETCH (BODY[] {5000000 }\r\n",
        "* 1 FETCH (BODY[] {5}x)\r\n",      "* 1 FETCH (BODY[] {-1}\r\n",
        "* 1 FETCH (BODY[] {\t5}\r\n",      "* 1 FETCH (X \"open {5}\r\n",
        "* 1 FETCH (BODY[] {5} {6}\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(filter(bad[i], false, &res));
        assert_int_equal(res.error_class, IQ_ERR_PROTOCOL);
        assert_non_null(strstr(res.error, "literal"));
    }
    /* over the cap, or more digits than 32 bits hold (libetpan wraps them) */
    assert_null(filter("* 1 FETCH (BODY[] {1048577}\r\n", false, &res));
    assert_int_equal(res.error_class, IQ_ERR_SIZE_LIMIT);
    assert_non_null(strstr(res.error, "1048577"));
    assert_null(filter("* 1 FETCH (BODY[] {00000000005}\r\n", false, &res));
    assert_int_equal(res.error_class, IQ_ERR_SIZE_LIMIT);
    assert_null(filter("* 1 FETCH (BODY[] {4000000000}\r\n", false, &res));
    assert_int_equal(res.error_class, IQ_ERR_SIZE_LIMIT);

    /* a status line's text is never a literal to libetpan: nothing to refuse, nothing to skip */
    assert_non_null(filter("* OK [ALERT] {5000000}\r\n", false, &res));
    assert_int_equal(res.literal, 0);
    assert_non_null(filter("A1 NO quota { 5} left {7}\r\n", false, &res));
    assert_int_equal(res.literal, 0);
    assert_non_null(filter("+ {5}\r\n", false, &res));
    assert_int_equal(res.literal, 0);

    /* ... but after a literal, the line is the rest of a response, where libetpan reads them */
    assert_null(filter_kind("X OK {999999999}\r\n", IQ_IMAP_LINE_AFTER_LITERAL, &res));
    assert_int_equal(res.error_class, IQ_ERR_SIZE_LIMIT);
    assert_string_equal(
        filter_kind(" FLAGS (\\Seen) BODY[1] {4}\r\n", IQ_IMAP_LINE_AFTER_LITERAL, &res),
        " FLAGS (\\Seen) BODY[1] {4}\r\n");
    assert_true(res.literal_follows);
    assert_int_equal(res.literal, 4);
    assert_string_equal(
        filter_kind("A OK [BADCHARSET (x)] {0}\r\n", IQ_IMAP_LINE_AFTER_LITERAL, &res),
        "A OK [BADCHARSET (x)] {0}\r\n");
    assert_true(res.literal_follows);

    /* braces in quoted strings are text */
    const char *subj = "* 1 FETCH (ENVELOPE (NIL \"Order {12345} \\\"{9}\\\"\" NIL))\r\n";
    assert_string_equal(filter(subj, false, &res), subj);
    assert_int_equal(res.literal, 0);
    const char *lit_after_quote = "* 1 FETCH (ENVELOPE (\"a{1}\" {3}\r\n";
    assert_non_null(filter(lit_after_quote, false, &res));
    assert_int_equal(res.literal, 3);
}

static void test_codes_with_context(void **state)
{
    (void)state;
    iq_imap_line_result res;
    static const char *const kept[] = {
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        "* OK [UIDNEXT 4392] Predicted next UID\r\n",
        "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
        "* OK [PERMANENTFLAGS ()] none\r\n",
        "A142 OK [READ-WRITE] SELECT completed\r\n",
        "A1 OK [CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN] Logged in\r\n",
        "A3 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
        "A4 NO [ALERT] System going down\r\n",
        "* 12 FETCH (UID 5 FLAGS (\\Seen))\r\n",
    };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        assert_string_equal(filter(kept[i], false, &res), kept[i]);
        assert_false(res.code_cut);
    }
    static const struct {
        const char *in, *out;
    } cut[] = {
        {"* OK [BADCHARSET (UTF-8)] x\r\n", "* OK x\r\n"},
        {"* OK [PERMANENTFLAGS (\\)] Flags permitted.\r\n", "* OK Flags permitted.\r\n"},
        {"* OK [PERMANENTFLAGS (\\Seen \\Deleted)\r\n", "* OK .\r\n"},
        {"* OK [PERMANENTFLAGS (\001\001 \\Seen)] x\r\n", "* OK x\r\n"},
        {"* OK [UIDVALIDITY 12a] x\r\n", "* OK x\r\n"},
        {"* OK [REFERRAL imap://a/b] x\r\n", "* OK x\r\n"},
        {"a1 no [CAPABILITY \"IMAP4\"] x\r\n", "a1 no x\r\n"},
        {"* BYE [X-ODD (\"s\")]\r\n", "* BYE .\r\n"},
    };
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        assert_string_equal(filter(cut[i].in, false, &res), cut[i].out);
        assert_true(res.code_cut);
    }
}

/* The greeting and continuation requests: libetpan parses them without a parser context. */
static void test_codes_without_context(void **state)
{
    (void)state;
    iq_imap_line_result res;
    assert_string_equal(filter("* OK [BADCHARSET (UTF-8)] IMAP server ready\r\n", true, &res),
                        "* OK IMAP server ready\r\n");
    assert_string_equal(
        filter("* OK [PERMANENTFLAGS (\\Seen \\Deleted)] IMAP server ready\r\n", true, &res),
        "* OK IMAP server ready\r\n");
    assert_string_equal(filter("* OK [UIDNEXT 5] hi\r\n", true, &res), "* OK hi\r\n");
    const char *caps = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n";
    assert_string_equal(filter(caps, true, &res), caps);
    assert_string_equal(filter("* PREAUTH [ALERT] hi\r\n", true, &res), "* PREAUTH [ALERT] hi\r\n");
    /* continuation requests come at any time after the greeting */
    assert_string_equal(filter("+ [BADCHARSET (x)] go\r\n", false, &res), "+ go\r\n");
    assert_string_equal(filter("+ [UIDNEXT 5] go\r\n", false, &res), "+ go\r\n");
    assert_string_equal(filter("+ dGVzdA==\r\n", false, &res), "+ dGVzdA==\r\n");
    assert_string_equal(filter("+\r\n", false, &res), "+\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_codes_with_context),
        cmocka_unit_test(test_codes_without_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
