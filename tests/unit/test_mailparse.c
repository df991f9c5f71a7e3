/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/mailparse.c: RFC 5322 header extraction, RFC 2047 decoding, dates with
 * zones, groups, caps, UTF-8 repair, and garbage that must never crash or leak bad text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "mailparse.h"
#include "util.h"

#define CLEAN_UTF8_CHECK(s) assert_clean(s, __LINE__)

/* Valid UTF-8 (sanitizing changes nothing) with no control character other than tab. */
static void assert_clean(const char *s, int line)
{
    if (!s)
        return;
    size_t len = strlen(s);
    char *again = iq_utf8_sanitize_dup(s, len, SIZE_MAX - 1);
    if (strcmp(again, s) != 0)
        fail_msg("line %d: output is not clean UTF-8", line);
    free(again);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            fail_msg("line %d: control character 0x%02x in output", line, c);
    }
}

static void parse(const char *raw, iq_msg_headers *h)
{
    iq_mail_parse_headers(raw, strlen(raw), h);
    CLEAN_UTF8_CHECK(h->message_id);
    CLEAN_UTF8_CHECK(h->from);
    CLEAN_UTF8_CHECK(h->to);
    CLEAN_UTF8_CHECK(h->subject);
}

static void test_plain(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("Return-Path: <bounce@example.com>\r\n"
          "From: \"John Doe\" <john@example.com>\r\n"
          "To: a@example.com, Bee <b@example.com>\r\n"
          "Subject: Hello world\r\n"
          "Date: Tue, 1 Jul 2003 10:52:37 +0300\r\n"
          "Message-ID: <abc.123@example.com>\r\n"
          "\r\n"
          "Subject: this is the body, not a header\r\n",
          &h);
    assert_string_equal(h.from, "John Doe <john@example.com>");
    assert_string_equal(h.to, "a@example.com, b@example.com");
    assert_string_equal(h.subject, "Hello world");
    assert_string_equal(h.message_id, "abc.123@example.com");
    assert_true(h.has_date);
    /* 10:52:37 at +0300 is 07:52:37 UTC. */
    assert_int_equal(h.date_ms, INT64_C(1057045957) * 1000);
    iq_msg_headers_release(&h);
    assert_null(h.from);
    iq_msg_headers_release(&h); /* twice is fine */
    iq_msg_headers_release(NULL);
}

/* Texts without encoded words skip libetpan's decoder; both paths must agree on what a reader
 * sees: one space between words, nothing at the ends, special characters kept. */
static void test_plain_texts(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"Re: [list] \"quoted\" (comment) <x@y> a=b?c",
         "Re: [list] \"quoted\" (comment) <x@y> a=b?c"},
        {"Caf\xc3\xa9 \xe2\x82\xac 5", "Caf\xc3\xa9 \xe2\x82\xac 5"},
        {"two  spaces\tand tab", "two spaces and tab"},
        {"=?not-encoded", "=?not-encoded"},
        {"a =?UTF-8?Q?b?=  c", "a b c"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char raw[256];
        snprintf(raw, sizeof(raw), "Subject: %s\r\nFrom: \"%s\" <f@example.org>\r\n\r\n",
                 cases[i][0], cases[i][0]);
        iq_msg_headers h;
        parse(raw, &h);
        assert_string_equal(h.subject, cases[i][1]);
        iq_msg_headers_release(&h);
    }
}

static void test_lf_only_and_addr_alone(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("From: solo@example.org\nSubject:   padded   \nDate: 1 Jul 03 10:52 EST\n\nbody\n", &h);
    assert_string_equal(h.from, "solo@example.org");
    assert_string_equal(h.subject, "padded");
    assert_true(h.has_date);
    /* Two-digit year (RFC 5322 4.3) and EST = -0500: 15:52:00 UTC. */
    assert_int_equal(h.date_ms, (INT64_C(1057074757) - 37) * 1000);
    iq_msg_headers_release(&h);
}

