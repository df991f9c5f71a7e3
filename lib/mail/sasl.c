/* SPDX-License-Identifier: MIT */
/* OAuth2 SASL over IMAP and POP3 (RFC 7628; Google's and Microsoft's XOAUTH2 documentation). */
#include "sasl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "buf.h"
#include "log.h"
#include "oauth.h"
#include "util.h"

#define POP3_IR_MAX 255 /* RFC 5034 4: an AUTH line with its initial response, at most */

int iq_sasl_choose(iq_session *s, bool imap)
{
    /* RFC 7628 3: a bearer token is as good as a password that works for an hour: never in
       clear */
    if (!iq_stream_is_tls(s->st))
        return iq_session_fail(s, IQ_ERR_CONFIG,
                               "an OAuth2 token is only sent over TLS; set the account's secure "
                               "connection to yes (ssl, or tls for STARTTLS)");
    iq_auth_method m = s->account->auth;
    if (m == IQ_AUTH_XOAUTH2 || m == IQ_AUTH_OAUTHBEARER)
        return (int)m;
    const char *caps = s->capabilities;
    bool xo = iq_session_has_cap(caps, imap ? "AUTH=XOAUTH2" : "XOAUTH2");
    bool ob = iq_session_has_cap(caps, imap ? "AUTH=OAUTHBEARER" : "OAUTHBEARER");
    if (xo)
        return IQ_AUTH_XOAUTH2; /* what Microsoft offers and Google's own client uses */
    if (ob)
        return IQ_AUTH_OAUTHBEARER;
    if (!imap && (!caps || !*caps))
        return IQ_AUTH_XOAUTH2; /* no CAPA: try, the server answers -ERR if it cannot */
    return iq_session_fail(s, IQ_ERR_AUTH,
                           "the server offers neither XOAUTH2 nor OAUTHBEARER, so the OAuth2 "
                           "credential cannot sign in (capabilities: %s)",
                           caps ? caps : "none");
}

static char *b64(const void *p, size_t n)
{
    char *s = iq_xmalloc(iq_size_add(4 * ((n + 2) / 3), 1));
    EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}

char *iq_sasl_initial(iq_auth_method mech, const char *user, const char *host, int port,
                      const char *token)
{
    char *msg = mech == IQ_AUTH_OAUTHBEARER
                    ? iq_xasprintf("n,a=%s,\001host=%s\001port=%d\001auth=Bearer %s\001\001", user,
                                   host, port, token)
                    : iq_xasprintf("user=%s\001auth=Bearer %s\001\001", user, token);
    size_t n = strlen(msg);
    char *out = b64(msg, n);
    iq_secure_zero(msg, n);
    free(msg);
    return out;
}

char *iq_sasl_status_text(const char *in, bool *retry_r)
{
    *retry_r = false;
    while (in && *in == ' ')
        in++;
    size_t n = in ? strlen(in) : 0;
    while (n > 0 && (in[n - 1] == '\r' || in[n - 1] == '\n' || in[n - 1] == ' '))
        n--;
    if (n == 0 || n > 8192)
        return iq_xstrdup("no status");
    unsigned char *raw = iq_xmalloc(n + 1);
    int len = EVP_DecodeBlock(raw, (const unsigned char *)in, (int)n);
    json_t *o = NULL;
    if (len > 0) {
        /* EVP_DecodeBlock counts the padding's zero bytes */
        while (len > 0 && raw[len - 1] == '\0')
            len--;
        o = json_loadb((const char *)raw, (size_t)len, 0, NULL);
    }
    free(raw);
    if (!json_is_object(o)) {
        json_decref(o);
        *retry_r = true; /* no status to tell otherwise: the token is the suspect */
        return iq_xstrdup("an unreadable status");
    }
    iq_buf b;
    iq_buf_init(&b, 512);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        const char *sv = json_string_value(v);
        if (!sv)
            continue;
        char shown[160];
        size_t j = 0;
        for (size_t i = 0; sv[i] && j + 1 < sizeof(shown); i++)
            shown[j++] =
                ((unsigned char)sv[i] < 0x20 || (unsigned char)sv[i] >= 0x7f) ? '?' : sv[i];
        shown[j] = '\0';
        if (iq_buf_appendf(&b, "%s%.20s %s", b.len ? ", " : "", k, shown) != 0)
            break;
    }
    const char *st = json_string_value(json_object_get(o, "status"));
    *retry_r = !st || strcmp(st, "401") == 0 || strcmp(st, "invalid_token") == 0;
    json_decref(o);
    char *text = iq_buf_detach(&b, NULL);
    if (!text || !*text) {
        free(text);
        text = iq_xstrdup("an empty status");
    }
    return text;
}

