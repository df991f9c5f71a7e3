/* SPDX-License-Identifier: MIT */
/* TCP client sockets with deadlines: DNS resolution with a real timeout, IPv4/IPv6 connect
 * with a per-address timeout, and deadline-bounded reads and writes (RFC 793, RFC 6724 order). */
#ifndef IQ_NET_H
#define IQ_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Deadlines are absolute iq_now_mono_ms() values; pass IQ_NET_NO_DEADLINE for none. */
#define IQ_NET_NO_DEADLINE INT64_MAX
/* Buffer size that always fits iq_net_peer()'s output ("[v6-address]:port"). */
#define IQ_NET_PEER_MAX 64

/* Resolves host (AF_UNSPEC; an IP literal, bracketed or not, needs no DNS) and connects to
 * each address in turn until one accepts. dns_timeout_ms bounds the lookup, connect_timeout_ms
 * bounds each address's attempt (<= 0: only the deadline), deadline_ms bounds the whole call.
 * On success *fd_r is a connected socket that is non-blocking, close-on-exec and TCP_NODELAY.
 * On failure *fd_r = -1, *class_r is IQ_ERR_DNS (lookup failed or exceeded dns_timeout_ms),
 * IQ_ERR_CONNECT (refused, unreachable, or every address exceeded connect_timeout_ms) or
 * IQ_ERR_TIMEOUT (deadline_ms passed), and *error_r (malloc'd, one line) names the host and what to
 * check. class_r and error_r may be NULL. */
int iq_net_connect(const char *host, int port, int64_t dns_timeout_ms, int64_t connect_timeout_ms,
                   int64_t deadline_ms, int *fd_r, iq_err *class_r, char **error_r);

/* Polls fd for events (POLLIN / POLLOUT) until deadline_ms, retrying on EINTR.
 * Returns 1 when ready (including POLLERR/POLLHUP: the next read or write reports it),
 * 0 when the deadline passed, -1 on error (errno set). */
int iq_net_wait(int fd, short events, int64_t deadline_ms);

/* Reads at most n (> 0) bytes from the socket fd, waiting until deadline_ms for data.
 * Returns the byte count, 0 at end of stream, -1 on error (errno set; ETIMEDOUT when the
 * deadline passed). Works whether or not fd itself is non-blocking. */
ssize_t iq_net_read(int fd, void *buf, size_t n, int64_t deadline_ms);

/* Writes all n bytes to the socket fd before deadline_ms (never raises SIGPIPE).
 * Returns 0, or -1 with errno set (ETIMEDOUT when the deadline passed, EPIPE when the peer
 * closed). */
int iq_net_write_all(int fd, const void *buf, size_t n, int64_t deadline_ms);

/* Formats the socket's peer address into buf as "127.0.0.1:993" or "[::1]:993" ("unknown"
 * when it has none) and returns buf. */
const char *iq_net_peer(int fd, char *buf, size_t size);

#endif
