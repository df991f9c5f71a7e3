/* SPDX-License-Identifier: MIT */
/* The socketpair peer the network targets read their input from. */
#include "util.h"
#include "fuzz_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void iq_fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("inboxq fuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

bool iq_fuzz_strict(void)
{
    static int strict = -1;
    if (strict < 0) {
        const char *v = getenv("INBOXQ_FUZZ_STRICT");
        strict = v && *v && strcmp(v, "0") != 0;
    }
    return strict;
}

/* Sends the rest of the input, blocking, then ends the stream. */
static void *writer_main(void *arg)
{
    iq_fuzz_peer *p = arg;
    while (p->sent < p->len) {
        ssize_t r = send(p->server, p->data + p->sent, p->len - p->sent, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* the client closed early: the rest is simply never read */
        p->sent += (size_t)r;
    }
    (void)shutdown(p->server, SHUT_WR);
    return NULL;
}

void iq_fuzz_peer_open(iq_fuzz_peer *p, const uint8_t *data, size_t len)
{
    memset(p, 0, sizeof(*p));
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        iq_fuzz_fail("socketpair: %s", IQ_STRERROR(errno));
    p->client = sv[0];
    p->server = sv[1];
    p->data = data;
    p->len = len;
    if (fcntl(p->client, F_SETFL, O_NONBLOCK) < 0)
        iq_fuzz_fail("fcntl: %s", IQ_STRERROR(errno));
    /* Usually the whole input fits in the socket buffer: no thread, no scheduling noise. */
    while (p->sent < len) {
        ssize_t r = send(p->server, data + p->sent, len - p->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            iq_fuzz_fail("send to the socketpair: %s", IQ_STRERROR(errno));
        p->sent += (size_t)r;
    }
    if (p->sent == len) {
        (void)shutdown(p->server, SHUT_WR);
        return;
    }
    if (pthread_create(&p->writer, NULL, writer_main, p) != 0)
        iq_fuzz_fail("pthread_create failed");
    p->threaded = true;
}

size_t iq_fuzz_peer_unread(iq_fuzz_peer *p, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        ssize_t r = recv(p->client, buf + got, cap - got, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (p->threaded && errno != EINTR)
                usleep(100); /* the writer is still sending */
            else if (!p->threaded && errno != EINTR)
                break;
            continue;
        }
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

void iq_fuzz_peer_close(iq_fuzz_peer *p)
{
    if (p->client >= 0)
        close(p->client); /* a blocked writer gets EPIPE and ends */
    p->client = -1;
    if (p->threaded)
        pthread_join(p->writer, NULL);
    close(p->server);
    p->server = -1;
    p->threaded = false;
}
