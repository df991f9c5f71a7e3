/* SPDX-License-Identifier: MIT */
/* Unit tests: rows encoded in PostgreSQL's binary COPY format, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pgcopy.h"

static const unsigned char header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                       0,   0,   0,   0,   0,   0,   0,    0,    0};

static void begin(iq_pgcopy *w)
{
    char *err = NULL;
    assert_int_equal(iq_pgcopy_begin(w, NULL, NULL, &err), 0);
}

/* Ends the encoding and compares everything after the header with want. */
static void expect_body(iq_pgcopy *w, const unsigned char *want, size_t n)
{
    char st[6], *err = NULL;
    assert_int_equal(iq_pgcopy_end(w, st, &err), 0);
    assert_string_equal(st, "");
    assert_int_equal(w->buf.len, sizeof(header) + n + 2);
    assert_memory_equal(w->buf.data, header, sizeof(header));
    assert_memory_equal(w->buf.data + sizeof(header), want, n);
    assert_memory_equal(w->buf.data + sizeof(header) + n, "\xff\xff", 2);
    iq_pgcopy_abort(w);
}

static void test_empty(void **state)
{
    (void)state;
    iq_pgcopy w;
    begin(&w);
    expect_body(&w, NULL, 0);
}

static void test_scalars(void **state)
{
    (void)state;
    iq_pgcopy w;
    begin(&w);
    iq_pgcopy_row(&w, 4);
    iq_pgcopy_i64(&w, -2);
    iq_pgcopy_null(&w);
    iq_pgcopy_text(&w, "Olá");
    iq_pgcopy_text(&w, NULL);
    static const unsigned char want[] = {
        0,    4,                                                                /* fields */
        0,    0,    0,    8,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* -2 */
        0xff, 0xff, 0xff, 0xff,                                                 /* NULL */
        0,    0,    0,    4,    'O',  'l',  0xc3, 0xa1,                         /* UTF-8 text */
        0xff, 0xff, 0xff, 0xff};
    expect_body(&w, want, sizeof(want));
}

static void test_bytes_keep_every_byte(void **state)
{
    (void)state;
    iq_pgcopy w;
    begin(&w);
    iq_pgcopy_row(&w, 2);
    iq_pgcopy_bytes(&w, "a\0\r\n\\", 5);
    iq_pgcopy_bytes(&w, "", 0);
    static const unsigned char want[] = {0, 2, 0, 0, 0, 5, 'a', 0, '\r', '\n', '\\', 0, 0, 0, 0};
    expect_body(&w, want, sizeof(want));
}

/* A large value (sent directly when connected) is encoded in place without a connection. */
static void test_large_bytes(void **state)
{
    (void)state;
    size_t n = 100000;
    unsigned char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7);
    iq_pgcopy w;
    begin(&w);
    iq_pgcopy_row(&w, 1);
    iq_pgcopy_bytes(&w, big, n);
    unsigned char *want = malloc(n + 6);
    assert_non_null(want);
    memcpy(want, "\0\1\0\1\x86\xa0", 6); /* 1 field, length 100000 */
    memcpy(want + 6, big, n);
    expect_body(&w, want, n + 6);
    free(want);
    free(big);
}

static void test_timestamptz(void **state)
{
    (void)state;
    iq_pgcopy w;
    begin(&w);
    iq_pgcopy_row(&w, 3);
    iq_pgcopy_timestamptz_ms(&w, 946684801000LL); /* 2000-01-01T00:00:01Z: 1,000,000 us */
    iq_pgcopy_timestamptz_ms(&w, 0);              /* 1970: -946,684,800,000,000 us */
    iq_pgcopy_timestamptz_ms(&w, 946684800001LL); /* 1 ms after the PostgreSQL epoch */
    static const unsigned char want[] = {
        0, 3,                                                        /* fields */
        0, 0, 0, 8, 0,    0,    0,    0,    0,    0x0f, 0x42, 0x40,  /* 1000000 */
        0, 0, 0, 8, 0xff, 0xfc, 0xa2, 0xfe, 0xc4, 0xc8, 0x20, 0x00,  /* -946684800000000 */
        0, 0, 0, 8, 0,    0,    0,    0,    0,    0,    0x03, 0xe8}; /* 1000 */
    expect_body(&w, want, sizeof(want));
}

static void test_uuid(void **state)
{
    (void)state;
    iq_pgcopy w;
    begin(&w);
    iq_pgcopy_row(&w, 1);
    assert_int_equal(iq_pgcopy_uuid(&w, "87eed8b5-2bf1-4a1c-927F-1e7313209287"), 0);
    static const unsigned char want[] = {0,    1,    0,    0,    0,    16,   0x87, 0xee,
                                         0xd8, 0xb5, 0x2b, 0xf1, 0x4a, 0x1c, 0x92, 0x7f,
                                         0x1e, 0x73, 0x13, 0x20, 0x92, 0x87};
    expect_body(&w, want, sizeof(want));
}

static void test_uuid_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "87eed8b5-2bf1-4a1c-927f-1e731320928",   /* short */
        "87eed8b5-2bf1-4a1c-927f-1e73132092877", /* long */
        "87eed8b5x2bf1-4a1c-927f-1e7313209287",  /* no dash */
        "87eed8b5-2bf1-4a1c-927f-1e731320928g",  /* not hex */
        "87eed8b52-bf1-4a1c-927f-1e7313209287",  /* dash moved */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        iq_pgcopy w;
        begin(&w);
        size_t before = w.buf.len;
        assert_int_equal(iq_pgcopy_uuid(&w, bad[i]), -1);
        assert_int_equal(w.buf.len, before);
        iq_pgcopy_abort(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_bytes_keep_every_byte),
        cmocka_unit_test(test_large_bytes),
        cmocka_unit_test(test_timestamptz),

        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_uuid_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
