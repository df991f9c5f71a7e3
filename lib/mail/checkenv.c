/* SPDX-License-Identifier: MIT */
/* Per-process check setup and result presentation. */
#include "checkenv.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keyring.h"
#include "redis.h"
#include "util.h"
#include "vault.h"

int iq_check_setup_init(iq_check_setup *cs, const iq_config *cfg, const char *role, char **error_r)
{
    memset(cs, 0, sizeof(*cs));
    cs->key = iq_key_page_new();
    if (iq_vault_keyring_from_config(cfg, cs->key, &cs->ring, error_r) < 0) {
        iq_key_page_free(&cs->key);
        return -1;
    }
    SSL_CTX *ctx = iq_tls_ctx_new(iq_config_str(cfg, IQ_SET_CA_FILE), error_r);
    if (!ctx) {
        iq_key_page_free(&cs->key);
        return -1;
    }
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(cs->worker, sizeof(cs->worker), "%s:%s:%ld", role, host, (long)getpid());
    cs->env.cfg = cfg;
    cs->env.tls_ctx = ctx;
    cs->env.master_key = cs->key;
    cs->env.keyring = &cs->ring;
    cs->env.worker = cs->worker;
    cs->env.topic_new_mail = iq_config_str(cfg, IQ_SET_TOPIC_NEW_MAIL);
    cs->env.inbox_cache_size = (int)iq_config_int(cfg, IQ_SET_INBOX_CACHE_SIZE);
    cs->env.redis_prefix = iq_config_str(cfg, IQ_SET_REDIS_KEY_PREFIX);
    char *err = NULL;
    if (*iq_config_str(cfg, IQ_SET_REDIS_URL)) {
        cs->env.redis = iq_redis_new(iq_config_str(cfg, IQ_SET_REDIS_URL),
                                     iq_config_int(cfg, IQ_SET_REDIS_TIMEOUT), &err);
        if (!cs->env.redis) {
            *error_r = err;
            iq_check_setup_release(cs);
            return -1;
        }
    }
    return 0;
}

void iq_check_setup_release(iq_check_setup *cs)
{
    iq_tls_ctx_free(&cs->env.tls_ctx);
    iq_redis_free(&cs->env.redis);
    iq_key_page_free(&cs->key);
    cs->env.master_key = NULL;
    cs->env.keyring = NULL;
}

json_t *iq_check_result_json(const iq_check_result *res, int64_t account_id, const char *job_id)
{
    json_t *tls = json_null();
    if (res->tls_used)
        tls = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "version", res->tls.version,
                        "cipher", res->tls.cipher, "fingerprint_sha256", res->tls.fingerprint,
                        "subject", res->tls.subject, "issuer", res->tls.issuer, "not_after",
                        res->tls.not_after, "verified", res->tls.verified);
    return json_pack("{s:I, s:s?, s:s, s:s?, s:s?, s:i, s:i, s:i, s:I, s:I, s:o, s:s?, s:b}",
                     "account_id", (json_int_t)account_id, "job_id", job_id, "outcome",
                     res->outcome ? res->outcome : "failed", "error_class",
                     res->error_class ? iq_err_name(res->error_class) : NULL, "error", res->error,
                     "messages_new", res->messages_new, "messages_deleted", res->messages_deleted,
                     "messages_skipped", res->messages_skipped, "bytes", (json_int_t)res->bytes,
                     "duration_ms", (json_int_t)res->duration_ms, "tls", tls, "note", res->note,
                     "already_done", res->already_done);
}

void iq_check_result_print(const iq_check_result *res, int64_t account_id, FILE *out)
{
    fprintf(out, "account %lld: %s", (long long)account_id, res->outcome ? res->outcome : "failed");
    if (res->error_class)
        fprintf(out, " (%s: %s)", iq_err_name(res->error_class), res->error ? res->error : "");
    fprintf(out, "\n  new %d, deleted %d, skipped %d, %llu bytes read, %lld ms\n",
            res->messages_new, res->messages_deleted, res->messages_skipped,
            (unsigned long long)res->bytes, (long long)res->duration_ms);
    if (res->tls_used)
        fprintf(out, "  tls %s %s, certificate %s (%s)\n", res->tls.version, res->tls.cipher,
                res->tls.fingerprint, res->tls.verified ? "verified" : "not verified");
    if (res->note)
        fprintf(out, "  note: %s\n", res->note);
    if (res->already_done)
        fprintf(out, "  (this job had already run; nothing was done again)\n");
}
