/* SPDX-License-Identifier: MIT */
/* SOCKS5 (RFC 1928, RFC 1929 authentication) and HTTP CONNECT (RFC 9110 9.3.6, RFC 7617 Basic)
 * handshakes that leave every byte after the proxy's reply unread. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "buf.h"
#include "net.h"
#include "util.h"

#define SOCKS_VERSION 0x05
#define SOCKS_AUTH_VERSION 0x01
#define SOCKS_METHOD_NONE 0x00
#define SOCKS_METHOD_USERPASS 0x02
#define SOCKS_METHOD_REFUSED 0xFF
#define SOCKS_CMD_CONNECT 0x01
#define SOCKS_ATYP_IPV4 0x01
#define SOCKS_ATYP_DOMAIN 0x03
#define SOCKS_ATYP_IPV6 0x04

/* What the proxy is called in messages. */
typedef struct proxy_ctx {
    int fd;
    const char *kind; /* "SOCKS5" or "HTTP" */
    int64_t deadline_ms;
    int64_t idle_ms; /* longest wait for the proxy (read_timeout); 0: none */
    iq_err *class_r;
    char **error_r;
} proxy_ctx;

static int fail(proxy_ctx *c, iq_err cls, char *msg)
{
    if (c->class_r)
        *c->class_r = cls;
    if (c->error_r)
        *c->error_r = msg;
    else
        free(msg);
    return -1;
}

/* The deadline of one wait: the check's, or idle_ms from now when that comes first. */
static int64_t step_deadline(const proxy_ctx *c)
{
    int64_t now = iq_now_mono_ms();
    if (c->idle_ms > 0 && c->idle_ms < c->deadline_ms - now)
        return now + c->idle_ms;
    return c->deadline_ms;
}

static int fail_io(proxy_ctx *c, int err, const char *doing)
{
    if (err == ETIMEDOUT && iq_now_mono_ms() < c->deadline_ms)
        return fail(c, IQ_ERR_TIMEOUT,
                    iq_xasprintf("the %s proxy sent nothing for %lld ms (read_timeout) while %s; "
                                 "check the proxy",
                                 c->kind, (long long)c->idle_ms, doing));
    if (err == ETIMEDOUT)
        return fail(c, IQ_ERR_TIMEOUT,
                    iq_xasprintf("the %s proxy handshake reached the check's deadline while %s; "
                                 "check the proxy or raise the check timeout",
                                 c->kind, doing));
    char eb[IQ_STRERROR_SIZE];
    return fail(c, IQ_ERR_PROXY,
                iq_xasprintf("the %s proxy handshake failed while %s: %s; check the proxy", c->kind,
                             doing, iq_strerror(err, eb, sizeof(eb))));
}

static int send_all(proxy_ctx *c, const void *buf, size_t n, const char *doing)
{
    if (iq_net_write_all(c->fd, buf, n, step_deadline(c)) < 0)
        return fail_io(c, errno, doing);
    return 0;
}

/* Reads exactly n bytes: never more, so the mail server's first bytes stay in the socket. */
static int read_exact(proxy_ctx *c, void *buf, size_t n, const char *what)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = iq_net_read(c->fd, (char *)buf + got, n - got, step_deadline(c));
        if (r < 0) {
            char doing[96];
            snprintf(doing, sizeof(doing), "reading its %s", what);
            return fail_io(c, errno, doing);
        }
        if (r == 0)
            return fail(c, IQ_ERR_PROXY,
                        iq_xasprintf("the %s proxy closed the connection in the middle of its %s "
                                     "(%zu of %zu bytes); check the proxy's logs",
                                     c->kind, what, got, n));
        got += (size_t)r;
    }
    return 0;
}

/* Host without IPv6 brackets, checked to be printable ASCII without spaces. -1 if not. */
static int plain_host(const char *host, char *buf, size_t size)
{
    if (!host)
        return -1;
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= size)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (ch <= 0x20 || ch >= 0x7F)
            return -1;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    return 0;
}

