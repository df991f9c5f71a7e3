/* SPDX-License-Identifier: MIT */
/* IMAP IDLE (RFC 2177) on a connection opened as a check opens it. IDLE and DONE are written
 * and their answers read line by line here, not through libetpan's mailimap_idle_done(), which
 * reads the tagged answer without checking that it is one (a BYE there is read as a tagged
 * response). The stream's guard rails (line cap, read_timeout) hold throughout. */
#include "idle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "account.h"
#include "session.h"
#include "util.h"

struct iq_idle {
    mailimap *imap;
    iq_stream *st;
    bool idling;
    bool failed;
    unsigned tagn;
    char tag[24];
    iq_err cls;
    char error[512];
    /* what a check on this session needs of its opening: capabilities (UIDPLUS) and TLS */
    char *caps;
    bool tls_used;
    iq_tls_info tls;
};

static int end(iq_idle *ic, iq_err cls, const char *fmt, ...) IQ_PRINTF(3, 4);

/* Records why the connection ended (the stream's own failure first). Returns IQ_IDLE_ENDED. */
static int end(iq_idle *ic, iq_err cls, const char *fmt, ...)
{
    if (ic->failed)
        return IQ_IDLE_ENDED;
    ic->failed = true;
    iq_err scls = ic->st ? iq_stream_error_class(ic->st) : IQ_OK;
    if (scls) {
        ic->cls = scls;
        snprintf(ic->error, sizeof(ic->error), "%s", iq_stream_error(ic->st));
        return IQ_IDLE_ENDED;
    }
    ic->cls = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ic->error, sizeof(ic->error), fmt, ap);
    va_end(ap);
    return IQ_IDLE_ENDED;
}

static int send_line(iq_idle *ic, const char *line)
{
    size_t n = strlen(line);
    if (mailstream_write(ic->imap->imap_stream, line, n) != (ssize_t)n ||
        mailstream_flush(ic->imap->imap_stream) == -1)
        return end(ic, IQ_ERR_CONNECT, "%s", "the connection failed while sending");
    return 0;
}

/* What an untagged line means for push. */
static int untagged(iq_idle *ic, const char *line)
{
    const char *p = line + 2;
    if (strncasecmp(p, "BYE", 3) == 0) {
        size_t n = strcspn(p, "\r\n");
        return end(ic, IQ_ERR_PROTOCOL, "the server ended the session: %.*s",
                   (int)(n > 200 ? 200 : n), p);
    }
    char *after = NULL;
    errno = 0;
    unsigned long long n = strtoull(p, &after, 10);
    if (after == p || errno || *after != ' ')
        return 0; /* OK "still here" and other untagged text */
    after++;
    if (strncasecmp(after, "EXISTS", 6) == 0)
        return IQ_IDLE_NEW_MAIL;
    if (strncasecmp(after, "RECENT", 6) == 0)
        return n > 0 ? IQ_IDLE_NEW_MAIL : 0;
    if (strncasecmp(after, "FETCH", 5) == 0 && strstr(after, "\\Recent"))
        return IQ_IDLE_NEW_MAIL;
    return 0; /* EXPUNGE, FETCH of flags, ... */
}

static const char *read_line(iq_idle *ic)
{
    const char *line = mailimap_read_line(ic->imap);
    if (!line)
        end(ic, IQ_ERR_PROTOCOL, "%s", "the server closed the connection");
    return line;
}

static bool is_tagged(const iq_idle *ic, const char *line)
{
    size_t n = strlen(ic->tag);
    return strncmp(line, ic->tag, n) == 0 && line[n] == ' ';
}

/* Reads up to the line that passes stop(); untagged lines on the way add their bits. */
static int read_until(iq_idle *ic, bool tagged, const char **last_r)
{
    int bits = 0;
    for (;;) {
        const char *line = read_line(ic);
        if (!line)
            return bits | IQ_IDLE_ENDED;
        if (line[0] == '*' && line[1] == ' ') {
            bits |= untagged(ic, line);
            if (bits & IQ_IDLE_ENDED)
                return bits;
            continue;
        }
        if ((tagged && is_tagged(ic, line)) ||
            (!tagged && (line[0] == '+' || is_tagged(ic, line)))) {
            *last_r = line;
            return bits;
        }
        /* anything else during IDLE is a server out of step with us */
        return bits | end(ic, IQ_ERR_PROTOCOL, "unexpected line from the server: %.60s", line);
    }
}