static void test_rfc2047(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("From: =?ISO-8859-1?B?SvxyZ2VuIE38bGxlcg==?= <jm@example.de>\r\n"
          "Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?= and "
          "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4oCTIOKckw==?="
          "\r\n\r\n",
          &h);
    assert_string_equal(h.from, "J\xc3\xbcrgen M\xc3\xbcller <jm@example.de>");
    assert_string_equal(h.subject, "Caf\xc3\xa9 cr\xc3\xa8me and Gr\xc3\xbc\xc3\x9f"
                                   "e aus K\xc3\xb6ln \xe2\x80\x93 \xe2\x9c\x93");
    iq_msg_headers_release(&h);

    parse("From: =?utf-8?q?=C3=89lodie?= <e@example.fr>\r\n"
          "Subject: =?utf-8?B?w4lsb2RpZQ==?=\r\n"
          "  =?utf-8?Q?_encore?=\r\n\r\n",
          &h);
    assert_string_equal(h.from, "\xc3\x89lodie <e@example.fr>");
    /* Whitespace between adjacent encoded words is dropped (RFC 2047 6.2). */
    assert_string_equal(h.subject, "\xc3\x89lodie encore");
    iq_msg_headers_release(&h);

    /* Raw UTF-8 passes through; unknown charsets and broken base64 do not crash. */
    parse("Subject: d\xc3\xa9j\xc3\xa0 vu =?x-unknown?Q?abc?= =?utf-8?B?!!!?=\r\n\r\n", &h);
    assert_non_null(h.subject);
    assert_non_null(strstr(h.subject, "d\xc3\xa9j\xc3\xa0 vu"));
    iq_msg_headers_release(&h);
}

static void test_folded(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("Subject: This is\r\n a folded\r\n\tsubject\r\n"
          "To: one@example.com,\r\n two@example.com\r\n"
          "Message-ID:\r\n <folded@example.com>\r\n\r\n",
          &h);
    assert_non_null(h.subject);
    assert_non_null(strstr(h.subject, "This is a folded"));
    assert_non_null(strstr(h.subject, "subject"));
    assert_null(strchr(h.subject, '\r'));
    assert_null(strchr(h.subject, '\n'));
    assert_string_equal(h.to, "one@example.com, two@example.com");
    assert_string_equal(h.message_id, "folded@example.com");
    iq_msg_headers_release(&h);
}

static void test_groups(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("To: Team: a@x.org, \"B\" <b@x.org>;, c@y.org, Undisclosed recipients:;\r\n\r\n", &h);
    assert_string_equal(h.to, "a@x.org, b@x.org, c@y.org");
    iq_msg_headers_release(&h);

    parse("To: undisclosed-recipients:;\r\n\r\n", &h);
    assert_null(h.to);
    iq_msg_headers_release(&h);
}

static void test_missing(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("Subject: only this\r\n\r\nFrom: body@example.com\r\n", &h);
    assert_string_equal(h.subject, "only this");
    assert_null(h.from);
    assert_null(h.to);
    assert_null(h.message_id);
    assert_false(h.has_date);
    assert_int_equal(h.date_ms, 0);
    iq_msg_headers_release(&h);

    iq_mail_parse_headers("", 0, &h);
    assert_null(h.subject);
    iq_mail_parse_headers(NULL, 0, &h);
    assert_null(h.subject);
    parse("\r\nFrom: not@header.example\r\n", &h); /* empty header block */
    assert_null(h.from);
    parse("Subject:\r\nFrom:\r\nDate: someday\r\nMessage-ID: <>\r\n\r\n", &h);
    assert_null(h.subject);
    assert_null(h.from);
    assert_false(h.has_date);
    assert_null(h.message_id);
    iq_msg_headers_release(&h);
}

