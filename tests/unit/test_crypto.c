/* SPDX-License-Identifier: MIT */
/* Unit tests of the vault's cryptography: AES-256-GCM round trips, every tampering and
 * misbinding failing, master key file checks, key ids and the rekey of one row. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "util.h"
#include "vault.h"

static const char secret[] = "correct horse battery staple";

static void make_key(uint8_t key[IQ_KEY_LEN], uint8_t seed)
{
    for (int i = 0; i < IQ_KEY_LEN; i++)
        key[i] = (uint8_t)(seed + i * 7);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t key[IQ_KEY_LEN];
    make_key(key, 1);
    iq_sealed s;
    char *err = NULL, *out = NULL;
    assert_int_equal(iq_credential_seal(key, 42, secret, &s, &err), 0);
    assert_int_equal(s.ct_len, strlen(secret));
    assert_memory_not_equal(s.ct, secret, s.ct_len); /* it is encrypted */
    assert_int_equal(iq_credential_open(key, 42, &s, &out, &err), 0);
    assert_string_equal(out, secret);
    iq_secret_free(&out);
    assert_null(out);
    iq_sealed_release(&s);

    /* The empty plaintext is fine at this level (the vault refuses it, not the cipher). */
    assert_int_equal(iq_credential_seal(key, 1, "", &s, &err), 0);
    assert_int_equal(iq_credential_open(key, 1, &s, &out, &err), 0);
    assert_string_equal(out, "");
    free(out);
    iq_sealed_release(&s);
}

static void test_fresh_nonce(void **state)
{
    (void)state;
    uint8_t key[IQ_KEY_LEN];
    make_key(key, 2);
    iq_sealed a, b;
    char *err = NULL;
    assert_int_equal(iq_credential_seal(key, 7, secret, &a, &err), 0);
    assert_int_equal(iq_credential_seal(key, 7, secret, &b, &err), 0);
    assert_memory_not_equal(a.nonce, b.nonce, IQ_NONCE_LEN);
    assert_memory_not_equal(a.ct, b.ct, a.ct_len);
    iq_sealed_release(&a);
    iq_sealed_release(&b);
}

/* Opening must fail and leave no output. */
static void assert_open_fails(const uint8_t key[IQ_KEY_LEN], int64_t id, const iq_sealed *s)
{
    char sentinel[] = "sentinel";
    char *out = sentinel, *err = NULL;
    assert_int_equal(iq_credential_open(key, id, s, &out, &err), -1);
    assert_null(out);
    assert_non_null(err);
    assert_non_null(strstr(err, "does not authenticate"));
    assert_null(strstr(err, secret));
    free(err);
}

static void test_tampering_fails(void **state)
{
    (void)state;
    uint8_t key[IQ_KEY_LEN];
    make_key(key, 3);
    iq_sealed s;
    char *err = NULL;
    assert_int_equal(iq_credential_seal(key, 9, secret, &s, &err), 0);
    for (size_t i = 0; i < s.ct_len; i++) { /* every ciphertext byte */
        s.ct[i] ^= 0x01;
        assert_open_fails(key, 9, &s);
        s.ct[i] ^= 0x01;
    }
    for (size_t i = 0; i < IQ_TAG_LEN; i++) {
        s.tag[i] ^= 0x80;
        assert_open_fails(key, 9, &s);
        s.tag[i] ^= 0x80;
    }
    for (size_t i = 0; i < IQ_NONCE_LEN; i++) {
        s.nonce[i] ^= 0x10;
        assert_open_fails(key, 9, &s);
        s.nonce[i] ^= 0x10;
    }
    /* A truncated ciphertext. */
    s.ct_len--;
    assert_open_fails(key, 9, &s);
    s.ct_len++;
    /* Untouched, it still opens. */
    char *out = NULL;
    assert_int_equal(iq_credential_open(key, 9, &s, &out, &err), 0);
    iq_secret_free(&out);
    iq_sealed_release(&s);
}

