/* SPDX-License-Identifier: MIT */
/* The POP3 side of a check (RFC 1939, CAPA per RFC 2449, STLS per RFC 2595, implicit TLS per
 * RFC 8314). The commands are ours, over libetpan's mailstream: libetpan's POP3 layer trusts
 * the server's UIDL numbering and loops when a multi-line reply ends early. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "buf.h"
#include "failpoint.h"
#include "log.h"
#include "pop3reply.h"
#include "sasl.h"
#include "session.h"
#include "store.h"
#include "util.h"

#define CMD_MAX 1024      /* one command line, CRLF included (a PASS or APOP holds secrets) */
#define TIMESTAMP_MAX 256 /* the APOP banner timestamp kept, NUL included */
#define RETR_SLACK 1024   /* room past max_message for what a RETR reply adds to its size */
#define RETR_LINE_MAX 24  /* room per "RETR N\r\n" of a pipelined batch (17 bytes at most) */

typedef struct pop3 {
    iq_session *s;
    MMAPString *line;
    char timestamp[TIMESTAMP_MAX]; /* APOP banner timestamp, "" when none */
} pop3;

typedef iq_pop3_entry entry;

/* Sends one command line (CRLF added). Secrets are never logged: nothing here logs lines. */
static int send_cmd(pop3 *p, const char *fmt, ...) IQ_PRINTF(2, 3);

static int send_cmd(pop3 *p, const char *fmt, ...)
{
    char buf[CMD_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf) - 2)
        return iq_session_fail(p->s, IQ_ERR_CONFIG, "POP3 command too long");
    memcpy(buf + n, "\r\n", 3);
    int rc = 0;
    if (mailstream_write(p->s->stream, buf, (size_t)n + 2) < 0 ||
        mailstream_flush(p->s->stream) < 0)
        rc = iq_session_fail(p->s, IQ_ERR_CONNECT, "sending a command to the server failed");
    iq_secure_zero(buf, sizeof(buf));
    return rc;
}

/* Reads one line; returns it without CRLF, or NULL (stream failure recorded). */
static const char *read_line(pop3 *p)
{
    char *l = mailstream_read_line_remove_eol(p->s->stream, p->line);
    if (!l) {
        iq_session_fail(p->s, IQ_ERR_PROTOCOL, "the server closed the connection");
        return NULL;
    }
    return l;
}

/* Reads a status line: 1 for +OK, 0 for -ERR (text in p->line), -1 on failure. */
static int status(pop3 *p)
{
    const char *l = read_line(p);
    if (!l)
        return -1;
    int st = iq_pop3_status(l);
    if (st < 0)
        iq_session_fail(p->s, IQ_ERR_PROTOCOL, "the server answered neither +OK nor -ERR");
    return st;
}

/* Reads a multi-line body up to the lone dot (pop3reply.c undoes the dot-stuffing), handing
 * the bytes to sink; stops with size_limit past max bytes. Works on the stream's buffer
 * directly: a first sync is millions of lines, and reading them one by one cost more than the
 * TLS under them. Whatever follows the dot (a pipelined reply) stays buffered. */
static int read_multiline_to(pop3 *p, iq_pop3_sink sink, void *ctx, uint64_t max)
{
    mailstream *ms = p->s->stream;
    iq_pop3_body body;
    iq_pop3_body_init(&body, max);
    for (;;) {
        if (ms->read_buffer_len == 0 && mailstream_feed_read_buffer(ms) <= 0)
            return iq_session_fail(p->s, IQ_ERR_PROTOCOL,
                                   "the server closed the connection inside a multi-line reply");
        size_t used = 0;
        int rc = iq_pop3_body_feed(&body, ms->read_buffer, ms->read_buffer_len, &used, sink, ctx);
        if (rc == IQ_ERR_SIZE_LIMIT)
            return iq_session_fail(p->s, IQ_ERR_SIZE_LIMIT,
                                   "a multi-line reply was longer than %llu bytes",
                                   (unsigned long long)max);
        if (rc < 0)
            return -1;
        ms->read_buffer_len -= used;
        if (ms->read_buffer_len)
            memmove(ms->read_buffer, ms->read_buffer + used, ms->read_buffer_len);
        if (rc == 1)
            return 0;
    }
}

