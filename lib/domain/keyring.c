/* SPDX-License-Identifier: MIT */
/* The vault with a key ring: open with the key that sealed, seal with the newest. */
#include "keyring.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "op.h"
#include "pg.h"
#include "util.h"
#include "vault.h"

int iq_vault_keyring_from_config(const iq_config *cfg, uint8_t *keys, iq_keyring *ring_r,
                                 char **error_r)
{
    ring_r->keys = keys;
    ring_r->n = 0;
    if (iq_vault_key_from_config(cfg, keys, error_r) < 0)
        return -1;
    size_t n = 0;
    if (iq_master_keys_load_list(iq_config_str(cfg, IQ_SET_MASTER_KEY_PREVIOUS_FILE),
                                 keys + IQ_KEY_LEN, IQ_KEYRING_MAX - 1, &n, error_r) < 0) {
        iq_secure_zero(keys, IQ_KEYRING_MAX * IQ_KEY_LEN);
        return -1;
    }
    /* keys[0] seals; a previous key that is the newest again adds nothing */
    size_t kept = 1;
    for (size_t i = 1; i <= n; i++) {
        uint8_t *k = keys + i * IQ_KEY_LEN;
        bool dup = false;
        for (size_t j = 0; j < kept && !dup; j++)
            dup = memcmp(keys + j * IQ_KEY_LEN, k, IQ_KEY_LEN) == 0;
        if (!dup && kept != i)
            memcpy(keys + kept * IQ_KEY_LEN, k, IQ_KEY_LEN);
        if (!dup)
            kept++;
    }
    iq_secure_zero(keys + kept * IQ_KEY_LEN, (IQ_KEYRING_MAX - kept) * IQ_KEY_LEN);
    ring_r->n = kept;
    return 0;
}

iq_err iq_vault_open_row_ring(const iq_keyring *ring, int64_t credential_id, const PGresult *r,
                              int row, int col, char **username_r, char **secret_r, char **error_r)
{
    const char *row_key =
        row < PQntuples(r) && !PQgetisnull(r, row, col + 2) ? iq_pg_str(r, row, col + 2) : NULL;
    const uint8_t *key = iq_keyring_find(ring, row_key);
    if (key || !row_key || ring->n < 2)
        return iq_vault_open_row(key ? key : ring->keys, credential_id, r, row, col, username_r,
                                 secret_r, error_r);
    /* sealed with a key this program does not hold: say which it holds */
    *secret_r = NULL;
    if (username_r)
        *username_r = NULL;
    iq_buf held;
    iq_buf_init(&held, 4096);
    for (size_t i = 0; i < ring->n; i++) {
        char id[IQ_KEY_ID_LEN + 1];
        iq_key_id(ring->keys + i * IQ_KEY_LEN, id);
        IQ_IGNORE_RESULT(iq_buf_appendf(&held, "%s%s", i ? ", " : "", id)); /* fits */
    }
    *error_r = iq_xasprintf("credential %" PRId64 " is sealed with master key %s, but "
                            "master_key_file and master_key_previous_file hold keys %s; add "
                            "the key it was sealed with to master_key_previous_file",
                            credential_id, row_key, held.data);
    iq_buf_release(&held);
    return IQ_ERR_KEY;
}

iq_err iq_vault_open_status_ring(PGconn *c, const iq_keyring *ring, int64_t credential_id,
                                 char **username_r, char **secret_r, char **error_r)
{
    char idbuf[32];
    *secret_r = NULL;
    if (username_r)
        *username_r = NULL;
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, credential_id);
    const char *params[] = {idbuf};
    char *err = NULL;
    PGresult *r = iq_pg_query(c,
                              "SELECT " IQ_VAULT_OPEN_COLS " FROM credentials cr "
                              "WHERE cr.id = $1::bigint",
                              1, params, &err);
    if (!r)
        return iq_op_db_error(c, "reading the credential", err, error_r);
    iq_err st = iq_vault_open_row_ring(ring, credential_id, r, 0, 0, username_r, secret_r, error_r);
    PQclear(r);
    return st;
}

int iq_vault_open_ring(PGconn *c, const iq_keyring *ring, int64_t credential_id, char **username_r,
                       char **secret_r, char **error_r)
{
    return iq_vault_open_status_ring(c, ring, credential_id, username_r, secret_r, error_r) == IQ_OK
               ? 0
               : -1;
}
