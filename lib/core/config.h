/* SPDX-License-Identifier: MIT */
/* Configuration: one table of settings (name, env var, type, default, range, help) read from
 * defaults, then an optional file ("name = value" lines), then the environment. */
#ifndef IQ_CONFIG_H
#define IQ_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    IQ_SET_PG_DSN,
    IQ_SET_PG_CONNECT_TIMEOUT,
    IQ_SET_KAFKA_BROKERS,
    IQ_SET_KAFKA_SESSION_TIMEOUT,
    IQ_SET_KAFKA_FETCH_WAIT,
    IQ_SET_KAFKA_TIMEOUT,
    IQ_SET_TOPIC_CHECK,
    IQ_SET_TOPIC_REPORT,
    IQ_SET_TOPIC_NEW_MAIL,
    IQ_SET_TOPIC_DEAD,
    IQ_SET_CONSUMER_GROUP,
    IQ_SET_REDIS_URL,
    IQ_SET_REDIS_TIMEOUT,
    IQ_SET_INBOX_CACHE_SIZE,
    IQ_SET_MASTER_KEY_FILE,
    IQ_SET_MASTER_KEY_PREVIOUS_FILE,
    IQ_SET_CA_FILE,
    IQ_SET_DNS_TIMEOUT,
    IQ_SET_CONNECT_TIMEOUT,
    IQ_SET_READ_TIMEOUT,
    IQ_SET_CHECK_TIMEOUT,
    IQ_SET_LOW_SPEED_LIMIT,
    IQ_SET_LOW_SPEED_TIME,
    IQ_SET_MAX_LINE,
    IQ_SET_MAX_MESSAGE,
    IQ_SET_MAX_CHECK_BYTES,
    IQ_SET_MAX_CHECK_MEMORY,
    IQ_SET_FETCH_BATCH,
    IQ_SET_CONCURRENCY,
    IQ_SET_SHUTDOWN_GRACE,
    IQ_SET_RETRY_MAX,
    IQ_SET_SCHEDULER_TICK,
    IQ_SET_SCHEDULER_BATCH,
    IQ_SET_LOG_LEVEL,
    IQ_SET_LOG_FORMAT,
    IQ_SET_SCHEDULER_JITTER_MAX,
    IQ_SET_SCHEDULER_BACKOFF_MAX,
    IQ_SET_SCHEDULER_AUTH_BACKOFF_MAX,
    IQ_SET_REDIS_KEY_PREFIX,
    IQ_SET_REPORT_SWEEP_AFTER,
    IQ_SET_REPORT_SWEEP_ATTEMPTS,
    IQ_SET_CORE_DUMPS,
    IQ_SET_MAX_PUSH_CONNECTIONS,
    IQ_SET_PUSH_OPEN_RATE,
    IQ_SET_PUSH_IDLE_RENEW,
    IQ_SET_PUSH_REFRESH,
    IQ_SET__COUNT
} iq_setting_id;

typedef enum {
    IQ_CT_STRING,
    IQ_CT_PATH,
    IQ_CT_INT,
    IQ_CT_DURATION, /* stored in milliseconds */
    IQ_CT_SIZE,     /* stored in bytes */
    IQ_CT_BOOL,
    IQ_CT_ENUM,
} iq_cfg_type;

typedef struct iq_setting_def {
    iq_setting_id id;
    const char *name; /* key in the config file */
    const char *env;  /* environment variable */
    iq_cfg_type type;
    const char *def;     /* default, as text */
    int64_t min, max;    /* for INT/DURATION/SIZE (after unit conversion) */
    const char *choices; /* for ENUM: "a|b|c" */
    bool secret;         /* value may contain a password: never printed */
    const char *help;
} iq_setting_def;

typedef struct iq_config iq_config;

iq_config *iq_config_new(void);
void iq_config_free(iq_config **cfg);
/* Each returns 0, or -1 with *error_r set (caller frees) to one line naming the setting,
 * the value and what to do. */
int iq_config_set(iq_config *cfg, const char *name, const char *value, const char *origin,
                  char **error_r);
int iq_config_load_file(iq_config *cfg, const char *path, char **error_r);
int iq_config_load_env(iq_config *cfg, char **error_r);

const char *iq_config_str(const iq_config *cfg, iq_setting_id id);
int64_t iq_config_int(const iq_config *cfg, iq_setting_id id);
bool iq_config_bool(const iq_config *cfg, iq_setting_id id);
/* Where the value came from: "default", "env INBOXQ_X", "FILE:LINE". */
const char *iq_config_origin(const iq_config *cfg, iq_setting_id id);

const iq_setting_def *iq_config_defs(size_t *count_r);
/* Prints every setting: as a Markdown table when markdown, else aligned text. */
void iq_config_print_reference(FILE *out, bool markdown);
/* Prints the effective values (secrets redacted). */
void iq_config_print_effective(const iq_config *cfg, FILE *out);

#endif