static void test_dates(void **state)
{
    (void)state;
    static const struct {
        const char *date;
        bool ok;
        int64_t secs;
    } cases[] = {
        {"Tue, 1 Jul 2003 10:52:37 +0300", true, INT64_C(1057045957)},
        {"Tue, 1 Jul 2003 10:52:37 -0500", true, INT64_C(1057074757)},
        {"1 Jul 2003 07:52:37 +0000", true, INT64_C(1057045957)},
        {"Fri, 1 Mar 2024 01:30:00 +0200", true, INT64_C(1709249400)},
        {"Thu, 29 Feb 2024 23:30:00 GMT", true, INT64_C(1709249400)},
        {"Thu, 1 Jan 1970 00:00:00 +0000", true, 0},
        {"31 Feb 2023 10:00:00 +0000", false, 0},
        {"30 Feb 2024 10:00:00 +0000", false, 0},
        {"1 Jan 2024 25:00:00 +0000", false, 0},
        {"1 Jan 2024 10:00:00 +0070", false, 0},
        {"yesterday", false, 0},
    };
    for (size_t i = 0; i < IQ_ARRAY_LEN(cases); i++) {
        char *raw = iq_xasprintf("Date: %s\r\nSubject: x\r\n\r\n", cases[i].date);
        iq_msg_headers h;
        parse(raw, &h);
        if (h.has_date != cases[i].ok)
            fail_msg("Date: %s: has_date %d", cases[i].date, h.has_date);
        if (cases[i].ok && h.date_ms != cases[i].secs * 1000)
            fail_msg("Date: %s: got %lld", cases[i].date, (long long)h.date_ms);
        assert_string_equal(h.subject, "x");
        iq_msg_headers_release(&h);
        free(raw);
    }
}

