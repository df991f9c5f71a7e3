/* SPDX-License-Identifier: MIT */
/* The vault with a key ring (hardening item 24): a program that checks mail holds the newest
 * master key and the previous ones, opens every secret with the key that sealed it, and seals
 * only with the newest, so 'inboxq credential rekey' followed by a rolling restart never stops
 * a running worker. Built on vault.h's one-key functions. */
#ifndef IQ_KEYRING_H
#define IQ_KEYRING_H

#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "crypto.h"
#include "error.h"

/* Loads master_key_file (keys[0], the one that seals) and master_key_previous_file's keys
 * (only open) into keys, a key page (iq_key_page_new) with room for IQ_KEYRING_MAX keys, and
 * points ring_r at them. A previous key equal to the newest is dropped. 0, or -1 with *error_r
 * (a configuration problem, EX_CONFIG). */
int iq_vault_keyring_from_config(const iq_config *cfg, uint8_t *keys, iq_keyring *ring_r,
                                 char **error_r);

/* iq_vault_open_row / _status / iq_vault_open with whichever key of ring sealed the row; a row
 * sealed with a key the ring lacks is IQ_ERR_KEY naming the row's key and the ring's. */
iq_err iq_vault_open_row_ring(const iq_keyring *ring, int64_t credential_id, const PGresult *r,
                              int row, int col, char **username_r, char **secret_r, char **error_r);
iq_err iq_vault_open_status_ring(PGconn *c, const iq_keyring *ring, int64_t credential_id,
                                 char **username_r, char **secret_r, char **error_r);
int iq_vault_open_ring(PGconn *c, const iq_keyring *ring, int64_t credential_id, char **username_r,
                       char **secret_r, char **error_r);

#endif
