/* SPDX-License-Identifier: MIT */
/* Logging: levels, text or JSON lines, a per-thread context (job id, account id) and
 * redaction of anything that looks like a secret. The library never writes anywhere on its
 * own: until a program calls iq_log_setup() every line is dropped. */
#ifndef IQ_LOG_H
#define IQ_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

typedef enum { IQ_LOG_DEBUG, IQ_LOG_INFO, IQ_LOG_WARN, IQ_LOG_ERROR, IQ_LOG_OFF } iq_log_level;
typedef enum { IQ_LOG_TEXT, IQ_LOG_JSON } iq_log_format;

/* out may be NULL to drop everything. component names the program ("worker"). */
void iq_log_setup(const char *component, iq_log_level level, iq_log_format format, FILE *out);
int iq_log_level_parse(const char *s, iq_log_level *level_r);
int iq_log_format_parse(const char *s, iq_log_format *format_r);
bool iq_log_enabled(iq_log_level level);

/* Per-thread context printed with every line; NULL / 0 clears. */
void iq_log_ctx_set(const char *job_id, int64_t account_id);
void iq_log_ctx_error_class(const char *error_class);

void iq_log_write(iq_log_level level, const char *fmt, ...) IQ_PRINTF(2, 3);

#define IQ_LOG(lvl, ...)                                                                           \
    do {                                                                                           \
        if (iq_log_enabled(lvl))                                                                   \
            iq_log_write(lvl, __VA_ARGS__);                                                        \
    } while (0)
#define IQ_DEBUG(...) IQ_LOG(IQ_LOG_DEBUG, __VA_ARGS__)
#define IQ_INFO(...) IQ_LOG(IQ_LOG_INFO, __VA_ARGS__)
#define IQ_WARN(...) IQ_LOG(IQ_LOG_WARN, __VA_ARGS__)
#define IQ_ERROR(...) IQ_LOG(IQ_LOG_ERROR, __VA_ARGS__)

/* Masks the password of a connection string in place: a libpq keyword value (password=...)
 * and a URL's (scheme://user:PASSWORD@host, up to the last '@'). Returns s. For the values the
 * settings table marks secret and for libpq's messages, which may quote them; nothing else is
 * masked by pattern: secrets are kept out of messages by construction. */
char *iq_conninfo_mask(char *s);

#endif
