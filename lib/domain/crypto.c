/* SPDX-License-Identifier: MIT */
/* Master key loading and AES-256-GCM sealing of vault secrets with OpenSSL EVP. */
#include "crypto.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util.h"

void iq_sealed_release(iq_sealed *s)
{
    if (!s)
        return;
    free(s->ct);
    s->ct = NULL;
    s->ct_len = 0;
    iq_secure_zero(s->nonce, sizeof(s->nonce));
    iq_secure_zero(s->tag, sizeof(s->tag));
}

static size_t key_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

uint8_t *iq_key_page_new(void)
{
    size_t n = key_page_size();
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        iq_oom();
    /* both are best effort: a kernel without them still gets a working key */
    (void)madvise(p, n, MADV_DONTDUMP);
    (void)mlock(p, n);
    return p;
}

void iq_key_page_free(uint8_t **key)
{
    if (!key || !*key)
        return;
    size_t n = key_page_size();
    iq_secure_zero(*key, n);
    (void)munlock(*key, n);
    munmap(*key, n);
    *key = NULL;
}

int iq_master_key_load(const char *path, uint8_t key_r[IQ_KEY_LEN], char **error_r)
{
    static const char hint[] = "make one with 'inboxq keygen --output FILE' and point "
                               "master_key_file (INBOXQ_MASTER_KEY_FILE) at it";
    int fd = -1, rc = -1;
    iq_secure_zero(key_r, IQ_KEY_LEN);
    if (!path || !*path) {
        *error_r =
            iq_xasprintf("setting master_key_file (INBOXQ_MASTER_KEY_FILE) is not set; %s", hint);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *error_r = iq_xasprintf("master key file %s: %s; %s", path, IQ_STRERROR(errno), hint);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        *error_r = iq_xasprintf("master key file %s: %s", path, IQ_STRERROR(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        *error_r = iq_xasprintf("master key file %s is not a regular file; %s", path, hint);
        goto out;
    }
    /* Never readable by others nor writable by the group. Group-read is allowed only for a
     * file owned by root or by us: what systemd's LoadCredential (an ACL shows as 0440) and a
     * Kubernetes secret volume with fsGroup (root:fsGroup 0440) give the service. */
    bool group_read_ok =
        (st.st_uid == 0 || st.st_uid == geteuid()) && (st.st_mode & (S_IWGRP | S_IXGRP)) == 0;
    if ((st.st_mode & S_IRWXO) || ((st.st_mode & S_IRWXG) && !group_read_ok)) {
        *error_r = iq_xasprintf("master key file %s is accessible by group or others (mode %04o); "
                                "run 'chmod 600 %s' (and check who may have read it)",
                                path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (st.st_size != IQ_KEY_LEN) {
        *error_r = iq_xasprintf("master key file %s holds %lld bytes, a master key is exactly %d; "
                                "%s",
                                path, (long long)st.st_size, IQ_KEY_LEN, hint);
        goto out;
    }
    size_t got = 0;
    while (got < IQ_KEY_LEN) {
        ssize_t n = read(fd, key_r + got, IQ_KEY_LEN - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *error_r = iq_xasprintf("master key file %s: %s", path,
                                    n < 0 ? IQ_STRERROR(errno) : "shorter than expected");
            goto out;
        }
        got += (size_t)n;
    }
    /* The file must not have grown since fstat. */
    uint8_t extra;
    ssize_t n = read(fd, &extra, 1);
    if (n != 0) {
        *error_r =
            iq_xasprintf("master key file %s is longer than %d bytes; %s", path, IQ_KEY_LEN, hint);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        iq_secure_zero(key_r, IQ_KEY_LEN);
    close(fd);
    return rc;
}

void iq_key_id(const uint8_t key[IQ_KEY_LEN], char id_r[IQ_KEY_ID_LEN + 1])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    unsigned int md_len = 0;
    if (EVP_Digest(key, IQ_KEY_LEN, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != SHA256_DIGEST_LENGTH)
        abort(); /* SHA-256 cannot fail short of a broken OpenSSL */
    iq_hex_encode(md, IQ_KEY_ID_LEN / 2, id_r);
}

/* EVP takes int lengths. */
static int len_ok(size_t n)
{
    return n <= (size_t)IQ_SECRET_MAX * 16;
}

int iq_crypto_seal(const uint8_t key[IQ_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
                   size_t pt_len, iq_sealed *out_r, char **error_r)
{
    int rc = -1, n = 0, fin = 0;
    memset(out_r, 0, sizeof(*out_r));
    if (!len_ok(pt_len) || !len_ok(aad_len)) {
        *error_r = iq_xasprintf("secret too long to seal (%zu bytes)", pt_len);
        return -1;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        iq_oom();
    out_r->ct = iq_xmalloc(pt_len + 1);
    out_r->ct_len = pt_len;
    if (RAND_bytes(out_r->nonce, IQ_NONCE_LEN) != 1) {
        *error_r = iq_xstrdup("the random number generator failed; cannot make a nonce");
        goto out;
    }
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IQ_NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, out_r->nonce) != 1 ||
        (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        (pt_len > 0 && EVP_EncryptUpdate(ctx, out_r->ct, &n, pt, (int)pt_len) != 1) ||
        EVP_EncryptFinal_ex(ctx, out_r->ct + (pt_len > 0 ? (size_t)n : 0), &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, IQ_TAG_LEN, out_r->tag) != 1) {
        *error_r = iq_xstrdup("AES-256-GCM encryption failed inside OpenSSL");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc < 0)
        iq_sealed_release(out_r);
    return rc;
}

int iq_crypto_open(const uint8_t key[IQ_KEY_LEN], const void *aad, size_t aad_len,
                   const iq_sealed *in, char **pt_r, size_t *pt_len_r, char **error_r)
{
    int rc = -1, n = 0, fin = 0;
    *pt_r = NULL;
    if (pt_len_r)
        *pt_len_r = 0;
    if (!len_ok(in->ct_len) || !len_ok(aad_len)) {
        *error_r = iq_xasprintf("sealed value too long (%zu bytes)", in->ct_len);
        return -1;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        iq_oom();
    uint8_t *pt = iq_xmalloc(in->ct_len + 1);
    uint8_t tag[IQ_TAG_LEN];
    memcpy(tag, in->tag, sizeof(tag));
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, IQ_NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, in->nonce) != 1 ||
        (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
        (in->ct_len > 0 && EVP_DecryptUpdate(ctx, pt, &n, in->ct, (int)in->ct_len) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, IQ_TAG_LEN, tag) != 1) {
        *error_r = iq_xstrdup("AES-256-GCM decryption failed inside OpenSSL");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, pt + (in->ct_len > 0 ? (size_t)n : 0), &fin) != 1) {
        *error_r = iq_xstrdup("the sealed secret does not authenticate (wrong master key, "
                              "a ciphertext moved from another row, or tampered data)");
        goto out;
    }
    pt[in->ct_len] = '\0';
    *pt_r = (char *)pt;
    pt = NULL;
    if (pt_len_r)
        *pt_len_r = in->ct_len;
    rc = 0;
out:
    if (pt) {
        iq_secure_zero(pt, in->ct_len + 1);
        free(pt);
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

size_t iq_credential_aad(int64_t credential_id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "inboxq-credential:%" PRId64, credential_id);
    if (n < 0 || (size_t)n >= size)
        abort(); /* programming error: buffer too small */
    return (size_t)n;
}

int iq_credential_seal(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const char *secret,
                       iq_sealed *out_r, char **error_r)
{
    char aad[48];
    size_t aad_len = iq_credential_aad(credential_id, aad, sizeof(aad));
    return iq_crypto_seal(key, aad, aad_len, secret, strlen(secret), out_r, error_r);
}

int iq_credential_open(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const iq_sealed *in,
                       char **secret_r, char **error_r)
{
    char aad[48];
    size_t aad_len = iq_credential_aad(credential_id, aad, sizeof(aad));
    size_t len = 0;
    char *err = NULL;
    if (iq_crypto_open(key, aad, aad_len, in, secret_r, &len, &err) < 0) {
        *error_r = iq_xasprintf("credential %" PRId64 ": %s", credential_id, err);
        free(err);
        return -1;
    }
    if (memchr(*secret_r, '\0', len) != NULL) {
        iq_secure_zero(*secret_r, len);
        free(*secret_r);
        *secret_r = NULL;
        *error_r = iq_xasprintf("credential %" PRId64 ": the secret contains a NUL byte; set it "
                                "again with 'inboxq credential set-secret'",
                                credential_id);
        return -1;
    }
    return 0;
}

int iq_credential_reseal(const uint8_t old_key[IQ_KEY_LEN], const uint8_t new_key[IQ_KEY_LEN],
                         int64_t credential_id, const iq_sealed *in, iq_sealed *out_r,
                         char **error_r)
{
    char *secret = NULL;
    memset(out_r, 0, sizeof(*out_r));
    if (iq_credential_open(old_key, credential_id, in, &secret, error_r) < 0)
        return -1;
    int rc = iq_credential_seal(new_key, credential_id, secret, out_r, error_r);
    iq_secret_free(&secret);
    return rc;
}

int iq_crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    if (a_len != b_len)
        return 0;
    return a_len == 0 || CRYPTO_memcmp(a, b, a_len) == 0;
}

const uint8_t *iq_keyring_find(const iq_keyring *ring, const char *key_id)
{
    char id[IQ_KEY_ID_LEN + 1];
    for (size_t i = 0; ring && key_id && i < ring->n; i++) {
        iq_key_id(ring->keys + i * IQ_KEY_LEN, id);
        if (strcmp(id, key_id) == 0)
            return ring->keys + i * IQ_KEY_LEN;
    }
    return NULL;
}

int iq_master_keys_load_list(const char *list, uint8_t *keys, size_t max, size_t *n_r,
                             char **error_r)
{
    *n_r = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (*n_r >= max) {
                *error_r = iq_xasprintf("master_key_previous_file names more than %zu keys; keep "
                                        "only those still sealing a secret",
                                        max);
                return -1;
            }
            char *path = iq_xstrndup(p, len);
            char *err = NULL;
            int rc = iq_master_key_load(path, keys + *n_r * IQ_KEY_LEN, &err);
            free(path);
            if (rc < 0) {
                *error_r = iq_xasprintf("master_key_previous_file: %s", err);
                free(err);
                return -1;
            }
            (*n_r)++;
        }
        p = comma ? comma + 1 : p + strlen(p);
    }
    return 0;
}
