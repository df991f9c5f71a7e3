/* SPDX-License-Identifier: MIT */
/* OAuth2 access tokens: the cache (vault.h) and the token endpoint (RFC 6749 4.4 and 6,
 * RFC 7523 2.1 and 2.2, RFC 7521 client assertions). */
#include "oauth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "connector.h"
#include "http.h"
#include "util.h"

#define ASSERTION_LIFETIME_S 300 /* a client assertion is good for five minutes */
#define TOKEN_TIMEOUT_MS 30000   /* the whole token request */
#define FAILURE_REUSE_S 30       /* a failed request's answer serves the others this long */

void iq_oauth_step_release(iq_oauth_step *st)
{
    if (!st)
        return;
    free(st->expires_at);
    free(st->scope);
    memset(st, 0, sizeof(*st));
}

static char *b64url(const unsigned char *p, size_t n)
{
    char *s = iq_xmalloc(iq_size_add(4 * ((n + 2) / 3), 1));
    int len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    while (len > 0 && s[len - 1] == '=')
        len--;
    s[len] = '\0';
    for (char *c = s; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return s;
}

static char *b64url_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (!s) {
        iq_oom();
        return NULL; /* not reached: iq_oom exits */
    }
    char *b = b64url((const unsigned char *)s, strlen(s));
    free(s);
    return b;
}

char *iq_oauth_jwt_rs256(const char *key_pem, json_t *header, json_t *claims, char **error_r)
{
    char *h = b64url_json(header), *c = b64url_json(claims);
    char *input = iq_xasprintf("%s.%s", h, c), *jwt = NULL;
    free(h);
    free(c);
    BIO *kb = BIO_new_mem_buf(key_pem, -1);
    EVP_PKEY *pk = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    BIO_free(kb);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL;
    size_t siglen = 0;
    if (!pk || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        *error_r = iq_xstrdup("the credential's private key cannot sign (RS256); add the "
                              "credential again with a valid RSA key");
        goto out;
    }
    sig = iq_xmalloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        *error_r = iq_xstrdup("signing the assertion (RS256) failed");
        goto out;
    }
    char *s = b64url(sig, siglen);
    jwt = iq_xasprintf("%s.%s", input, s);
    free(s);
out:
    ERR_clear_error();
    free(sig);
    free(input);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return jwt;
}

static void jti(char buf[33])
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        memset(r, 0x5a, sizeof(r)); /* never reached on Linux >= 3.17 */
    iq_hex_encode(r, sizeof(r), buf);
}

/* RFC 7523 2.2 client assertion (iss = sub = client id) or 2.1 authorization grant (Google:
 * iss = the service account, sub = the mailbox, scope). */
static char *assertion(const iq_oauth_cred *oc, bool grant, char **error_r)
{
    time_t now = time(NULL);
    char id[33];
    jti(id);
    json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    json_t *cl =
        json_pack("{s:s, s:I, s:I, s:I, s:s}", "aud", oc->token_url, "iat", (json_int_t)now, "nbf",
                  (json_int_t)now - 30, "exp", (json_int_t)now + ASSERTION_LIFETIME_S, "jti", id);
    if (!hdr || !cl)
        iq_oom();
    if (oc->assertion_kid)
        json_object_set_new(hdr, grant ? "kid" : "x5t", json_string(oc->assertion_kid));
    if (grant) {
        json_object_set_new(cl, "iss", json_string(oc->assertion_iss ? oc->assertion_iss : ""));
        json_object_set_new(cl, "sub", json_string(oc->username));
        json_object_set_new(cl, "scope", json_string(oc->scope ? oc->scope : ""));
    } else {
        json_object_set_new(cl, "iss", json_string(oc->client_id));
        json_object_set_new(cl, "sub", json_string(oc->client_id));
    }
    char *jwt = iq_oauth_jwt_rs256(oc->client_key, hdr, cl, error_r);
    json_decref(hdr);
    json_decref(cl);
    return jwt;
}

