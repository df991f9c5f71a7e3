/* SPDX-License-Identifier: MIT */
/* Network Connector replies: what a SOCKS5 (RFC 1928/1929) or HTTP CONNECT proxy answers to
 * lib/proxy.c's handshakes on a socket, and the rule that a successful handshake leaves every
 * byte after the proxy's reply unread for the mail protocol.
 *
 * Input: one option byte, then everything the proxy sends. Option bits:
 *   0x01  HTTP CONNECT (else SOCKS5)
 *   0x02  the connector has a credential (SOCKS5 offers username/password; HTTP sends Basic)
 *   0x0c  the target host: 0 a name, 1 an IPv4 literal, 2 an IPv6 literal, 3 a bracketed one */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "net.h"
#include "proxy.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The length of a successful SOCKS5 exchange's replies, counted independently of lib/proxy.c:
 * method selection, the RFC 1929 status when username/password was chosen, then VER REP RSV
 * ATYP BND.ADDR BND.PORT. 0 when data is too short to tell. */
static size_t socks_reply_len(const uint8_t *d, size_t len, bool auth)
{
    size_t off = 2;
    if (len < off)
        return 0;
    if (auth && d[1] == 0x02)
        off += 2;
    off += 4;
    if (len < off)
        return 0;
    switch (d[off - 1]) {
    case 0x01:
        return off + 4 + 2;
    case 0x04:
        return off + 16 + 2;
    case 0x03:
        return len > off ? off + 1 + d[off] + 2 : 0;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    static const char *const hosts[] = {"imap.example.org", "192.0.2.1", "2001:db8::1",
                                        "[2001:db8::1]"};
    const char *host = hosts[(opt >> 2) & 3];
    const char *user = (opt & 0x02) ? "fuzz" : NULL;
    const char *pass = (opt & 0x02) ? "not-a-secret" : NULL;
    const uint8_t *reply = data + 1;
    size_t len = size - 1;

    iq_fuzz_peer peer;
    iq_fuzz_peer_open(&peer, reply, len);
    iq_err cls = IQ_OK;
    char *err = NULL;
    /* the deadline is never reached: the peer's input is all there, then end of stream */
    int64_t deadline = iq_now_mono_ms() + 10000;
    int rc =
        (opt & 0x01)
            ? iq_proxy_http_connect(peer.client, host, 993, user, pass, deadline, 0, &cls, &err)
            : iq_proxy_socks5(peer.client, host, 993, user, pass, deadline, 0, &cls, &err);
    if (getenv("INBOXQ_FUZZ_VERBOSE"))
        fprintf(stderr, "proxy: rc %d, %s: %s\n", rc, iq_err_name(cls), err ? err : "");
    if (rc < 0) {
        if (!err || (cls != IQ_ERR_PROXY && cls != IQ_ERR_TIMEOUT))
            iq_fuzz_fail("a failed handshake must say why (class %s)", iq_err_name(cls));
        if (strpbrk(err, "\r\n"))
            iq_fuzz_fail("the error is not one line: %s", err);
        /* (a proxy may echo it: only what did not come from the proxy counts) */
        if (strstr(err, "not-a-secret") && !memmem(reply, len, "not-a-secret", 12))
            iq_fuzz_fail("the error shows the password: %s", err);
    } else {
        if (cls != IQ_OK || err)
            iq_fuzz_fail("a successful handshake set an error");
        /* what is left must be exactly the end of what the proxy sent: nothing read past its
         * reply, nothing lost */
        uint8_t *rest = iq_xmalloc(len + 1);
        size_t n = iq_fuzz_peer_unread(&peer, rest, len + 1);
        if (n > len || memcmp(rest, reply + len - n, n) != 0)
            iq_fuzz_fail("the handshake read past the proxy's reply (%zu of %zu bytes left)", n,
                         len);
        size_t used = len - n;
        if (opt & 0x01) {
            /* HTTP: the reply ends at the first empty line; the rest is the mail server's */
            if (used < 2 || reply[used - 1] != '\n')
                iq_fuzz_fail("the HTTP reply was cut at %zu bytes, not after a line", used);
        } else if (used != socks_reply_len(reply, len, user != NULL)) {
            iq_fuzz_fail("SOCKS5: %zu bytes taken, the reply has %zu", used,
                         socks_reply_len(reply, len, user != NULL));
        }
        free(rest);
    }
    free(err);
    iq_fuzz_peer_close(&peer);
    return 0;
}