static int check_target(proxy_ctx *c, const char *host, int port, char *name, size_t size)
{
    if (plain_host(host, name, size) < 0)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("cannot ask the %s proxy for this host: it is empty, longer than "
                                 "255 bytes, or not printable ASCII; fix the account's host",
                                 c->kind));
    if (port < 1 || port > 65535)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("cannot ask the %s proxy for port %d; use a port between 1 and "
                                 "65535",
                                 c->kind, port));
    return 0;
}

/* ---- SOCKS5 ---- */

static const char *socks_rep_text(unsigned rep)
{
    switch (rep) {
    case 0x01:
        return "general SOCKS server failure";
    case 0x02:
        return "connection not allowed by the proxy's rules";
    case 0x03:
        return "network unreachable from the proxy";
    case 0x04:
        return "host unreachable from the proxy";
    case 0x05:
        return "connection refused by the mail server";
    case 0x06:
        return "TTL expired";
    case 0x07:
        return "command not supported by the proxy";
    case 0x08:
        return "address type not supported by the proxy";
    default:
        return "unknown SOCKS5 reply code";
    }
}

static int socks_not_socks(proxy_ctx *c, unsigned first)
{
    return fail(c, IQ_ERR_PROXY,
                iq_xasprintf("the proxy did not answer as a SOCKS5 proxy (first byte 0x%02x%s); "
                             "check the connector's type and port",
                             first, first == 'H' ? ", looks like HTTP" : ""));
}

static int socks_auth(proxy_ctx *c, const char *user, const char *pass)
{
    size_t ulen = strlen(user), plen = strlen(pass);
    if (ulen == 0 || ulen > 255 || plen > 255)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the connector's SOCKS5 username must be 1 to 255 bytes and its "
                                 "password at most 255 bytes (RFC 1929); fix the credential"));
    unsigned char msg[3 + 255 + 255];
    size_t n = 0;
    msg[n++] = SOCKS_AUTH_VERSION;
    msg[n++] = (unsigned char)ulen;
    memcpy(msg + n, user, ulen);
    n += ulen;
    msg[n++] = (unsigned char)plen;
    memcpy(msg + n, pass, plen);
    n += plen;
    int rc = send_all(c, msg, n, "sending the username/password");
    iq_secure_zero(msg, sizeof(msg));
    if (rc < 0)
        return -1;

    unsigned char reply[2];
    if (read_exact(c, reply, sizeof(reply), "authentication reply") < 0)
        return -1;
    if (reply[0] != SOCKS_AUTH_VERSION)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy's authentication reply has version 0x%02x "
                                 "instead of 0x01 (RFC 1929); check the proxy",
                                 reply[0]));
    if (reply[1] != 0x00)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy rejected the username/password (status "
                                 "0x%02x); check the connector's credential",
                                 reply[1]));
    return 0;
}