/* The account's Network Connector as the request's proxy. */
static iq_err proxy_opts(PGconn *c, const iq_check_env *env, const iq_account *a, iq_http_opts *o,
                         iq_connector *k, char **user_r, char **pass_r, char **error_r)
{
    char *err = NULL;
    if (!a || !a->use_connector)
        return IQ_OK;
    int found = iq_connector_load(c, a->connector_id, k, &err);
    if (found <= 0) {
        *error_r = found < 0 ? err : iq_xstrdup("the account's Network Connector no longer exists");
        if (found == 0)
            free(err);
        return found < 0 ? IQ_ERR_STORAGE : IQ_ERR_CONFIG;
    }
    if (!k->active) {
        *error_r = iq_xasprintf("Network Connector '%s' is inactive; activate it, or stop using "
                                "it for this account",
                                k->name);
        return IQ_ERR_CONFIG;
    }
    if (k->credential_id &&
        iq_vault_open(c, env->master_key, k->credential_id, user_r, pass_r, &err) < 0) {
        *error_r = iq_xasprintf("connector '%s': %s", k->name, err);
        free(err);
        return IQ_ERR_CONFIG;
    }
    o->proxy = k->type == IQ_CONNECTOR_SOCKS5 ? IQ_HTTP_PROXY_SOCKS5 : IQ_HTTP_PROXY_HTTP;
    o->proxy_host = k->host;
    o->proxy_port = k->port;
    o->proxy_user = *user_r;
    o->proxy_pass = *pass_r;
    return IQ_OK;
}

/* A server's text for a message: printable ASCII, at most 200 bytes. */
static void shown(const char *s, char *buf, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 1 < size && i < 200; i++)
        buf[j++] = ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) ? '?' : s[i];
    buf[j] = '\0';
}

/* The endpoint's refusal as a class and a message that says what to do. */
static iq_err refusal(const iq_oauth_cred *oc, const char *host, long status, json_t *o,
                      char **error_r)
{
    const char *e = json_string_value(json_object_get(o, "error"));
    char desc[256];
    shown(json_string_value(json_object_get(o, "error_description")), desc, sizeof(desc));
    char code[64];
    shown(e, code, sizeof(code));
    const char *sep = desc[0] ? ": " : "";
    if (status >= 500 || status == 429 || status == 408) {
        *error_r = iq_xasprintf("the token endpoint %s answered HTTP %ld%s%s; retrying later", host,
                                status, sep, desc);
        return IQ_ERR_CONNECT;
    }
    if (!e) {
        *error_r = iq_xasprintf("the token endpoint %s answered HTTP %ld without an OAuth2 "
                                "error; check the credential's token URL",
                                host, status);
        return IQ_ERR_OAUTH;
    }
    if (strcmp(e, "invalid_grant") == 0 && oc->grant == IQ_GRANT_REFRESH_TOKEN)
        *error_r = iq_xasprintf("the refresh token was revoked or expired: run inboxq credential "
                                "authorize %s (%s%s%s)",
                                oc->name, code, sep, desc);
    else if (strcmp(e, "invalid_grant") == 0 && oc->grant == IQ_GRANT_JWT_BEARER)
        *error_r = iq_xasprintf("the service account may not act for %s (%s%s%s): check its "
                                "domain-wide delegation (client id and scope %s)",
                                oc->username, code, sep, desc, oc->scope ? oc->scope : "");
    else if (strcmp(e, "invalid_client") == 0)
        *error_r = iq_xasprintf("the token endpoint refused the client %s (invalid_client%s%s): "
                                "check the client id and its secret or certificate",
                                oc->client_id, sep, desc);
    else if (strcmp(e, "unauthorized_client") == 0)
        *error_r = iq_xasprintf("the client %s may not use the %s grant (unauthorized_client%s%s)"
                                ": allow it in the app registration, or give an administrator's "
                                "consent",
                                oc->client_id, iq_grant_name(oc->grant), sep, desc);
    else
        *error_r = iq_xasprintf("the token endpoint %s refused the request (%s%s%s)", host, code,
                                sep, desc);
    return IQ_ERR_OAUTH;
}

typedef struct fresh {
    char *token, *scope, *refresh;
    int64_t expires_in;
} fresh;

static void fresh_release(fresh *f)
{
    iq_secret_free(&f->token);
    iq_secret_free(&f->refresh);
    free(f->scope);
    memset(f, 0, sizeof(*f));
}