static int to_buf(void *ctx, const char *data, size_t len)
{
    return iq_buf_append(ctx, data, len);
}

/* Reads a multi-line body into out (capped by out->max). */
static int read_multiline(pop3 *p, iq_buf *out)
{
    return read_multiline_to(p, out ? to_buf : NULL, out, out ? out->max : UINT64_MAX);
}

static int capa(pop3 *p)
{
    if (send_cmd(p, "CAPA") < 0)
        return -1;
    int st = status(p);
    if (st < 0)
        return -1;
    free(p->s->capabilities);
    p->s->capabilities = iq_xstrdup("");
    if (st == 0)
        return 0; /* no CAPA: an old server */
    iq_buf caps;
    iq_buf_init(&caps, IQ_CAPS_MAX);
    if (read_multiline(p, &caps) < 0) {
        iq_buf_release(&caps);
        return -1;
    }
    for (char *c = caps.data; c && *c; c++)
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    free(p->s->capabilities);
    p->s->capabilities = iq_buf_detach(&caps, NULL);
    return 0;
}

static int authenticate(pop3 *p)
{
    iq_session *s = p->s;
    int st;
    if (s->oauth)
        return iq_sasl_pop3_login(s, p->line);
    if (s->account->apop && !p->timestamp[0])
        /* never fall back to USER/PASS in clear: a server in the middle strips the timestamp */
        return iq_session_fail(s, IQ_ERR_AUTH,
                               "APOP is set for this account but the server's greeting has no "
                               "APOP timestamp; the password was not sent (turn APOP off only "
                               "if this server really lacks it)");
    if (s->account->apop) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        EVP_DigestUpdate(ctx, p->timestamp, strlen(p->timestamp));
        EVP_DigestUpdate(ctx, s->password, strlen(s->password));
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        EVP_MD_CTX_free(ctx);
        char hexd[2 * EVP_MAX_MD_SIZE + 1];
        iq_hex_encode(md, mdlen, hexd);
        if (send_cmd(p, "APOP %s %s", s->username, hexd) < 0)
            return -1;
        st = status(p);
    } else {
        if (strpbrk(s->username, "\r\n") || strpbrk(s->password, "\r\n"))
            return iq_session_fail(s, IQ_ERR_CONFIG, "the credential contains a line break");
        if (send_cmd(p, "USER %s", s->username) < 0)
            return -1;
        st = status(p);
        if (st == 1) {
            if (send_cmd(p, "PASS %s", s->password) < 0)
                return -1;
            st = status(p);
        }
    }
    if (st < 0)
        return -1;
    if (st == 0)
        return iq_session_fail(s, IQ_ERR_AUTH, "the server rejected the login of user '%s'",
                               s->username);
    return 0;
}

/* Fails the session with what a reply parser said (err owned); returns -1. */
static int parse_failed(iq_session *s, int cls, char *err)
{
    iq_session_fail(s, (iq_err)cls, "%s", err);
    free(err);
    return -1;
}

static int uidl(pop3 *p, entry **e_r, size_t *n_r)
{
    iq_session *s = p->s;
    *e_r = NULL;
    *n_r = 0;
    if (send_cmd(p, "UIDL") < 0)
        return -1;
    int st = status(p);
    if (st < 0)
        return -1;
    if (st == 0)
        return iq_session_fail(s, IQ_ERR_PROTOCOL,
                               "the server does not support UIDL, which inboxq needs to "
                               "remember what it already fetched; use IMAP for this account");
    iq_buf body;
    iq_buf_init(&body, (size_t)s->limits.max_line * 16 + 64u * IQ_POP3_MAX_LISTED);
    if (read_multiline(p, &body) < 0) {
        iq_buf_release(&body);
        return -1;
    }
    char *err = NULL;
    int rc = iq_pop3_parse_uidl(body.data, body.len, s->limits.deadline_ms, e_r, n_r, &err);
    iq_buf_release(&body);
    return rc == 0 ? 0 : parse_failed(s, rc, err);
}

