/* SPDX-License-Identifier: MIT */
/* The session both protocol drivers run in: limits, the connection (direct or through a
 * Network Connector), implicit TLS, the stream, the first failure, and capability lists. */
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "account.h"
#include "log.h"
#include "net.h"
#include "proxy.h"
#include "util.h"
#include "keyring.h"
#include "vault.h"

int iq_session_fail(iq_session *s, iq_err cls, const char *fmt, ...)
{
    iq_check_result *res = s->res;
    if (res->error_class)
        return -1;
    iq_err scls = s->st ? iq_stream_error_class(s->st) : IQ_OK;
    if (scls) {
        res->error_class = scls;
        res->error = iq_xstrdup(iq_stream_error(s->st));
        return -1;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    res->error_class = cls;
    res->error = iq_xstrdup(msg);
    return -1;
}

bool iq_session_has_cap(const char *caps, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = caps ? caps : ""; *p;) {
        size_t len = strcspn(p, " ");
        if (len == n && strncasecmp(p, name, n) == 0)
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* Connects to the mail server, directly or through the account's Network Connector. */
static int connect_server(iq_session *s, const iq_account *a, int *fd_r)
{
    const iq_config *cfg = s->env->cfg;
    int64_t dns = iq_config_int(cfg, IQ_SET_DNS_TIMEOUT);
    int64_t conn = iq_config_int(cfg, IQ_SET_CONNECT_TIMEOUT);
    iq_err cls = IQ_OK;
    char *err = NULL;
    if (!a->use_connector) {
        if (iq_net_connect(a->host, a->port, dns, conn, s->limits.deadline_ms, fd_r, &cls, &err) <
            0) {
            iq_session_fail(s, cls, "%s", err);
            free(err);
            return -1;
        }
        return 0;
    }
    iq_connector k;
    int found = iq_connector_load(s->pg, a->connector_id, &k, &err);
    if (found <= 0) {
        iq_session_fail(s, found < 0 ? IQ_ERR_STORAGE : IQ_ERR_CONFIG, "%s",
                        found < 0 ? err : "the account's Network Connector no longer exists");
        free(err);
        return -1;
    }
    char *user = NULL, *pass = NULL;
    int rc = -1;
    if (!k.active) {
        iq_session_fail(s, IQ_ERR_CONFIG,
                        "Network Connector '%s' is inactive; activate it, or stop using it for "
                        "this account",
                        k.name);
        goto out;
    }
    if (k.credential_id &&
        iq_vault_open_ring(s->pg,
                           s->env->keyring ? s->env->keyring : &(iq_keyring){s->env->master_key, 1},
                           k.credential_id, &user, &pass, &err) < 0) {
        iq_session_fail(s, IQ_ERR_CONFIG, "connector '%s': %s", k.name, err);
        goto out;
    }
    if (iq_net_connect(k.host, k.port, dns, conn, s->limits.deadline_ms, fd_r, &cls, &err) < 0) {
        iq_session_fail(s, cls == IQ_ERR_TIMEOUT ? IQ_ERR_TIMEOUT : IQ_ERR_PROXY,
                        "Network Connector '%s': %s", k.name, err);
        goto out;
    }
    int r = k.type == IQ_CONNECTOR_SOCKS5
                ? iq_proxy_socks5(*fd_r, a->host, a->port, user, pass, s->limits.deadline_ms,
                                  s->limits.read_timeout_ms, &cls, &err)
                : iq_proxy_http_connect(*fd_r, a->host, a->port, user, pass, s->limits.deadline_ms,
                                        s->limits.read_timeout_ms, &cls, &err);
    if (r < 0) {
        iq_session_fail(s, cls, "Network Connector '%s': %s", k.name, err);
        close(*fd_r);
        *fd_r = -1;
        goto out;
    }
    rc = 0;
out:
    free(err);
    iq_secret_free(&user);
    iq_secret_free(&pass);
    iq_connector_release(&k);
    return rc;
}

int iq_session_run(iq_session *s, const iq_driver *drv)
{
    const iq_account *a = s->account;
    int fd = -1;
    if (connect_server(s, a, &fd) < 0)
        return -1;
    SSL *ssl = NULL;
    if (a->security == IQ_SEC_IMPLICIT) {
        iq_err cls = IQ_OK;
        char *err = NULL;
        if (iq_tls_handshake(s->env->tls_ctx, fd, a->host, !a->ignore_certificate,
                             s->limits.deadline_ms, s->limits.read_timeout_ms, &ssl, &s->res->tls,
                             &cls, &err) < 0) {
            iq_session_fail(s, cls, "%s", err);
            free(err);
            close(fd);
            return -1;
        }
        s->res->tls_used = true;
    }
    s->stream = iq_stream_open(fd, ssl, drv->syntax, &s->limits, &s->st);
    int rc = drv->run(s);
    /* what the driver left open (a driver that handed the stream to a library that closed it
     * set both to NULL after reading what it needed) */
    if (s->st)
        s->res->bytes = iq_stream_bytes_read(s->st);
    if (s->stream)
        mailstream_close(s->stream);
    s->stream = NULL;
    s->st = NULL;
    return rc;
}

static void set_limits(iq_session *s, const iq_config *cfg)
{
    s->limits.deadline_ms = iq_now_mono_ms() + iq_config_int(cfg, IQ_SET_CHECK_TIMEOUT);
    s->limits.read_timeout_ms = iq_config_int(cfg, IQ_SET_READ_TIMEOUT);
    s->limits.low_speed_limit = (uint64_t)iq_config_int(cfg, IQ_SET_LOW_SPEED_LIMIT);
    s->limits.low_speed_time_ms = iq_config_int(cfg, IQ_SET_LOW_SPEED_TIME);
    s->limits.max_line = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_LINE);
    s->limits.max_literal = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE);
    s->limits.max_total = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_CHECK_BYTES);
    s->max_message = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE);
    s->max_memory = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_CHECK_MEMORY);
    s->fetch_batch = (int)iq_config_int(cfg, IQ_SET_FETCH_BATCH);
}

void iq_session_init(iq_session *s, PGconn *c, const iq_check_env *env, const char *job_id,
                     bool probe_only, iq_check_result *res)
{
    memset(s, 0, sizeof(*s));
    s->pg = c;
    s->env = env;
    s->job_id = job_id;
    s->res = res;
    s->probe_only = probe_only;
    set_limits(s, env->cfg);
}