/* One request to the token endpoint. */
static iq_err request(PGconn *c, const iq_check_env *env, const iq_account *a,
                      const iq_oauth_cred *oc, const char *host, fresh *f, char **error_r)
{
    iq_http_opts o = {.ca_file = iq_config_str(env->cfg, IQ_SET_CA_FILE),
                      .connect_timeout_ms = iq_config_int(env->cfg, IQ_SET_CONNECT_TIMEOUT),
                      .timeout_ms = TOKEN_TIMEOUT_MS};
    iq_connector k;
    memset(&k, 0, sizeof(k));
    char *puser = NULL, *ppass = NULL, *jwt = NULL, *err = NULL;
    iq_http_response r = {0};
    json_t *o_json = NULL;
    iq_err st = proxy_opts(c, env, a, &o, &k, &puser, &ppass, error_r);
    if (st != IQ_OK)
        goto out;
    const char *f_[24];
    size_t n = 0;
    bool cert = oc->client_key && oc->grant != IQ_GRANT_JWT_BEARER;
    if (oc->grant == IQ_GRANT_JWT_BEARER || cert) {
        if (!oc->client_key) {
            *error_r = iq_xstrdup("the credential has no private key; add it again");
            st = IQ_ERR_CONFIG;
            goto out;
        }
        if (!(jwt = assertion(oc, oc->grant == IQ_GRANT_JWT_BEARER, error_r))) {
            st = IQ_ERR_CONFIG;
            goto out;
        }
    }
    switch (oc->grant) {
    case IQ_GRANT_JWT_BEARER:
        f_[n++] = "grant_type";
        f_[n++] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
        f_[n++] = "assertion";
        f_[n++] = jwt;
        break;
    case IQ_GRANT_REFRESH_TOKEN:
        if (!oc->refresh_token) {
            *error_r = iq_xasprintf("the credential has no refresh token yet: run inboxq "
                                    "credential authorize %s",
                                    oc->name);
            st = IQ_ERR_OAUTH;
            goto out;
        }
        f_[n++] = "grant_type";
        f_[n++] = "refresh_token";
        f_[n++] = "refresh_token";
        f_[n++] = oc->refresh_token;
        break;
    case IQ_GRANT_CLIENT_CREDENTIALS:
        f_[n++] = "grant_type";
        f_[n++] = "client_credentials";
        break;
    }
    if (oc->grant != IQ_GRANT_JWT_BEARER) {
        f_[n++] = "client_id";
        f_[n++] = oc->client_id;
        if (cert) {
            f_[n++] = "client_assertion_type";
            f_[n++] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
            f_[n++] = "client_assertion";
            f_[n++] = jwt;
        } else if (oc->client_secret) {
            f_[n++] = "client_secret";
            f_[n++] = oc->client_secret;
        }
        if (oc->scope && *oc->scope) {
            f_[n++] = "scope";
            f_[n++] = oc->scope;
        }
    }
    f_[n] = NULL;
    iq_err cls = IQ_OK;
    if (iq_http_post_form(oc->token_url, f_, &o, &r, &cls, &err) < 0) {
        *error_r = iq_xasprintf("the token endpoint: %s", err);
        free(err);
        st = cls;
        goto out;
    }
    o_json = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200) {
        st = refusal(oc, host, r.status, o_json, error_r);
        goto out;
    }
    json_t *tok = json_object_get(o_json, "access_token"),
           *exp = json_object_get(o_json, "expires_in");
    if (!json_is_string(tok) || !*json_string_value(tok) ||
        strpbrk(json_string_value(tok), " \r\n\001")) {
        *error_r =
            iq_xasprintf("the token endpoint %s answered without a usable access_token", host);
        st = IQ_ERR_PROTOCOL;
        goto out;
    }
    f->token = iq_xstrdup(json_string_value(tok));
    f->expires_in = json_is_integer(exp)  ? (int64_t)json_integer_value(exp)
                    : json_is_string(exp) ? strtoll(json_string_value(exp), NULL, 10)
                                          : 3600;
    if (f->expires_in < 1)
        f->expires_in = 1;
    if (f->expires_in > 86400 * 30)
        f->expires_in = 86400 * 30;
    const char *sc = json_string_value(json_object_get(o_json, "scope"));
    f->scope = sc ? iq_xstrdup(sc) : NULL;
    const char *rt = json_string_value(json_object_get(o_json, "refresh_token"));
    if (rt && *rt && oc->grant == IQ_GRANT_REFRESH_TOKEN &&
        (!oc->refresh_token || strcmp(rt, oc->refresh_token) != 0))
        f->refresh = iq_xstrdup(rt);
out:
    /* jansson's copy of the token goes unwiped, like libpq's of the sealed columns: both live
       only until here, never in a log or an error */
    json_decref(o_json);
    iq_http_response_release(&r);
    iq_secret_free(&jwt);
    iq_secret_free(&puser);
    iq_secret_free(&ppass);
    iq_connector_release(&k);
    return st;
}

static bool usable(const iq_token_cache *t, const char *rejected)
{
    return t->token && t->valid_s > 0 && (!rejected || strcmp(t->token, rejected) != 0);
}

static void step_from_cache(iq_oauth_step *step, iq_token_cache *t)
{
    step->from_cache = true;
    step->expires_at = t->expires_at;
    step->scope = t->scope;
    t->expires_at = t->scope = NULL;
}