int iq_idle_start(iq_idle *ic)
{
    if (ic->failed)
        return IQ_IDLE_ENDED;
    if (iq_stream_error_class(ic->st) != IQ_OK) /* a check on it failed the stream */
        return end(ic, IQ_ERR_PROTOCOL, "%s", "the connection failed");
    char cmd[48];
    snprintf(ic->tag, sizeof(ic->tag), "IQI%u", ++ic->tagn);
    snprintf(cmd, sizeof(cmd), "%s IDLE\r\n", ic->tag);
    if (send_line(ic, cmd) < 0)
        return IQ_IDLE_ENDED;
    const char *last = NULL;
    int bits = read_until(ic, false, &last);
    if ((bits & IQ_IDLE_ENDED) || !last)
        return bits | IQ_IDLE_ENDED;
    if (last[0] != '+')
        return bits | end(ic, IQ_ERR_PROTOCOL, "the server refused IDLE: %.100s", last);
    ic->idling = true;
    return bits;
}

bool iq_idle_buffered(const iq_idle *ic)
{
    SSL *ssl = iq_stream_ssl(ic->st);
    return ic->imap->imap_stream->read_buffer_len > 0 || (ssl && SSL_pending(ssl) > 0);
}

/* Whether application bytes can be read now, without waiting: 1 yes, 0 no, -1 the connection
 * is over. A TLS record without application data (a session ticket) is consumed here. */
static int readable_now(iq_idle *ic)
{
    if (iq_idle_buffered(ic))
        return 1;
    SSL *ssl = iq_stream_ssl(ic->st);
    char c;
    if (!ssl) {
        ssize_t r = recv(iq_stream_fd(ic->st), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r > 0)
            return 1;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        end(ic, IQ_ERR_PROTOCOL, "%s", "the server closed the connection");
        return -1;
    }
    ERR_clear_error();
    int r = SSL_peek(ssl, &c, 1);
    if (r > 0)
        return 1;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
        end(ic, IQ_ERR_PROTOCOL, "%s", "the server closed the connection");
    else
        end(ic, IQ_ERR_PROTOCOL, "TLS read failed: %s", ERR_reason_error_string(ERR_get_error()));
    return -1;
}

int iq_idle_read(iq_idle *ic)
{
    int bits = 0;
    while (!ic->failed) {
        int ready = readable_now(ic);
        if (ready < 0)
            return bits | IQ_IDLE_ENDED;
        if (ready == 0)
            return bits;
        const char *line = read_line(ic);
        if (!line)
            return bits | IQ_IDLE_ENDED;
        if (line[0] == '*' && line[1] == ' ') {
            bits |= untagged(ic, line);
        } else if (is_tagged(ic, line)) {
            /* the server ended IDLE on its own (RFC 2177 allows it): idle again */
            ic->idling = false;
            bits |= iq_idle_start(ic);
        } else {
            bits |= end(ic, IQ_ERR_PROTOCOL, "unexpected line from the server: %.60s", line);
        }
    }
    return bits | IQ_IDLE_ENDED;
}

int iq_idle_done(iq_idle *ic)
{
    if (ic->failed)
        return IQ_IDLE_ENDED;
    if (!ic->idling)
        return 0;
    if (send_line(ic, "DONE\r\n") < 0)
        return IQ_IDLE_ENDED;
    ic->idling = false;
    const char *last = NULL;
    int bits = read_until(ic, true, &last);
    if ((bits & IQ_IDLE_ENDED) || !last)
        return bits | IQ_IDLE_ENDED;
    const char *cond = last + strlen(ic->tag) + 1;
    if (strncasecmp(cond, "OK", 2) != 0)
        return bits | end(ic, IQ_ERR_PROTOCOL, "the server did not accept DONE: %.100s", last);
    return bits;
}

int iq_idle_fd(const iq_idle *ic)
{
    return iq_stream_fd(ic->st);
}

void iq_idle_fail(iq_idle *ic, iq_err cls, const char *why)
{
    end(ic, cls, "%s", why);
}

const char *iq_idle_error(const iq_idle *ic)
{
    return ic->failed ? ic->error : "no error";
}

