/* SPDX-License-Identifier: MIT */
/* The table of error classes and the back-off policy. */
#include "error.h"

#include <string.h>

#include "config.h"
#include "util.h"

static const struct {
    const char *name;
    bool transient;
    iq_backoff_family backoff;
} classes[] = {
    [0] = {"ok", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_INVALID] = {"invalid", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_NOT_FOUND] = {"not_found", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_STALE] = {"stale", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_IN_USE] = {"in_use", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_KEY] = {"key", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_CORRUPT] = {"corrupt", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_SCHEMA] = {"schema", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_UNAVAILABLE] = {"unavailable", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_FAILED] = {"failed", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_DNS] = {"dns", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_CONNECT] = {"connect", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_PROXY] = {"proxy", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_TLS_HANDSHAKE] = {"tls_handshake", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_TLS_VERIFY] = {"tls_verify", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_STARTTLS_POLICY] = {"starttls_policy", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_AUTH] = {"auth", false, IQ_BACKOFF_OPERATOR},
    [-IQ_ERR_PROTOCOL] = {"protocol", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_TIMEOUT] = {"timeout", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_SIZE_LIMIT] = {"size_limit", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_STORAGE] = {"storage", true, IQ_BACKOFF_RETRY},
    [-IQ_ERR_CONFIG] = {"config", false, IQ_BACKOFF_INTERVAL},
    [-IQ_ERR_INVALID_JSON] = {"invalid_json", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_UNKNOWN_SCHEMA] = {"unknown_schema", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_INVALID_JOB] = {"invalid_job", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_ACCOUNT_DELETED] = {"account_deleted", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_REPORT_DELETED] = {"report_deleted", false, IQ_BACKOFF_NONE},
    [-IQ_ERR_OAUTH] = {"oauth", false, IQ_BACKOFF_OPERATOR},
};

static bool valid(iq_err e)
{
    return e <= IQ_OK && e >= IQ_ERR_MIN;
}

const char *iq_err_name(iq_err e)
{
    return valid(e) ? classes[-e].name : "protocol";
}

iq_err iq_err_from_name(const char *name)
{
    if (!name)
        return IQ_OK;
    for (size_t i = 0; i < IQ_ARRAY_LEN(classes); i++)
        if (strcmp(classes[i].name, name) == 0)
            return (iq_err) - (int)i;
    return IQ_ERR_PROTOCOL;
}

bool iq_err_is_transient(iq_err e)
{
    return valid(e) && classes[-e].transient;
}

iq_backoff_family iq_err_backoff(iq_err e)
{
    return valid(e) ? classes[-e].backoff : IQ_BACKOFF_INTERVAL;
}

static int64_t doubled(int64_t base, int64_t times, int64_t cap)
{
    int64_t v = base > 0 ? base : 1;
    for (int64_t i = 0; i < times && v < cap; i++)
        v *= 2;
    return v > cap ? cap : v;
}

void iq_backoff_policy_init(iq_backoff_policy *p, const iq_config *cfg)
{
    p->retry_base_ms = IQ_BACKOFF_RETRY_BASE_MS;
    p->retry_max = iq_config_int(cfg, IQ_SET_RETRY_MAX);
    p->backoff_max_ms = iq_config_int(cfg, IQ_SET_SCHEDULER_BACKOFF_MAX);
    p->auth_backoff_ms = iq_config_int(cfg, IQ_SET_SCHEDULER_AUTH_BACKOFF_MAX);
}

int64_t iq_backoff_ms(const iq_backoff_policy *p, iq_err e, int64_t interval_s, int64_t failures)
{
    int64_t interval_ms = interval_s * 1000;
    if (failures <= 0)
        return interval_ms;
    int64_t cap = iq_err_backoff(e) == IQ_BACKOFF_OPERATOR ? p->auth_backoff_ms : p->backoff_max_ms;
    int64_t grown = doubled(interval_ms, failures, cap);
    return grown > interval_ms ? grown : interval_ms;
}

int64_t iq_backoff_retry_ms(const iq_backoff_policy *p, iq_err e, int64_t interval_s,
                            int64_t failures)
{
    if (iq_err_backoff(e) != IQ_BACKOFF_RETRY || failures >= p->retry_max)
        return -1;
    return doubled(p->retry_base_ms, failures < 0 ? 0 : failures, interval_s * 1000);
}