int iq_proxy_socks5(int fd, const char *host, int port, const char *user, const char *pass,
                    int64_t deadline_ms, int64_t idle_ms, iq_err *class_r, char **error_r)
{
    proxy_ctx ctx = {fd, "SOCKS5", deadline_ms, idle_ms, class_r, error_r};
    proxy_ctx *c = &ctx;
    if (class_r)
        *class_r = IQ_OK;
    if (error_r)
        *error_r = NULL;
    if (!pass)
        pass = "";

    char name[256];
    if (check_target(c, host, port, name, sizeof(name)) < 0)
        return -1;

    /* Method negotiation: offer username/password only when we have it. */
    unsigned char hello[4];
    size_t hn = 0;
    hello[hn++] = SOCKS_VERSION;
    if (user) {
        hello[hn++] = 2;
        hello[hn++] = SOCKS_METHOD_NONE;
        hello[hn++] = SOCKS_METHOD_USERPASS;
    } else {
        hello[hn++] = 1;
        hello[hn++] = SOCKS_METHOD_NONE;
    }
    if (send_all(c, hello, hn, "sending the greeting") < 0)
        return -1;
    unsigned char sel[2];
    if (read_exact(c, sel, sizeof(sel), "method selection") < 0)
        return -1;
    if (sel[0] != SOCKS_VERSION)
        return socks_not_socks(c, sel[0]);
    if (sel[1] == SOCKS_METHOD_REFUSED)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf(user ? "the SOCKS5 proxy accepts neither no authentication nor "
                                        "username/password; check the proxy's configuration"
                                      : "the SOCKS5 proxy requires authentication; add a "
                                        "credential to the connector"));
    if (sel[1] == SOCKS_METHOD_USERPASS && user) {
        if (socks_auth(c, user, pass) < 0)
            return -1;
    } else if (sel[1] != SOCKS_METHOD_NONE) {
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy chose authentication method 0x%02x, which we "
                                 "did not offer; check the proxy",
                                 sel[1]));
    }

    /* CONNECT: IP literals as addresses, anything else as a name the proxy resolves. */
    unsigned char req[4 + 1 + 255 + 2];
    size_t n = 0;
    req[n++] = SOCKS_VERSION;
    req[n++] = SOCKS_CMD_CONNECT;
    req[n++] = 0x00;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, name, &a4) == 1) {
        req[n++] = SOCKS_ATYP_IPV4;
        memcpy(req + n, &a4, 4);
        n += 4;
    } else if (inet_pton(AF_INET6, name, &a6) == 1) {
        req[n++] = SOCKS_ATYP_IPV6;
        memcpy(req + n, &a6, 16);
        n += 16;
    } else {
        size_t len = strlen(name);
        req[n++] = SOCKS_ATYP_DOMAIN;
        req[n++] = (unsigned char)len;
        memcpy(req + n, name, len);
        n += len;
    }
    req[n++] = (unsigned char)((unsigned)port >> 8);
    req[n++] = (unsigned char)((unsigned)port & 0xFF);
    if (send_all(c, req, n, "sending the CONNECT request") < 0)
        return -1;

    /* Reply: VER REP, then (only on success) RSV ATYP BND.ADDR BND.PORT, read to the byte. */
    unsigned char head[2];
    if (read_exact(c, head, sizeof(head), "CONNECT reply") < 0)
        return -1;
    if (head[0] != SOCKS_VERSION)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy's CONNECT reply has version 0x%02x instead of "
                                 "0x05; check the proxy",
                                 head[0]));
    if (head[1] != 0x00)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy could not reach %s:%d: %s (reply 0x%02x); "
                                 "check the mail server's address and the proxy's rules",
                                 name, port, socks_rep_text(head[1]), head[1]));
    unsigned char tail[2];
    if (read_exact(c, tail, sizeof(tail), "CONNECT reply") < 0)
        return -1;
    if (tail[0] != 0x00)
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy's CONNECT reply has a non-zero reserved byte "
                                 "(0x%02x); check the proxy",
                                 tail[0]));
    size_t rest;
    switch (tail[1]) {
    case SOCKS_ATYP_IPV4:
        rest = 4 + 2;
        break;
    case SOCKS_ATYP_IPV6:
        rest = 16 + 2;
        break;
    case SOCKS_ATYP_DOMAIN: {
        unsigned char len;
        if (read_exact(c, &len, 1, "CONNECT reply") < 0)
            return -1;
        if (len == 0)
            return fail(c, IQ_ERR_PROXY,
                        iq_xasprintf("the SOCKS5 proxy's CONNECT reply has an empty bound host "
                                     "name; check the proxy"));
        rest = (size_t)len + 2;
        break;
    }
    default:
        return fail(c, IQ_ERR_PROXY,
                    iq_xasprintf("the SOCKS5 proxy's CONNECT reply has unknown address type 0x%02x;"
                                 " check the proxy",
                                 tail[1]));
    }
    unsigned char bound[255 + 2];
    if (read_exact(c, bound, rest, "CONNECT reply") < 0)
        return -1;
    return 0;
}