iq_err iq_idle_error_class(const iq_idle *ic)
{
    return ic->failed ? ic->cls : IQ_OK;
}

void iq_idle_close(iq_idle **icp)
{
    iq_idle *ic = *icp;
    if (!ic)
        return;
    if (!ic->failed && iq_idle_done(ic) == 0 && !ic->failed && ic->st &&
        iq_stream_error_class(ic->st) == IQ_OK)
        mailimap_logout(ic->imap);
    mailimap_free(ic->imap); /* closes the stream, its socket and TLS */
    free(ic->caps);
    free(ic);
    *icp = NULL;
}

int iq_idle_open(PGconn *c, const iq_check_env *env, int64_t account_id, iq_idle **idle_r,
                 iq_check_result *res)
{
    *idle_r = NULL;
    memset(res, 0, sizeof(*res));
    iq_session s;
    iq_account a;
    if (iq_session_open_account(&s, c, env, account_id, res, &a) < 0)
        return -1;
    int rc = -1;
    if (a.protocol != IQ_PROTO_IMAP || a.push == IQ_PUSH_OFF) {
        iq_session_fail(&s, IQ_ERR_CONFIG, "%s", "the account is not set up for push");
        goto out;
    }
    /* the check's own sign-in: a password or an OAuth2 token, the key ring */
    mailimap *imap = NULL;
    s.hold_r = &imap;
    int run = iq_session_login_run(&s, &a, NULL, 0);
    if (run < 0 || !imap)
        goto out;
    bool has_idle = iq_session_has_cap(s.capabilities, "IDLE") || mailimap_has_idle(imap);
    iq_stream *stream = iq_stream_of(imap->imap_stream);
    if (!has_idle || !stream) {
        if (stream && iq_stream_error_class(stream) == IQ_OK)
            mailimap_logout(imap);
        mailimap_free(imap);
        rc = 0;
        goto out;
    }
    /* Held for as long as the worker owns the account: no check deadline, a fresh byte budget;
     * every single read still waits at most read_timeout. */
    iq_stream_limits lim = s.limits;
    lim.deadline_ms = INT64_MAX / 2;
    iq_stream_set_limits(stream, &lim);
    SSL *ssl = iq_stream_ssl(stream);
    if (ssl)
        SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS); /* no 2 x 16 KB of buffers while idle */
    iq_idle *ic = iq_xcalloc(1, sizeof(*ic));
    ic->imap = imap;
    ic->st = stream;
    ic->caps = s.capabilities;
    s.capabilities = NULL;
    ic->tls_used = res->tls_used;
    ic->tls = res->tls;
    *idle_r = ic;
    rc = 1;
out:
    free(s.capabilities);
    iq_account_release(&a);
    return rc;
}

int iq_idle_check(PGconn *c, const iq_check_env *env, int64_t account_id, const char *job_id,
                  const char *requested_by, iq_idle *ic, int *bits_r, iq_check_result *res)
{
    memset(res, 0, sizeof(*res));
    /* DONE first: what the server announces meanwhile is this check's to fetch */
    int bits = iq_idle_done(ic);
    if (bits & IQ_IDLE_ENDED) {
        *bits_r = IQ_IDLE_ENDED;
        return IQ_IDLE_NOT_HELD;
    }
    iq_held held = {ic->imap, ic->caps, ic->tls_used ? &ic->tls : NULL};
    bool more = false;
    int rc = iq_check_run_on(c, env, account_id, job_id, requested_by, &held, &more, res);
    /* A check that failed on the server's side leaves the session in a state not worth
     * trusting (a folder gone, a protocol error, a timeout): it is ended and opened afresh. A
     * failure of ours (PostgreSQL, a cap) leaves it as sound as it was. */
    if (rc < 0 && !res->already_done && res->error_class != IQ_ERR_STORAGE &&
        res->error_class != IQ_ERR_NOT_FOUND && res->error_class != IQ_ERR_SIZE_LIMIT) {
        end(ic, res->error_class, "%s", res->error ? res->error : "the check failed");
        *bits_r = IQ_IDLE_ENDED;
        return rc;
    }
    bits = iq_idle_start(ic);
    *bits_r = bits | (more ? IQ_IDLE_NEW_MAIL : 0);
    return rc;
}