static void test_wrong_key_fails(void **state)
{
    (void)state;
    uint8_t key[IQ_KEY_LEN], other[IQ_KEY_LEN];
    make_key(key, 4);
    make_key(other, 5);
    iq_sealed s;
    char *err = NULL;
    assert_int_equal(iq_credential_seal(key, 11, secret, &s, &err), 0);
    assert_open_fails(other, 11, &s);
    other[0] = key[0];
    memcpy(other, key, IQ_KEY_LEN);
    other[31] ^= 1; /* one bit off */
    assert_open_fails(other, 11, &s);
    iq_sealed_release(&s);
}

static void test_moved_row_fails(void **state)
{
    (void)state;
    uint8_t key[IQ_KEY_LEN];
    make_key(key, 6);
    iq_sealed s;
    char *err = NULL;
    assert_int_equal(iq_credential_seal(key, 12, secret, &s, &err), 0);
    assert_open_fails(key, 13, &s); /* copied into another row */
    assert_open_fails(key, 1, &s);
    assert_open_fails(key, 120, &s); /* "12" is a prefix of "120": still bound exactly */
    char aad[48];
    assert_int_equal(iq_credential_aad(12, aad, sizeof(aad)), strlen("inboxq-credential:12"));
    assert_string_equal(aad, "inboxq-credential:12");
    iq_sealed_release(&s);
}

static void test_key_id(void **state)
{
    (void)state;
    uint8_t zero[IQ_KEY_LEN] = {0};
    char id[IQ_KEY_ID_LEN + 1];
    iq_key_id(zero, id);
    /* SHA-256 of 32 zero bytes = 66687aadf862bd776c8fc18b8e9f8e20... */
    assert_string_equal(id, "66687aadf862bd77");
    uint8_t key[IQ_KEY_LEN];
    make_key(key, 7);
    char id2[IQ_KEY_ID_LEN + 1];
    iq_key_id(key, id2);
    assert_int_equal(strlen(id2), 16);
    assert_string_not_equal(id, id2);
}

/* Writes n bytes to a fresh file with mode; returns its path (static buffer). */
static const char *key_file(const char *dir, const char *name, size_t n, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fputc((int)(i * 13 + 1), f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/iq-test-crypto-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint8_t key[IQ_KEY_LEN];
    char *err = NULL;

    const char *p = key_file(dir, "good", 32, 0600);
    assert_int_equal(iq_master_key_load(p, key, &err), 0);
    for (size_t i = 0; i < IQ_KEY_LEN; i++)
        assert_int_equal(key[i], (uint8_t)(i * 13 + 1));
    unlink(p);

    p = key_file(dir, "ro", 32, 0400);
    assert_int_equal(iq_master_key_load(p, key, &err), 0);
    unlink(p);

    p = key_file(dir, "short", 31, 0600);
    assert_int_equal(iq_master_key_load(p, key, &err), -1);
    assert_non_null(strstr(err, "31 bytes"));
    assert_non_null(strstr(err, "exactly 32"));
    free(err);
    err = NULL;
    unlink(p);

    p = key_file(dir, "long", 33, 0600);
    assert_int_equal(iq_master_key_load(p, key, &err), -1);
    assert_non_null(strstr(err, "33 bytes"));
    free(err);
    err = NULL;
    unlink(p);

    p = key_file(dir, "empty", 0, 0600);
    assert_int_equal(iq_master_key_load(p, key, &err), -1);
    free(err);
    err = NULL;
    unlink(p);

    /* group-read of a file we (or root) own is allowed: systemd credentials and Kubernetes
     * secret volumes with fsGroup look like that */
    p = key_file(dir, "group-read", 32, 0440);
    assert_int_equal(iq_master_key_load(p, key, &err), 0);
    unlink(p);

    static const mode_t open_modes[] = {0644, 0660, 0604, 0620, 0602, 0610, 0601, 0666, 0650};
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        p = key_file(dir, "open", 32, open_modes[i]);
        assert_int_equal(iq_master_key_load(p, key, &err), -1);
        assert_non_null(strstr(err, "group or others"));
        assert_non_null(strstr(err, "chmod 600"));
        /* the key is wiped on failure */
        for (size_t j = 0; j < IQ_KEY_LEN; j++)
            assert_int_equal(key[j], 0);
        free(err);
        err = NULL;
        unlink(p);
    }

    char missing[600];
    snprintf(missing, sizeof(missing), "%s/missing", dir);
    assert_int_equal(iq_master_key_load(missing, key, &err), -1);
    assert_non_null(strstr(err, "missing"));
    assert_non_null(strstr(err, "inboxq keygen"));
    free(err);
    err = NULL;

    assert_int_equal(iq_master_key_load("", key, &err), -1);
    assert_non_null(strstr(err, "INBOXQ_MASTER_KEY_FILE"));
    free(err);
    err = NULL;

    assert_int_equal(iq_master_key_load(dir, key, &err), -1); /* a directory */
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
    rmdir(dir);
}

