/* SPDX-License-Identifier: MIT */
/* The POP3 reply parsers: status lines, the APOP timestamp, multi-line bodies split anywhere,
 * and the UIDL and LIST listings with every rule that keeps a maildrop's mail from being lost
 * or duplicated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "pop3reply.h"
#include "util.h"

static void test_status(void **state)
{
    (void)state;
    assert_int_equal(iq_pop3_status("+OK"), 1);
    assert_int_equal(iq_pop3_status("+OK 2 messages"), 1);
    assert_int_equal(iq_pop3_status("-ERR no such message"), 0);
    assert_int_equal(iq_pop3_status("-ERR"), 0);
    assert_int_equal(iq_pop3_status(""), -1);
    assert_int_equal(iq_pop3_status("+O"), -1);
    assert_int_equal(iq_pop3_status("-ER"), -1);
    assert_int_equal(iq_pop3_status("* OK IMAP"), -1);
    assert_int_equal(iq_pop3_status(" +OK"), -1);
}

static void test_apop_timestamp(void **state)
{
    (void)state;
    char ts[48];
    assert_true(
        iq_pop3_apop_timestamp("+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>", ts, sizeof(ts)));
    assert_string_equal(ts, "<1896.697170952@dbc.mtview.ca.us>");
    assert_true(iq_pop3_apop_timestamp("+OK <a@b> trailing <c@d>", ts, sizeof(ts)));
    assert_string_equal(ts, "<a@b>");
    /* none, no '@' inside, unclosed, '>' only before '<': no APOP (and no fallback decided here) */
    const char *none[] = {"+OK ready", "+OK <1896.697170952>", "+OK <a@b", "+OK a@b> <x"};
    for (size_t i = 0; i < sizeof(none) / sizeof(*none); i++) {
        memcpy(ts, "stale", 6);
        assert_false(iq_pop3_apop_timestamp(none[i], ts, sizeof(ts)));
        assert_string_equal(ts, "");
    }
    /* one that does not fit is refused, not cut */
    assert_false(iq_pop3_apop_timestamp("+OK <01234567890123456789012345678901234567890123@x>", ts,
                                        sizeof(ts)));
    assert_string_equal(ts, "");
    assert_true(iq_pop3_apop_timestamp("+OK <0123456789012345678901234567890123456789012@x>", ts,
                                       sizeof(ts)));
}

static int to_buf(void *ctx, const char *data, size_t len)
{
    return iq_buf_append(ctx, data, len);
}

static int refuse(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return -1;
}

/* Feeds wire in pieces of step bytes (the last one shorter); returns the feed's last result and
 * the body in out, *used_r the bytes consumed in all. */
static int feed_in_steps(const char *wire, size_t len, size_t step, uint64_t max, iq_buf *out,
                         size_t *used_r)
{
    iq_pop3_body b;
    iq_pop3_body_init(&b, max);
    size_t at = 0;
    int rc = 0;
    while (at < len && rc == 0) {
        size_t n = len - at < step ? len - at : step, used = 0;
        rc = iq_pop3_body_feed(&b, wire + at, n, &used, to_buf, out);
        assert_true(used <= n);
        if (rc == 0)
            assert_int_equal(used, n); /* all of it, unless the body ended */
        at += used;
    }
    *used_r = at;
    return rc;
}

/* A body read whole and read in pieces of every size from 1 byte on gives the same bytes. */
static void expect_body(const char *wire, const char *body, size_t rest)
{
    size_t len = strlen(wire);
    for (size_t step = 1; step <= len; step++) {
        iq_buf out;
        iq_buf_init(&out, 1 << 20);
        size_t used = 0;
        assert_int_equal(feed_in_steps(wire, len, step, 1 << 20, &out, &used), 1);
        assert_int_equal(out.len, strlen(body));
        if (out.len)
            assert_memory_equal(out.data, body, out.len);
        assert_int_equal(len - used, rest); /* what followed the lone dot stays unread */
        iq_buf_release(&out);
    }
}

