/* SPDX-License-Identifier: MIT */
/* The vault's cryptography: the master key file, key ids, and AES-256-GCM sealing of
 * credential secrets bound to their row id (OpenSSL EVP). Nothing here logs or stores. */
#ifndef IQ_CRYPTO_H
#define IQ_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define IQ_KEY_LEN 32             /* AES-256 master key */
#define IQ_NONCE_LEN 12           /* GCM nonce, fresh from RAND_bytes for every seal */
#define IQ_TAG_LEN 16             /* GCM tag */
#define IQ_KEY_ID_LEN 16          /* hex characters: the first 8 bytes of SHA-256(key) */
#define IQ_SECRET_MAX (64 * 1024) /* longest secret the vault accepts */

/* One sealed secret, as stored in a credentials row. */
typedef struct iq_sealed {
    uint8_t nonce[IQ_NONCE_LEN];
    uint8_t tag[IQ_TAG_LEN];
    uint8_t *ct; /* malloc'd; same length as the plaintext */
    size_t ct_len;
} iq_sealed;

void iq_sealed_release(iq_sealed *s);

/* Reads the master key: the file must be a regular file of exactly 32 bytes that neither
 * group nor others may access (mode 0600 or stricter). 0, or -1 with *error_r naming the
 * file and what to do. key_r is wiped on failure. */
int iq_master_key_load(const char *path, uint8_t key_r[IQ_KEY_LEN], char **error_r);
/* Room for a key a process holds from start to end (the master key in a worker): a page of
 * its own, left out of core dumps (MADV_DONTDUMP) and kept out of swap where the memory-lock
 * limit allows. Free with iq_key_page_free, which wipes it. */
uint8_t *iq_key_page_new(void);
void iq_key_page_free(uint8_t **key);

/* A key ring: the vault opens a secret with whichever key sealed it and seals with the newest,
 * so a rekey does not stop running programs that hold the old and the new key (a rolling
 * restart). keys[0] is the newest (master_key_file), the others the previous ones
 * (master_key_previous_file); n keys of IQ_KEY_LEN bytes, on a key page. */
#define IQ_KEYRING_MAX 8
typedef struct iq_keyring {
    const uint8_t *keys;
    size_t n;
} iq_keyring;
/* The ring's key with this id, or NULL. */
const uint8_t *iq_keyring_find(const iq_keyring *ring, const char *key_id);
/* Loads the previous keys named in list (paths, comma-separated; "" for none) into keys (room
 * for max keys), each as iq_master_key_load checks it. 0 with *n_r set, or -1 with *error_r. */
int iq_master_keys_load_list(const char *list, uint8_t *keys, size_t max, size_t *n_r,
                             char **error_r);

/* The key's id: the first 16 hex characters of SHA-256(key), NUL-terminated. */
void iq_key_id(const uint8_t key[IQ_KEY_LEN], char id_r[IQ_KEY_ID_LEN + 1]);

/* AES-256-GCM with a fresh random nonce; aad is authenticated but not encrypted.
 * 0, or -1 with *error_r. */
int iq_crypto_seal(const uint8_t key[IQ_KEY_LEN], const void *aad, size_t aad_len, const void *pt,
                   size_t pt_len, iq_sealed *out_r, char **error_r);
/* Opens a sealed value: *pt_r is malloc'd, NUL-terminated after *pt_len_r bytes; free it
 * with iq_secure_zero + free (or iq_secret_free when it is a string). Fails (-1) on a wrong
 * key, a different aad, or any changed byte of nonce, tag or ciphertext. */
int iq_crypto_open(const uint8_t key[IQ_KEY_LEN], const void *aad, size_t aad_len,
                   const iq_sealed *in, char **pt_r, size_t *pt_len_r, char **error_r);

/* The associated data that binds a secret to its credential row: "inboxq-credential:<id>".
 * Returns the length written (buf >= 48). */
size_t iq_credential_aad(int64_t credential_id, char *buf, size_t size);
/* Seal/open a credential secret bound to its row id. */
int iq_credential_seal(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const char *secret,
                       iq_sealed *out_r, char **error_r);
int iq_credential_open(const uint8_t key[IQ_KEY_LEN], int64_t credential_id, const iq_sealed *in,
                       char **secret_r, char **error_r);
/* Rekey of one row: opens with old_key and seals again with new_key and a fresh nonce. The
 * plaintext lives only inside this call and is wiped. 0, or -1 with *error_r. */
int iq_credential_reseal(const uint8_t old_key[IQ_KEY_LEN], const uint8_t new_key[IQ_KEY_LEN],
                         int64_t credential_id, const iq_sealed *in, iq_sealed *out_r,
                         char **error_r);

/* Constant-time comparison of two byte strings (lengths may differ). */
int iq_crypto_equal(const void *a, size_t a_len, const void *b, size_t b_len);

#endif