/* The key ring's previous keys (hardening item 24): a comma-separated list, each checked as
 * the master key is, and found again by key id. */
static void test_keyring(void **state)
{
    (void)state;
    char dir[] = "/tmp/iq-test-crypto-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[600], b[600], list[1400];
    snprintf(a, sizeof(a), "%s", key_file(dir, "a", 32, 0600));
    snprintf(b, sizeof(b), "%s/b", dir);
    FILE *f = fopen(b, "wb");
    assert_non_null(f);
    for (int i = 0; i < IQ_KEY_LEN; i++)
        fputc(0x5a, f);
    fclose(f);
    assert_int_equal(chmod(b, 0600), 0);
    uint8_t keys[3 * IQ_KEY_LEN];
    size_t n = 0;
    char *err = NULL;
    snprintf(list, sizeof(list), " %s , %s,", a, b);
    assert_int_equal(iq_master_keys_load_list(list, keys, 3, &n, &err), 0);
    assert_int_equal(n, 2);
    iq_keyring ring = {keys, n};
    char id[IQ_KEY_ID_LEN + 1];
    iq_key_id(keys + IQ_KEY_LEN, id);
    assert_ptr_equal(iq_keyring_find(&ring, id), keys + IQ_KEY_LEN);
    assert_int_equal(keys[IQ_KEY_LEN], 0x5a);
    assert_null(iq_keyring_find(&ring, "0000000000000000"));
    assert_null(iq_keyring_find(&ring, NULL));
    assert_int_equal(iq_master_keys_load_list("", keys, 3, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(iq_master_keys_load_list(list, keys, 1, &n, &err), -1);
    assert_non_null(strstr(err, "more than 1"));
    free(err);
    err = NULL;
    snprintf(list, sizeof(list), "%s,%s/missing", a, dir);
    assert_int_equal(iq_master_keys_load_list(list, keys, 3, &n, &err), -1);
    assert_non_null(strstr(err, "master_key_previous_file"));
    free(err);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

static void test_reseal(void **state)
{
    (void)state;
    uint8_t old_key[IQ_KEY_LEN], new_key[IQ_KEY_LEN], third[IQ_KEY_LEN];
    make_key(old_key, 8);
    make_key(new_key, 9);
    make_key(third, 10);
    char *err = NULL, *out = NULL;
    /* Several rows, as a rekey sees them. */
    static const char *const secrets[] = {"one", "två", "p@ss word!", "x"};
    iq_sealed in[4], re[4];
    for (int64_t i = 0; i < 4; i++) {
        assert_int_equal(iq_credential_seal(old_key, i + 100, secrets[i], &in[i], &err), 0);
        assert_int_equal(iq_credential_reseal(old_key, new_key, i + 100, &in[i], &re[i], &err), 0);
        /* The rekeyed row opens with the new key only, with the same secret. */
        assert_int_equal(iq_credential_open(new_key, i + 100, &re[i], &out, &err), 0);
        assert_string_equal(out, secrets[i]);
        iq_secret_free(&out);
        assert_open_fails(old_key, i + 100, &re[i]);
        assert_memory_not_equal(in[i].nonce, re[i].nonce, IQ_NONCE_LEN);
    }
    /* A row sealed under neither key cannot be resealed. */
    iq_sealed foreign, tmp;
    assert_int_equal(iq_credential_seal(third, 5, "z", &foreign, &err), 0);
    assert_int_equal(iq_credential_reseal(old_key, new_key, 5, &foreign, &tmp, &err), -1);
    assert_null(tmp.ct);
    free(err);
    err = NULL;
    /* Nor a row moved from elsewhere. */
    assert_int_equal(iq_credential_reseal(old_key, new_key, 101, &in[0], &tmp, &err), -1);
    free(err);
    err = NULL;
    iq_sealed_release(&foreign);
    for (int i = 0; i < 4; i++) {
        iq_sealed_release(&in[i]);
        iq_sealed_release(&re[i]);
    }
}

static void test_secret_rules(void **state)
{
    (void)state;
    char *err = NULL;
    assert_int_equal(iq_vault_validate_secret("ok", 2, &err), 0);
    assert_int_equal(iq_vault_validate_secret("", 0, &err), -1);
    assert_non_null(strstr(err, "secret:"));
    free(err);
    assert_int_equal(iq_vault_validate_secret("a\nb", 3, &err), -1);
    assert_non_null(strstr(err, "line break"));
    free(err);
    assert_int_equal(iq_vault_validate_secret("a\rb", 3, &err), -1);
    free(err);
    assert_int_equal(iq_vault_validate_secret("a\0b", 3, &err), -1);
    assert_non_null(strstr(err, "NUL"));
    free(err);
    assert_int_equal(iq_vault_validate_username("bob@example.com", &err), 0);
    assert_int_equal(iq_vault_validate_username("", &err), -1);
    assert_non_null(strstr(err, "username:"));
    free(err);
    assert_int_equal(iq_vault_validate_username("a\tb", &err), -1);
    assert_non_null(strstr(err, "username:"));
    free(err);
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(iq_crypto_equal("abc", 3, "abc", 3));
    assert_false(iq_crypto_equal("abc", 3, "abd", 3));
    assert_false(iq_crypto_equal("abc", 3, "abcd", 4));
    assert_true(iq_crypto_equal("", 0, "", 0));
}

/* The VmFlags line of the mapping that holds addr in /proc/self/smaps ("" if none). */
static void vm_flags_of(const void *addr, char *flags, size_t size)
{
    flags[0] = '\0';
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool inside = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char dash;
        if (strchr(line, '-') && line[0] != 'V' && strchr("0123456789abcdef", line[0])) {
            char *end = NULL;
            lo = strtoul(line, &end, 16);
            dash = *end;
            hi = strtoul(end + 1, NULL, 16);
            inside = dash == '-' && (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, size, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* The worker's master key lives on a page of its own that core dumps leave out. */
static void test_key_page(void **state)
{
    (void)state;
    uint8_t *key = iq_key_page_new();
    assert_non_null(key);
    assert_int_equal((uintptr_t)key % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
    make_key(key, 9);
    char flags[512];
    vm_flags_of(key, flags, sizeof(flags));
    assert_non_null(strstr(flags, " dd")); /* "dd": do not include area into core dump */
    uint8_t *other = iq_key_page_new();
    assert_ptr_not_equal(other, key);
    iq_key_page_free(&other);
    iq_key_page_free(&key);
    assert_null(key);
    iq_key_page_free(&key); /* freeing twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_fresh_nonce),
        cmocka_unit_test(test_tampering_fails), cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_moved_row_fails), cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_key_file),        cmocka_unit_test(test_reseal),
        cmocka_unit_test(test_secret_rules),    cmocka_unit_test(test_equal),
        cmocka_unit_test(test_key_page),        cmocka_unit_test(test_keyring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
