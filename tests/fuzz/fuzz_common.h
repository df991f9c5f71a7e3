/* SPDX-License-Identifier: MIT */
/* What the libFuzzer targets share: a peer that plays the server from the fuzz input over a
 * socketpair, so the product's own socket code reads it exactly as it reads a real server. */
#ifndef IQ_FUZZ_COMMON_H
#define IQ_FUZZ_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct iq_fuzz_peer {
    int client; /* our end: non-blocking, close-on-exec, as iq_net_connect() leaves it */
    int server; /* the peer's end: holds the input, then end of stream; never read */
    const uint8_t *data;
    size_t len;
    size_t sent;
    pthread_t writer; /* only when the input did not fit in the socket buffer at once */
    bool threaded;
} iq_fuzz_peer;

/* Connects a socketpair and makes data[0..len) the whole of what the server ever sends,
 * followed by end of stream. data must stay valid until iq_fuzz_peer_close(). Aborts when the
 * machine refuses a socketpair (a harness failure, not a finding). */
void iq_fuzz_peer_open(iq_fuzz_peer *p, const uint8_t *data, size_t len);
/* Reads what is left unread on the client end (at most cap bytes) into buf; returns the count.
 * For checking that a handshake left the mail server's bytes alone. */
size_t iq_fuzz_peer_unread(iq_fuzz_peer *p, uint8_t *buf, size_t cap);
/* Closes the server end (and the client end unless the code under test took it: set
 * p->client = -1 then). */
void iq_fuzz_peer_close(iq_fuzz_peer *p);

/* True when INBOXQ_FUZZ_STRICT is set (to anything but "" or "0"): the targets then also report
 * the defects already recorded under tests/fuzz/crashes/ (see the README's Fuzzing section),
 * which they otherwise let pass so that fuzzing can find new ones. */
bool iq_fuzz_strict(void);

/* Prints what broke and aborts, so libFuzzer records the input as a crash. */
void iq_fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