/* The sizes of LIST into e (for the max_message check); a server refusing LIST leaves them 0. */
static int list_sizes(pop3 *p, entry *e, size_t n)
{
    int st;
    if (send_cmd(p, "LIST") < 0 || (st = status(p)) < 0)
        return -1;
    if (st == 0)
        return 0;
    iq_buf list;
    iq_buf_init(&list, 64u * IQ_POP3_MAX_LISTED);
    if (read_multiline(p, &list) < 0) {
        iq_buf_release(&list);
        return -1;
    }
    char *err = NULL;
    int rc = iq_pop3_parse_list(list.data, list.len, p->s->limits.deadline_ms, e, n, &err);
    iq_buf_release(&list);
    return rc == 0 ? 0 : parse_failed(p->s, rc, err);
}

/* Reads the answer to a RETR already sent. */
static int retrieve_reply(pop3 *p, const entry *en, iq_store_msg *m)
{
    iq_session *s = p->s;
    int st = status(p);
    if (st < 0)
        return -1;
    if (st == 0)
        return iq_session_fail(s, IQ_ERR_PROTOCOL, "the server refused to send message %u",
                               en->num);
    iq_buf msg;
    iq_buf_init(&msg, (size_t)s->max_message + RETR_SLACK);
    iq_stream_expect(s->st, s->max_message + s->limits.max_line + RETR_SLACK);
    int rc = read_multiline(p, &msg);
    iq_stream_expect(s->st, 0);
    if (rc < 0) {
        iq_buf_release(&msg);
        return -1;
    }
    snprintf(m->server_id, sizeof(m->server_id), "%s", en->uidl);
    m->uid = 0;
    m->len = msg.len;
    m->raw = iq_buf_detach(&msg, NULL);
    return 0;
}

typedef struct stream_sink {
    iq_store_stream *st;
    char *err;
} stream_sink;

static int to_stream(void *ctx, const char *data, size_t len)
{
    stream_sink *k = ctx;
    return iq_store_stream_write(k->st, data, len, &k->err);
}

/* A large message: RETR straight into a COPY, never whole in memory. */
static int retrieve_streamed(pop3 *p, const iq_store_ctx *ctx, const entry *en)
{
    iq_session *s = p->s;
    stream_sink k = {NULL, NULL};
    bool exists = false;
    if (iq_store_stream_begin(ctx, en->uidl, 0, &k.st, &exists, &k.err) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", k.err);
        free(k.err);
        return -1;
    }
    if (send_cmd(p, "RETR %u", en->num) < 0) {
        iq_store_stream_abort(&k.st);
        return -1;
    }
    int st = status(p);
    if (st != 1) {
        iq_store_stream_abort(&k.st);
        return st < 0
                   ? -1
                   : iq_session_fail(s, IQ_ERR_PROTOCOL, "the server refused message %u", en->num);
    }
    iq_stream_expect(s->st, s->max_message + s->limits.max_line + RETR_SLACK);
    int rc = read_multiline_to(p, exists ? NULL : to_stream, &k, s->max_message);
    iq_stream_expect(s->st, 0);
    if (rc < 0) {
        if (k.err)
            iq_session_fail(s, IQ_ERR_STORAGE, "%s", k.err);
        free(k.err);
        iq_store_stream_abort(&k.st);
        return -1;
    }
    int stored = 0;
    if (iq_store_stream_finish(k.st, 0, &stored, &k.err) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", k.err);
        free(k.err);
        return -1;
    }
    s->res->messages_new += stored;
    return 0;
}