static void url_host(const char *url, char *buf, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
}

iq_err iq_oauth_token(PGconn *c, const iq_check_env *env, const iq_account *a,
                      const iq_oauth_cred *oc, const char *rejected, char **token_r,
                      iq_oauth_step *step, char **error_r)
{
    const uint8_t *key = env->master_key;
    iq_token_cache t;
    char *err = NULL;
    *token_r = NULL;
    memset(step, 0, sizeof(*step));
    url_host(oc->token_url, step->endpoint, sizeof(step->endpoint));
    step->grant = iq_grant_name(oc->grant);
    /* the common case: a valid token another check obtained, without a lock */
    int got = iq_vault_token_get(c, key, oc->id, false, &t, &err);
    if (got < 0) {
        *error_r = err;
        return IQ_ERR_STORAGE;
    }
    if (got && usable(&t, rejected)) {
        *token_r = t.token;
        t.token = NULL;
        step_from_cache(step, &t);
        iq_token_cache_release(&t);
        return IQ_OK;
    }
    iq_token_cache_release(&t);
    /* one refresher per credential: the others wait on the row lock, then use its token */
    if (iq_pg_begin(c, &err) < 0) {
        *error_r = err;
        return IQ_ERR_STORAGE;
    }
    iq_err st = IQ_OK;
    got = iq_vault_token_get(c, key, oc->id, true, &t, &err);
    if (got < 0) {
        *error_r = err;
        st = IQ_ERR_STORAGE;
        goto rollback;
    }
    if (got && usable(&t, rejected)) {
        *token_r = t.token;
        t.token = NULL;
        step_from_cache(step, &t);
        iq_token_cache_release(&t);
        goto commit;
    }
    iq_token_cache_release(&t);
    /* a request that failed moments ago answers for this one too (no storm on a down or
       refusing endpoint); a rejected token always gets its one fresh try */
    if (!rejected) {
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%" PRId64, oc->id);
        char sec[16];
        snprintf(sec, sizeof(sec), "%d", FAILURE_REUSE_S);
        const char *q[] = {idbuf, sec};
        PGresult *r = iq_pg_query(c,
                                  "SELECT last_error, last_error_class FROM oauth_tokens WHERE "
                                  "credential_id = $1::bigint AND failed_at > now() - "
                                  "make_interval(secs => $2::int)",
                                  2, q, &err);
        if (!r) {
            *error_r = err;
            st = IQ_ERR_STORAGE;
            goto rollback;
        }
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
            *error_r = iq_xasprintf("%s (the last request, moments ago)", iq_pg_str(r, 0, 0));
            st = iq_err_from_name(iq_pg_str(r, 0, 1));
            PQclear(r);
            goto commit;
        }
        PQclear(r);
    }
    fresh f = {0};
    st = request(c, env, a, oc, step->endpoint, &f, error_r);
    if (st != IQ_OK) {
        if (iq_vault_token_failed(c, oc->id, *error_r, iq_err_name(st), &err) != IQ_OK) {
            free(err);
            goto rollback;
        }
        goto commit;
    }
    if (f.refresh && iq_vault_oauth_set_refresh(c, key, oc, f.refresh, true, &err) != IQ_OK) {
        *error_r = iq_xasprintf("storing the rotated refresh token: %s", err);
        free(err);
        fresh_release(&f);
        st = IQ_ERR_STORAGE;
        goto rollback;
    }
    if (iq_vault_token_put(c, key, oc->id, f.token, f.expires_in, f.scope, &err) != IQ_OK) {
        *error_r = err;
        fresh_release(&f);
        st = IQ_ERR_STORAGE;
        goto rollback;
    }
    if (iq_pg_commit(c, &err) < 0) {
        *error_r = err;
        fresh_release(&f);
        st = IQ_ERR_STORAGE;
        goto rollback;
    }
    char when[32];
    time_t exp = time(NULL) + (time_t)f.expires_in;
    struct tm tm;
    gmtime_r(&exp, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    step->expires_at = iq_xstrdup(when);
    step->scope = f.scope;
    f.scope = NULL;
    *token_r = f.token;
    f.token = NULL;
    fresh_release(&f);
    return IQ_OK;
commit:
    if (iq_pg_commit(c, &err) < 0) {
        free(err);
        iq_pg_rollback(c);
    }
    if (st != IQ_OK)
        iq_secret_free(token_r);
    return st;
rollback:
    iq_pg_rollback(c);
    iq_secret_free(token_r);
    return st;
}