/* What a refused token gets: one fresh token (the oauth step's class on failure). 0 or -1. */
static int fresh_token(iq_session *s)
{
    char *err = NULL, *tok = NULL;
    iq_oauth_step_release(s->oauth_step);
    iq_err st =
        iq_oauth_token(s->pg, s->env, s->account, s->oauth, s->token, &tok, s->oauth_step, &err);
    if (st != IQ_OK) {
        iq_session_fail(s, st, "getting a fresh OAuth2 token after the server refused one: %s",
                        err);
        free(err);
        return -1;
    }
    iq_secret_free(&s->token);
    s->token = tok;
    return 0;
}

/* Sends one line (CRLF added) and wipes the copy. */
static int send_line(iq_session *s, mailstream *ms, const char *a, const char *b)
{
    char *line = iq_xasprintf("%s%s\r\n", a, b ? b : "");
    size_t n = strlen(line);
    int rc = 0;
    if (mailstream_write(ms, line, n) != (ssize_t)n || mailstream_flush(ms) < 0)
        rc = iq_session_fail(s, IQ_ERR_CONNECT, "sending the OAuth2 login failed");
    iq_secure_zero(line, n);
    free(line);
    return rc;
}

static const char *mech_name(int mech)
{
    return mech == IQ_AUTH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
}

/* After a refusal: the one retry when the token was the problem, else the failure. 1 retry,
 * -1 failed (recorded). */
static int refused(iq_session *s, int mech, const char *why, bool token_refused, int *tries)
{
    if (token_refused && (*tries)++ == 0) {
        IQ_INFO("the server refused the OAuth2 token (%s: %s); asking for a fresh one",
                mech_name(mech), why);
        return fresh_token(s) < 0 ? -1 : 1;
    }
    return iq_session_fail(s, IQ_ERR_AUTH,
                           "the server rejected the OAuth2 login of '%s' (%s: %s); check that "
                           "the app may open this mailbox (Microsoft 365: IMAP.AccessAsApp/"
                           "POP.AccessAsApp and Add-MailboxPermission; Google: domain-wide "
                           "delegation)",
                           s->oauth->username, mech_name(mech), why);
}

int iq_sasl_imap_login(iq_session *s, mailimap *imap)
{
    int mech = iq_sasl_choose(s, true);
    if (mech < 0)
        return -1;
    bool ir = iq_session_has_cap(s->capabilities, "SASL-IR");
    int tries = 0;
    for (;;) {
        char *resp = iq_sasl_initial((iq_auth_method)mech, s->oauth->username, s->account->host,
                                     s->account->port, s->token);
        /* a tag of our own: the exchange is read here, not by libetpan's parser */
        char tag[32], cmd[64];
        snprintf(tag, sizeof(tag), "IQSASL%d ", tries + 1);
        snprintf(cmd, sizeof(cmd), "%sAUTHENTICATE %s%s", tag, mech_name(mech), ir ? " " : "");
        if (send_line(s, imap->imap_stream, cmd, ir ? resp : NULL) < 0) {
            iq_secret_free(&resp);
            return -1;
        }
        bool sent = ir, token_refused = false;
        char *why = NULL;
        int outcome = 0; /* 1 OK, 2 NO/BAD */
        while (!outcome) {
            char *line = mailimap_read_line(imap);
            if (!line) {
                iq_secret_free(&resp);
                free(why);
                return iq_session_fail(s, IQ_ERR_PROTOCOL,
                                       "the server closed the connection during AUTHENTICATE");
            }
            if (line[0] == '+') {
                int w;
                if (!sent) {
                    w = send_line(s, imap->imap_stream, resp, NULL);
                    sent = true;
                } else {
                    free(why);
                    why = iq_sasl_status_text(line + 1, &token_refused);
                    /* finish the exchange: an empty response (XOAUTH2), %x01 (RFC 7628) */
                    w = send_line(s, imap->imap_stream, mech == IQ_AUTH_OAUTHBEARER ? "AQ==" : "",
                                  NULL);
                }
                if (w < 0) {
                    iq_secret_free(&resp);
                    free(why);
                    return -1;
                }
            } else if (strncmp(line, tag, strlen(tag)) == 0) {
                const char *st = line + strlen(tag);
                outcome = strncasecmp(st, "OK", 2) == 0 ? 1 : 2;
                if (outcome == 2 && !why) {
                    char shown[200];
                    size_t j = 0;
                    for (size_t i = 0; st[i] && st[i] != '\r' && j + 1 < sizeof(shown); i++)
                        shown[j++] = (unsigned char)st[i] < 0x20 ? '?' : st[i];
                    shown[j] = '\0';
                    why = iq_xstrdup(shown);
                    token_refused = true;
                }
            } /* untagged data (a CAPABILITY) is asked for again below when needed */
        }
        iq_secret_free(&resp);
        if (outcome == 1) {
            free(why);
            imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
            return 0;
        }
        int rr = refused(s, mech, why, token_refused, &tries);
        free(why);
        if (rr < 0)
            return -1;
    }
}

