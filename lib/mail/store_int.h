/* SPDX-License-Identifier: MIT */
/* What the parts of the message store share (store.c, store_stream.c); not for other modules. */
#ifndef IQ_STORE_INT_H
#define IQ_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mailparse.h"
#include "store.h"

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
/* Queues the new-mail event of a stored message in the outbox (same transaction). */
int iq_store_add_event(const iq_store_ctx *ctx, int64_t row_id, const iq_store_msg *m,
                       const iq_msg_headers *h, const char *sha_hex, char **error_r);

#endif