/* ---- HTTP CONNECT ---- */

/* Copies at most max printable ASCII bytes of s[0..n) into a new string, others as '?'. */
static char *printable(const char *s, size_t n, size_t max)
{
    if (n > max)
        n = max;
    char *out = iq_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : '?';
    }
    out[n] = '\0';
    return out;
}

/* Reads the response header block without reading past it: peek, find the blank line, then
 * consume exactly the bytes up to it. Bytes peeked before the blank line shows up are header
 * bytes and are consumed as they come. On success acc holds the block. */
static int http_read_head(proxy_ctx *c, iq_buf *acc)
{
    char *peek = iq_xmalloc(IQ_PROXY_HTTP_MAX_HEADER);
    bool line_has_text = false;
    int ret = -1;
    for (;;) {
        size_t room = IQ_PROXY_HTTP_MAX_HEADER - acc->len;
        if (room == 0) {
            fail(c, IQ_ERR_PROXY,
                 iq_xasprintf("the HTTP proxy's response headers exceed %d KiB; check the proxy",
                              IQ_PROXY_HTTP_MAX_HEADER / 1024));
            goto out;
        }
        ssize_t n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = iq_net_wait(c->fd, POLLIN, step_deadline(c));
            if (w <= 0) {
                fail_io(c, w == 0 ? ETIMEDOUT : errno, "reading its response");
                goto out;
            }
            continue;
        }
        if (n < 0) {
            fail_io(c, errno, "reading its response");
            goto out;
        }
        if (n == 0) {
            fail(c, IQ_ERR_PROXY,
                 iq_xasprintf("the HTTP proxy closed the connection before the end of its "
                              "response headers (%zu bytes received); check the proxy's logs",
                              acc->len));
            goto out;
        }
        /* The block ends at the first line that is empty apart from an optional CR. */
        size_t take = (size_t)n;
        bool end = false;
        for (size_t i = 0; i < (size_t)n; i++) {
            if (peek[i] == '\n') {
                if (!line_has_text) {
                    take = i + 1;
                    end = true;
                    break;
                }
                line_has_text = false;
            } else if (peek[i] != '\r') {
                line_has_text = true;
            }
        }
        size_t got = 0;
        while (got < take) {
            ssize_t r = recv(c->fd, peek + got, take - got, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* The kernel just showed us these bytes; failing now means the socket broke. */
                fail_io(c, r == 0 ? ECONNRESET : errno, "reading its response");
                goto out;
            }
            got += (size_t)r;
        }
        if (iq_buf_append(acc, peek, take) < 0)
            iq_oom(); /* cannot happen: take <= room */
        if (end) {
            ret = 0;
            goto out;
        }
    }
out:
    free(peek);
    return ret;
}