/* Stores a fetched batch; on success its entries count as known (stored). */
static int store_fetched(iq_session *s, const iq_store_ctx *ctx, iq_store_msg *batch, size_t got,
                         const size_t *want, bool *known)
{
    int stored = 0;
    char *err = NULL;
    int rc = got ? iq_store_batch(ctx, batch, got, 0, &stored, &err) : 0;
    if (rc < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
    } else {
        s->res->messages_new += stored;
        for (size_t k = 0; k < got; k++)
            known[want[k]] = true;
    }
    iq_store_msgs_release(batch, got);
    return rc;
}

/* Fetches what is not stored yet, batch by batch. With PIPELINING (RFC 2449) a batch's RETR
 * commands go out together, so the server never waits for us between messages. */
static int fetch_and_store(pop3 *p, entry *e, size_t n, bool *known)
{
    iq_session *s = p->s;
    iq_store_ctx ctx = {.pg = s->pg,
                        .account = s->account,
                        .mailbox = "INBOX",
                        .job_id = s->job_id,
                        .topic_new_mail = s->env->topic_new_mail};
    bool pipelining = iq_session_has_cap(s->capabilities, "PIPELINING");
    size_t cap = (size_t)s->fetch_batch;
    iq_store_msg *batch = iq_xcalloc(cap, sizeof(*batch));
    size_t *want = iq_xcalloc(cap, sizeof(*want));
    int rc = 0;
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t nb = 0;
        uint64_t bytes = 0;
        while (i < n && nb < cap) {
            if (known[i]) {
                i++;
                continue;
            }
            if (e[i].size > s->max_message) {
                s->res->messages_skipped++;
                IQ_WARN("skipping message %s: %llu bytes is over max_message", e[i].uidl,
                        (unsigned long long)e[i].size);
                i++;
                continue;
            }
            if (e[i].size > IQ_STREAM_ABOVE || (nb > 0 && bytes + e[i].size > IQ_BATCH_BYTES))
                break;
            bytes += e[i].size;
            want[nb++] = i++;
        }
        if (nb == 0) {
            if (i < n && e[i].size > IQ_STREAM_ABOVE && e[i].size <= s->max_message) {
                /* a large one goes alone, straight into PostgreSQL */
                if (retrieve_streamed(p, &ctx, &e[i]) < 0)
                    rc = -1;
                else
                    known[i] = true;
                i++;
            }
            continue;
        }
        if (pipelining) {
            iq_buf cmds;
            iq_buf_init(&cmds, nb * RETR_LINE_MAX + 1);
            for (size_t k = 0; k < nb && rc == 0; k++)
                if (iq_buf_appendf(&cmds, "RETR %u\r\n", e[want[k]].num) < 0)
                    rc = iq_session_fail(s, IQ_ERR_CONFIG, "POP3 command too long");
            if (rc == 0 && (mailstream_write(s->stream, cmds.data, cmds.len) < 0 ||
                            mailstream_flush(s->stream) < 0))
                rc = iq_session_fail(s, IQ_ERR_CONNECT, "sending commands to the server failed");
            iq_buf_release(&cmds);
        }
        size_t got = 0;
        for (size_t k = 0; k < nb && rc == 0; k++) {
            if (!pipelining && send_cmd(p, "RETR %u", e[want[k]].num) < 0) {
                rc = -1;
                break;
            }
            if (retrieve_reply(p, &e[want[k]], &batch[got]) < 0)
                rc = -1;
            else
                got++;
        }
        /* what arrived is worth keeping even when the rest failed */
        if (store_fetched(s, &ctx, batch, got, want, known) < 0)
            rc = -1;
    }
    free(want);
    free(batch);
    return rc;
}