static void test_body(void **state)
{
    (void)state;
    expect_body(".\r\n", "", 0);
    expect_body(".\n", "", 0);
    expect_body("a\r\nb\r\n.\r\n", "a\r\nb\r\n", 0);
    /* dot-stuffing undone, at the start and after any line */
    expect_body("..\r\n..x\r\n.y\r\n.\r\n", ".\r\n.x\r\ny\r\n", 0);
    /* ".\r" then no line feed: the dot was stuffing and the carriage return is data */
    expect_body(".\rz\r\n.\r\n", "\rz\r\n", 0);
    /* a dot inside a line, "\r." and "\n." that do not start lines */
    expect_body("a.b\r.\r\n\r\n.\r\n", "a.b\r.\r\n\r\n", 0);
    /* a pipelined reply after the body stays for the next read */
    expect_body("x\r\n.\r\n+OK 12 octets\r\n", "x\r\n", strlen("+OK 12 octets\r\n"));
    expect_body(".\r\n.\r\n", "", 3);
}

static void test_body_limits(void **state)
{
    (void)state;
    const char *wire = "0123456789\r\n.\r\n"; /* 12 bytes of body */
    for (size_t step = 1; step <= strlen(wire); step++) {
        iq_buf out;
        iq_buf_init(&out, 1 << 20);
        size_t used;
        assert_int_equal(feed_in_steps(wire, strlen(wire), step, 12, &out, &used), 1);
        assert_int_equal(out.len, 12);
        out.len = 0;
        assert_int_equal(feed_in_steps(wire, strlen(wire), step, 11, &out, &used),
                         IQ_ERR_SIZE_LIMIT);
        assert_true(out.len <= 11); /* nothing past the cap reached the reader */
        iq_buf_release(&out);
    }
    /* ".\r" + data counts the carriage return against the cap too */
    iq_pop3_body b;
    iq_pop3_body_init(&b, 0);
    size_t used;
    assert_int_equal(iq_pop3_body_feed(&b, ".\rx", 3, &used, NULL, NULL), IQ_ERR_SIZE_LIMIT);
    /* a reader that refuses stops the read */
    iq_pop3_body_init(&b, 100);
    assert_int_equal(iq_pop3_body_feed(&b, "abc\r\n.\r\n", 8, &used, refuse, NULL), -1);
    /* without a reader (a message already stored) the body is still read to its end */
    iq_pop3_body_init(&b, 100);
    assert_int_equal(iq_pop3_body_feed(&b, "abc\r\n.\r\n+OK", 11, &used, NULL, NULL), 1);
    assert_int_equal(used, 8);
    assert_int_equal(b.total, 5);
}

/* Parses a UIDL body; returns the class, entries in *e_r. */
static int uidl(const char *text, iq_pop3_entry **e_r, size_t *n_r, char **err_r)
{
    size_t len = strlen(text);
    char *copy = iq_xmalloc(len + 1);
    memcpy(copy, text, len + 1);
    int rc = iq_pop3_parse_uidl(copy, len, 0, e_r, n_r, err_r);
    free(copy);
    return rc;
}