/* Parses "HTTP/1.x NNN reason" (the first line of block). 0 with *code_r, or -1. */
static int http_status(const char *block, size_t len, int *code_r, const char **reason_r,
                       size_t *reason_len_r)
{
    size_t eol = 0;
    while (eol < len && block[eol] != '\n')
        eol++;
    if (eol > 0 && block[eol - 1] == '\r')
        eol--;
    const char *p = block;
    if (eol < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9' || p[8] != ' ')
        return -1;
    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -1;
    if (eol > 12 && p[12] != ' ')
        return -1;
    *code_r = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    *reason_r = eol > 13 ? p + 13 : "";
    *reason_len_r = eol > 13 ? eol - 13 : 0;
    return 0;
}

int iq_proxy_http_connect(int fd, const char *host, int port, const char *user, const char *pass,
                          int64_t deadline_ms, int64_t idle_ms, iq_err *class_r, char **error_r)
{
    proxy_ctx ctx = {fd, "HTTP", deadline_ms, idle_ms, class_r, error_r};
    proxy_ctx *c = &ctx;
    if (class_r)
        *class_r = IQ_OK;
    if (error_r)
        *error_r = NULL;
    if (!pass)
        pass = "";

    char name[256];
    if (check_target(c, host, port, name, sizeof(name)) < 0)
        return -1;
    char authority[256 + 2 + 8];
    if (strchr(name, ':'))
        snprintf(authority, sizeof(authority), "[%s]:%d", name, port);
    else
        snprintf(authority, sizeof(authority), "%s:%d", name, port);

    /* user:pass and its base64 live on the stack only, and are wiped on every path. */
    char userpass[255 + 1 + 255 + 1];
    unsigned char b64[4 * ((sizeof(userpass) + 2) / 3) + 1];
    char req[sizeof(authority) * 2 + sizeof(b64) + 128];
    int ret = -1;
    b64[0] = '\0';
    if (user) {
        size_t ulen = strlen(user), plen = strlen(pass);
        bool bad = ulen > 255 || plen > 255 || strchr(user, ':') != NULL;
        for (size_t i = 0; !bad && i < ulen; i++)
            bad = (unsigned char)user[i] < 0x20 || user[i] == 0x7F;
        for (size_t i = 0; !bad && i < plen; i++)
            bad = (unsigned char)pass[i] < 0x20 || pass[i] == 0x7F;
        if (bad) {
            fail(c, IQ_ERR_PROXY,
                 iq_xasprintf("the connector's HTTP proxy username must have no colon, and "
                              "username and password at most 255 bytes without control "
                              "characters (RFC 7617); fix the credential"));
            goto out;
        }
        memcpy(userpass, user, ulen);
        userpass[ulen] = ':';
        memcpy(userpass + ulen + 1, pass, plen);
        EVP_EncodeBlock(b64, (const unsigned char *)userpass, (int)(ulen + 1 + plen));
    }
    int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%s%s\r\n", authority,
                     authority, user ? "Proxy-Authorization: Basic " : "", (const char *)b64,
                     user ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        fail(c, IQ_ERR_PROXY,
             iq_xasprintf("the HTTP CONNECT request does not fit; shorten the host"));
        goto out;
    }
    if (send_all(c, req, (size_t)n, "sending the CONNECT request") < 0)
        goto out;
    ret = 0;
out:
    iq_secure_zero(userpass, sizeof(userpass));
    iq_secure_zero(b64, sizeof(b64));
    iq_secure_zero(req, sizeof(req));
    if (ret < 0)
        return -1;

    iq_buf head;
    iq_buf_init(&head, IQ_PROXY_HTTP_MAX_HEADER);
    ret = -1;
    if (http_read_head(c, &head) < 0)
        goto done;
    int code;
    const char *reason;
    size_t reason_len;
    if (http_status(head.data, head.len, &code, &reason, &reason_len) < 0) {
        size_t eol = 0;
        while (eol < head.len && head.data[eol] != '\r' && head.data[eol] != '\n')
            eol++;
        char *start = printable(head.data, eol, 40);
        fail(c, IQ_ERR_PROXY,
             iq_xasprintf("the proxy's answer is not an HTTP/1.x status line (\"%s\"); check the "
                          "connector's type and port",
                          start));
        free(start);
        goto done;
    }
    if (code >= 200 && code <= 299) {
        /* A 2xx answer to CONNECT has no body (RFC 9110 9.3.6): the tunnel starts here. */
        ret = 0;
        goto done;
    }
    char *why = printable(reason, reason_len, 80);
    if (code == 407)
        fail(c, IQ_ERR_PROXY,
             iq_xasprintf(user ? "the HTTP proxy rejected the connector's credentials (407 %s); "
                                 "check the connector's credential"
                               : "the HTTP proxy requires authentication (407 %s); add a "
                                 "credential to the connector",
                          why));
    else
        fail(c, IQ_ERR_PROXY,
             iq_xasprintf("the HTTP proxy refused CONNECT to %s (%d %s); check the proxy's "
                          "rules and the mail server's address",
                          authority, code, why));
    free(why);
done:
    iq_buf_release(&head);
    return ret;
}