static int pop3_run(iq_session *s)
{
    pop3 p = {.s = s, .line = mmap_string_new("")};
    if (!p.line)
        iq_oom();
    const iq_account *a = s->account;
    entry *e = NULL;
    size_t n = 0;
    bool *known = NULL;
    int rc = -1;
    int st = status(&p);
    if (st != 1) {
        if (st == 0)
            iq_session_fail(s, IQ_ERR_PROTOCOL, "the server greeted with -ERR");
        goto out;
    }
    iq_pop3_apop_timestamp(p.line->str, p.timestamp, sizeof(p.timestamp));
    if (capa(&p) < 0)
        goto out;
    if (a->security == IQ_SEC_STARTTLS) {
        if (!iq_session_has_cap(s->capabilities, "STLS")) {
            iq_session_fail(s, IQ_ERR_STARTTLS_POLICY,
                            "the server does not offer STLS and the account requires it; "
                            "nothing was sent in clear");
            goto out;
        }
        if (send_cmd(&p, "STLS") < 0 || (st = status(&p)) < 0)
            goto out;
        if (st == 0) {
            iq_session_fail(s, IQ_ERR_STARTTLS_POLICY,
                            "the server refused STLS; nothing was sent in clear");
            goto out;
        }
        iq_err cls = IQ_OK;
        char *err = NULL;
        if (iq_stream_starttls(s->st, s->stream, s->env->tls_ctx, a->host, !a->ignore_certificate,
                               &s->res->tls, &cls, &err) < 0) {
            iq_session_fail(s, cls, "%s", err);
            free(err);
            goto out;
        }
        s->res->tls_used = true;
        if (capa(&p) < 0) /* only what the server says inside TLS counts */
            goto out;
    }
    if (authenticate(&p) < 0)
        goto out;
    if (uidl(&p, &e, &n) < 0)
        goto out;
    if (s->probe_only) {
        if (list_sizes(&p, e, n) < 0)
            goto out;
        s->probe_messages = (int64_t)n;
        for (size_t i = 0; i < n; i++)
            s->probe_bytes += (int64_t)e[i].size;
        send_cmd(&p, "QUIT");
        rc = 0;
        goto out;
    }
    known = iq_xcalloc(n ? n : 1, sizeof(*known));
    char **uidls = iq_xcalloc(n ? n : 1, sizeof(*uidls));
    for (size_t i = 0; i < n; i++)
        uidls[i] = e[i].uidl;
    char *err = NULL;
    if (iq_store_known_uidls(s->pg, a->id, "INBOX", uidls, n, known, &err) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
        free(uidls);
        goto out;
    }
    /* sizes only matter for what is not stored yet: an idle maildrop needs no LIST */
    bool unknown = false;
    for (size_t i = 0; i < n && !unknown; i++)
        unknown = !known[i];
    if (unknown && list_sizes(&p, e, n) < 0) {
        free(uidls);
        goto out;
    }
    if (fetch_and_store(&p, e, n, known) < 0) {
        free(uidls);
        goto out;
    }
    iq_failpoint("check.after_store");
    /* Delete only what is stored (committed), then QUIT: POP3 deletes at QUIT only. */
    size_t ndel = 0;
    if (!a->keep_copy) {
        for (size_t i = 0; i < n; i++) {
            if (!known[i])
                continue;
            if (send_cmd(&p, "DELE %u", e[i].num) < 0 || (st = status(&p)) < 0) {
                free(uidls);
                goto out;
            }
            if (st == 1)
                uidls[ndel++] = e[i].uidl;
        }
    }
    if (send_cmd(&p, "QUIT") < 0 || (st = status(&p)) < 0) {
        free(uidls);
        goto out;
    }
    if (ndel > 0) {
        if (st != 1) {
            free(s->res->note);
            s->res->note = iq_xstrdup("the server did not confirm QUIT: messages may still be "
                                      "on the server and will be deleted at the next check");
        } else if (iq_store_mark_deleted_uidls(s->pg, a->id, "INBOX", uidls, ndel, &err) < 0) {
            iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
            free(err);
            free(uidls);
            goto out;
        } else {
            s->res->messages_deleted += (int)ndel;
        }
    }
    free(uidls);
    rc = 0;
out:
    free(known);
    iq_pop3_entries_free(e, n);
    mmap_string_free(p.line);
    return rc;
}

const iq_driver iq_pop3_driver = {
    .name = "pop3",
    .syntax = IQ_STREAM_PLAIN_LINES,
    .run = pop3_run,
};