static void test_invalid_utf8_and_controls(void **state)
{
    (void)state;
    iq_msg_headers h;
    parse("Subject: caf\xe9 \xff\xfe ok\r\n"
          "From: \"Bad \xc0\xaf Name\" <x@example.com>\r\n\r\n",
          &h);
    assert_string_equal(h.subject, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd ok");
    assert_string_equal(h.from, "Bad \xef\xbf\xbd\xef\xbf\xbd Name <x@example.com>");
    iq_msg_headers_release(&h);

    /* Control characters smuggled inside encoded words. */
    parse("Subject: =?UTF-8?Q?a=1Bb=0D=0Ac=07d=C2=85e?=\r\n\r\n", &h);
    assert_non_null(h.subject);
    assert_null(strchr(h.subject, 0x1B));
    assert_null(strchr(h.subject, 0x07));
    assert_null(strstr(h.subject, "\xc2\x85"));
    iq_msg_headers_release(&h);
}

static void test_sanitize(void **state)
{
    (void)state;
    char *s = iq_utf8_sanitize_dup("a\tb\r\nc\x01\x7f", 8, 100);
    assert_string_equal(s, "a\tb  c\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    /* Overlong, surrogate, beyond U+10FFFF, truncated sequence: one U+FFFD per byte. */
    s = iq_utf8_sanitize_dup("\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82", 14, 100);
    assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                           "\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    /* Valid 4-byte sequences and C1 controls. */
    s = iq_utf8_sanitize_dup("\xf0\x9f\x93\xa7\xc2\x85", 6, 100);
    assert_string_equal(s, "\xf0\x9f\x93\xa7\xef\xbf\xbd");
    free(s);
    /* The cap cuts on a character boundary. */
    s = iq_utf8_sanitize_dup("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 5);
    assert_string_equal(s, "\xc3\xa9\xc3\xa9");
    free(s);
    s = iq_utf8_sanitize_dup("\xff", 1, 2);
    assert_string_equal(s, "");
    free(s);
    s = iq_utf8_sanitize_dup(NULL, 0, 10);
    assert_string_equal(s, "");
    free(s);
    /* Embedded NUL is a control character. */
    s = iq_utf8_sanitize_dup("a\0b", 3, 10);
    assert_string_equal(s, "a\xef\xbf\xbd"
                           "b");
    free(s);
}

static void test_caps(void **state)
{
    (void)state;
    iq_buf raw;
    iq_buf_init(&raw, 1 << 20);
    assert_int_equal(iq_buf_append_str(&raw, "To: "), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(iq_buf_appendf(&raw, "%suser%04d@example.org", i ? ", " : "", i), 0);
    assert_int_equal(iq_buf_append_str(&raw, "\r\nSubject: "), 0);
    for (int i = 0; i < 700; i++)
        assert_int_equal(iq_buf_append_str(&raw, "\xc3\xa9"), 0); /* 1400 bytes */
    assert_int_equal(iq_buf_append_str(&raw, "\r\nFrom: "), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(iq_buf_append_char(&raw, 'n'), 0);
    assert_int_equal(iq_buf_append_str(&raw, " <long@example.org>\r\n\r\n"), 0);

    iq_msg_headers h;
    parse(raw.data, &h);
    assert_non_null(h.to);
    assert_true(strlen(h.to) <= IQ_MAIL_TO_MAX);
    assert_true(strlen(h.to) > IQ_MAIL_TO_MAX - 30);
    /* Whole addresses only. */
    size_t tl = strlen(h.to);
    assert_memory_equal(h.to + tl - 11, "example.org", 11);
    assert_false(h.to[tl - 1] == ' ' || h.to[tl - 1] == ',');
    assert_non_null(h.subject);
    assert_true(strlen(h.subject) <= IQ_MAIL_SUBJECT_MAX);
    assert_int_equal(strlen(h.subject) % 2, 0); /* cut between characters */
    assert_non_null(h.from);
    assert_true(strlen(h.from) <= IQ_MAIL_FROM_MAX);
    assert_non_null(strstr(h.from, "<long@example.org>"));
    iq_msg_headers_release(&h);
    iq_buf_release(&raw);
}

static void test_huge_line(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    char *raw = malloc(n + 128);
    assert_non_null(raw);
    memcpy(raw, "Message-ID: <big@example.com>\r\nSubject: ", 40);
    memset(raw + 40, 'a', n);
    size_t len = 40 + n;
    static const char tail[] = "\r\nFrom: late@example.com\r\n\r\nbody";
    memcpy(raw + len, tail, sizeof(tail) - 1);
    len += sizeof(tail) - 1;
    int64_t t0 = iq_now_mono_ms();
    iq_msg_headers h;
    iq_mail_parse_headers(raw, len, &h);
    int64_t took = iq_now_mono_ms() - t0;
    assert_string_equal(h.message_id, "big@example.com");
    assert_non_null(h.subject);
    assert_int_equal(strlen(h.subject), IQ_MAIL_SUBJECT_MAX);
    /* Beyond the first 256 KiB: never looked at. */
    assert_null(h.from);
    assert_true(took < 5000);
    iq_msg_headers_release(&h);
    free(raw);
}

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_garbage(void **state)
{
    (void)state;
    iq_msg_headers h;
    static const char *const pieces[] = {
        "From: ", "To: ",   "Subject: ", "Date: ", "Message-ID: ", "<",     ">",
        "@",      ",",      ":",         ";",      "\"",           "\\",    "=?",
        "?=",     "?Q?",    "?B?",       "\r\n",   "\n",           "\r\n ", " ",
        "\t",     "(",      ")",         "\0",     "\xff",         "\xc3",  "utf-8",
        "x@y.z",  "Mon, 1", " Jan ",     "2024 ",  "10:",          "+0300",
    };
    for (int round = 0; round < 3000; round++) {
        char buf[2048];
        size_t len = 0;
        size_t target = rng() % sizeof(buf);
        while (len < target) {
            if (rng() % 3 == 0) {
                buf[len++] = (char)(rng() & 0xFF);
            } else {
                const char *p = pieces[rng() % IQ_ARRAY_LEN(pieces)];
                size_t pl = p[0] ? strlen(p) : 1;
                if (len + pl > sizeof(buf))
                    break;
                memcpy(buf + len, p, pl);
                len += pl;
            }
        }
        iq_mail_parse_headers(buf, len, &h);
        CLEAN_UTF8_CHECK(h.message_id);
        CLEAN_UTF8_CHECK(h.from);
        CLEAN_UTF8_CHECK(h.to);
        CLEAN_UTF8_CHECK(h.subject);
        iq_msg_headers_release(&h);
    }
    /* Deeply nested comments (libetpan recurses on each "("): no stack overflow, and the
     * fields around them still parse. Escaped ")" must not fool the depth count. */
    static const char *const nests[] = {"(", "((\\)", "(\"\")", "("};
    for (size_t k = 0; k < IQ_ARRAY_LEN(nests); k++) {
        iq_buf big;
        iq_buf_init(&big, 1 << 20);
        assert_int_equal(iq_buf_append_str(&big, "Subject: ok ((( fine\r\n"), 0);
        /* One field per round, nearly the whole 256 KiB block: deep enough to overflow an
         * 8 MiB stack without the guard. */
        static const char *const fields[] = {"From: ", "To: ", "Date: ", "Message-ID: "};
        assert_int_equal(iq_buf_append_str(&big, fields[k % IQ_ARRAY_LEN(fields)]), 0);
        while (big.len < IQ_MAIL_HEADER_MAX - 4096)
            assert_int_equal(iq_buf_append_str(&big, nests[k]), 0);
        assert_int_equal(iq_buf_append_str(&big, "\r\n"), 0);
        assert_int_equal(iq_buf_append_str(&big, "Cc: x@example.com\r\n\r\n"), 0);
        iq_mail_parse_headers(big.data, big.len, &h);
        assert_string_equal(h.subject, "ok ((( fine");
        CLEAN_UTF8_CHECK(h.from);
        CLEAN_UTF8_CHECK(h.to);
        iq_msg_headers_release(&h);
        iq_buf_release(&big);
    }
    /* One bad line does not hide the fields after it. */
    parse("this is not a header\r\n\x01\x02\x03\r\n continued junk\r\nSubject: still found\r\n\r\n",
          &h);
    assert_string_equal(h.subject, "still found");
    iq_msg_headers_release(&h);
    /* Binary with NULs inside a header. */
    static const char bin[] = "Subject: a\0b\r\nFrom: x@example.com\r\n\r\n";
    iq_mail_parse_headers(bin, sizeof(bin) - 1, &h);
    assert_non_null(h.subject);
    assert_string_equal(h.from, "x@example.com");
    iq_msg_headers_release(&h);
}

/* Found by fuzzing (tests/fuzz/crashes/mailparse/): a Subject with a blank and 120,000 '(' before
 * its colon overflowed the stack (libetpan parses those comments recursively), and a Date zone
 * that libetpan reads as INT_MIN was negated (undefined behaviour). */
static void test_fuzz_findings(void **state)
{
    (void)state;
    size_t n = 120000;
    char *raw = iq_xmalloc(n + 64);
    size_t o = 0;
    memcpy(raw + o, "From: a@example.org\r\nSubject ", 30);
    o += 30;
    memset(raw + o, '(', n);
    o += n;
    memcpy(raw + o, ":x\r\n\r\n", 7);
    o += 7;
    iq_msg_headers h;
    iq_mail_parse_headers(raw, o, &h); /* on the previous code: SIGSEGV (stack overflow) */
    assert_non_null(h.from);
    iq_msg_headers_release(&h);
    free(raw);

    static const char date[] = "From: alice@example.org\r\nDate: Mon, 1 Jan 2024 00:00:00 "
                               "-2147483648\r\n\r\n";
    iq_mail_parse_headers(date, sizeof(date) - 1, &h);
    assert_false(h.has_date); /* refused: no date rather than a wrong one */
    assert_int_equal(h.date_ms, 0);
    iq_msg_headers_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_plain_texts),
        cmocka_unit_test(test_lf_only_and_addr_alone),
        cmocka_unit_test(test_rfc2047),
        cmocka_unit_test(test_folded),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_invalid_utf8_and_controls),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_fuzz_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