static void test_uidl(void **state)
{
    (void)state;
    iq_pop3_entry *e;
    size_t n;
    char *err;
    assert_int_equal(uidl("3 c3\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 ~!x\r\n", &e, &n, &err), 0);
    assert_null(err);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].num, 1); /* sorted by number */
    assert_string_equal(e[0].uidl, "whqtswO00WBw418f9t5JxYwZ");
    assert_int_equal(e[1].num, 2);
    assert_string_equal(e[1].uidl, "~!x");
    assert_int_equal(e[2].num, 3);
    assert_int_equal(e[2].size, 0);
    iq_pop3_entries_free(e, n);
    /* the last line without its line end, and bare line feeds */
    assert_int_equal(uidl("1 a\n2 b", &e, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(e[1].uidl, "b");
    iq_pop3_entries_free(e, n);
    assert_int_equal(uidl("", &e, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(e);
    char uidl70[80], uidl71[80];
    snprintf(uidl70, sizeof(uidl70), "1 %070d\r\n", 7);
    snprintf(uidl71, sizeof(uidl71), "1 %071d\r\n", 7);
    assert_int_equal(uidl(uidl70, &e, &n, &err), 0);
    iq_pop3_entries_free(e, n);

    /* every malformed line refuses the whole listing, wherever it stands */
    const char *bad[] = {
        "1 a\r\n\r\n2 b\r\n", /* an empty line in the middle: the rest would be lost */
        "1a\r\n",             /* no space */
        "0 a\r\n",            /* message numbers start at 1 */
        "1000001 a\r\n",      /* more than a maildrop may list */
        "-1 a\r\n",
        "+1 a\r\n",
        "1 \r\n",            /* an empty UIDL */
        "1 a b\r\n",         /* a space inside */
        "1 a\tb\r\n",        /* a control character */
        "1 caf\xc3\xa9\r\n", /* 8-bit */
        "x 1\r\n",
        "1 a\r\n2 b\r\nzz\r\n",
        uidl71,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        e = (iq_pop3_entry *)&n;
        assert_int_equal(uidl(bad[i], &e, &n, &err), IQ_ERR_PROTOCOL);
        assert_null(e);
        assert_int_equal(n, 0);
        assert_string_equal(err, "malformed UIDL line from the server");
        free(err);
    }
    /* a NUL inside a line is not the line's end */
    char nul[] = "1 a\0b\r\n";
    assert_int_equal(iq_pop3_parse_uidl(nul, sizeof(nul) - 1, 0, &e, &n, &err), IQ_ERR_PROTOCOL);
    free(err);

    /* what would lose or duplicate mail */
    assert_int_equal(uidl("1 a\r\n2 b\r\n1 c\r\n", &e, &n, &err), IQ_ERR_PROTOCOL);
    assert_non_null(strstr(err, "listed message 1 twice"));
    free(err);
    assert_int_equal(uidl("3 same\r\n1 x\r\n2 same\r\n", &e, &n, &err), IQ_ERR_PROTOCOL);
    assert_non_null(strstr(err, "messages 2 and 3 the same UIDL"));
    free(err);
}

/* A listing of n lines "i u<i>" (duplicates none). */
static char *listing(size_t n, size_t *len_r)
{
    iq_buf b;
    iq_buf_init(&b, SIZE_MAX);
    for (size_t i = 1; i <= n; i++)
        assert_int_equal(iq_buf_appendf(&b, "%zu u%zu\r\n", i, i), 0);
    *len_r = b.len;
    return iq_buf_detach(&b, NULL);
}

static void test_deadline(void **state)
{
    (void)state;
    size_t len;
    char *body = listing(5000, &len);
    iq_pop3_entry *e;
    size_t n;
    char *err;
    /* a deadline already passed is seen within 4,096 lines */
    assert_int_equal(iq_pop3_parse_uidl(body, len, 1, &e, &n, &err), IQ_ERR_TIMEOUT);
    assert_string_equal(err, "the UIDL listing took past check_timeout");
    free(err);
    free(body);
    body = listing(5000, &len);
    assert_int_equal(iq_pop3_parse_uidl(body, len, iq_now_mono_ms() + 60000, &e, &n, &err), 0);
    assert_int_equal(n, 5000);
    free(body);
    body = listing(5000, &len);
    assert_int_equal(iq_pop3_parse_list(body, len, 1, e, n, &err), IQ_ERR_TIMEOUT);
    assert_string_equal(err, "the LIST listing took past check_timeout");
    free(err);
    free(body);
    iq_pop3_entries_free(e, n);
}

static void test_list(void **state)
{
    (void)state;
    iq_pop3_entry *e;
    size_t n;
    char *err;
    assert_int_equal(uidl("1 a\r\n2 b\r\n3 c\r\n", &e, &n, &err), 0);
    char list[] = "2 2000 extra\r\n1 100\r\n9 5\r\ngarbage\r\n3 x\r\n4\r\n"
                  "3 18446744073709551616\r\n";
    assert_int_equal(iq_pop3_parse_list(list, strlen(list), 0, e, n, &err), 0);
    assert_null(err);
    assert_int_equal(e[0].size, 100);
    assert_int_equal(e[1].size, 2000); /* what follows the size is ignored */
    assert_int_equal(e[2].size, 0);    /* nothing that parses: left 0 */
    char big[] = "3 18446744073709551615\n";
    assert_int_equal(iq_pop3_parse_list(big, strlen(big), 0, e, n, &err), 0);
    assert_true(e[2].size == UINT64_MAX);
    iq_pop3_entries_free(e, n);
    /* an empty listing and an empty maildrop */
    char one[] = "1 10\r\n";
    assert_int_equal(iq_pop3_parse_list(one, strlen(one), 0, NULL, 0, &err), 0);
    assert_int_equal(iq_pop3_parse_list(NULL, 0, 0, NULL, 0, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status), cmocka_unit_test(test_apop_timestamp),
        cmocka_unit_test(test_body),   cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_uidl),   cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
