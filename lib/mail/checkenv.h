/* SPDX-License-Identifier: MIT */
/* Setting up what checks need once per process (master key, TLS context) and presenting a
 * check's result (text or JSON), for the CLI and the worker alike. */
#ifndef IQ_CHECKENV_H
#define IQ_CHECKENV_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "check.h"
#include "config.h"
#include "crypto.h"

typedef struct iq_check_setup {
    iq_check_env env;
    uint8_t *key; /* the key ring's keys, on a page kept out of core dumps */
    iq_keyring ring;
    char worker[128];
} iq_check_setup;

/* 0, or -1 with *error_r (a configuration problem: EX_CONFIG). role: "cli", "worker". */
int iq_check_setup_init(iq_check_setup *cs, const iq_config *cfg, const char *role, char **error_r);
void iq_check_setup_release(iq_check_setup *cs);

json_t *iq_check_result_json(const iq_check_result *res, int64_t account_id, const char *job_id);
void iq_check_result_print(const iq_check_result *res, int64_t account_id, FILE *out);

#endif
