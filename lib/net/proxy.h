/* SPDX-License-Identifier: MIT */
/* Network Connector handshakes on an already connected socket: SOCKS5 (RFC 1928) with
 * username/password authentication (RFC 1929), and HTTP CONNECT (RFC 9110 section 9.3.6) with
 * optional Basic authentication (RFC 7617). */
#ifndef IQ_PROXY_H
#define IQ_PROXY_H

#include <stdint.h>

#include "error.h"

/* Largest HTTP proxy response header block we accept. */
#define IQ_PROXY_HTTP_MAX_HEADER (16 * 1024)

/* Both functions ask the proxy on fd (connected to the proxy) to open a tunnel to host:port,
 * bounded by deadline_ms (absolute iq_now_mono_ms(); IQ_NET_NO_DEADLINE for none). user may be
 * NULL (no authentication); pass NULL counts as "". Neither reads a byte past the proxy's
 * reply: whatever the mail server sends after it stays in the socket for the mail protocol.
 *
 * SOCKS5: a host name is sent as a domain name so the proxy resolves it; IP literals ("192.0.2.1",
 * "2001:db8::1" or "[2001:db8::1]") go as IPv4/IPv6 addresses. Methods offered: 0x00 and 0x02
 * when user is set, 0x00 alone otherwise.
 * HTTP: "CONNECT host:port HTTP/1.1", Host, and Proxy-Authorization: Basic when user is set;
 * the status must be HTTP/1.x 2xx and the header block at most IQ_PROXY_HTTP_MAX_HEADER bytes.
 *
 * Returns 0 when the tunnel is open. On failure -1, *class_r is IQ_ERR_PROXY (refusal with the
 * proxy's reason, bad credentials, malformed or truncated reply, unusable arguments) or
 * IQ_ERR_TIMEOUT (deadline passed, or the proxy sent nothing for idle_ms: read_timeout; 0 = no
 * such limit), and *error_r (malloc'd, one line, never a credential) says what
 * failed and what to do. class_r and error_r may be NULL. The caller closes fd on failure. */
int iq_proxy_socks5(int fd, const char *host, int port, const char *user, const char *pass,
                    int64_t deadline_ms, int64_t idle_ms, iq_err *class_r, char **error_r);
int iq_proxy_http_connect(int fd, const char *host, int port, const char *user, const char *pass,
                          int64_t deadline_ms, int64_t idle_ms, iq_err *class_r, char **error_r);

#endif