/* POP3: reads one line into line; NULL after recording the failure. */
static const char *pop3_line(iq_session *s, MMAPString *line)
{
    char *l = mailstream_read_line_remove_eol(s->stream, line);
    if (!l)
        iq_session_fail(s, IQ_ERR_PROTOCOL, "the server closed the connection during AUTH");
    return l;
}

int iq_sasl_pop3_login(iq_session *s, MMAPString *line)
{
    int mech = iq_sasl_choose(s, false);
    if (mech < 0)
        return -1;
    int tries = 0;
    for (;;) {
        char *resp = iq_sasl_initial((iq_auth_method)mech, s->oauth->username, s->account->host,
                                     s->account->port, s->token);
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "AUTH %s", mech_name(mech));
        /* the initial response on the AUTH line only while the line stays within 255 octets */
        bool ir = strlen(cmd) + 1 + strlen(resp) + 2 <= POP3_IR_MAX;
        char *first = iq_xasprintf("%s%s", cmd, ir ? " " : "");
        int w = send_line(s, s->stream, first, ir ? resp : NULL);
        free(first);
        if (w < 0) {
            iq_secret_free(&resp);
            return -1;
        }
        bool sent = ir, token_refused = false;
        char *why = NULL;
        int outcome = 0;
        while (!outcome) {
            const char *l = pop3_line(s, line);
            if (!l) {
                iq_secret_free(&resp);
                free(why);
                return -1;
            }
            if (l[0] == '+' && l[1] != 'O') {
                if (!sent) {
                    w = send_line(s, s->stream, resp, NULL);
                    sent = true;
                } else {
                    free(why);
                    why = iq_sasl_status_text(l + 1, &token_refused);
                    w = send_line(s, s->stream, mech == IQ_AUTH_OAUTHBEARER ? "AQ==" : "", NULL);
                }
                if (w < 0) {
                    iq_secret_free(&resp);
                    free(why);
                    return -1;
                }
            } else if (strncmp(l, "+OK", 3) == 0) {
                outcome = 1;
            } else if (strncmp(l, "-ERR", 4) == 0) {
                outcome = 2;
                if (!why) {
                    char shown[200];
                    size_t j = 0;
                    for (size_t i = 0; l[i] && j + 1 < sizeof(shown); i++)
                        shown[j++] = (unsigned char)l[i] < 0x20 ? '?' : l[i];
                    shown[j] = '\0';
                    why = iq_xstrdup(shown);
                    token_refused = true;
                }
            } else {
                iq_secret_free(&resp);
                free(why);
                return iq_session_fail(s, IQ_ERR_PROTOCOL,
                                       "the server answered AUTH with neither +OK, -ERR nor a "
                                       "continuation");
            }
        }
        iq_secret_free(&resp);
        if (outcome == 1) {
            free(why);
            return 0;
        }
        int rr = refused(s, mech, why, token_refused, &tries);
        free(why);
        if (rr < 0)
            return -1;
    }
}
