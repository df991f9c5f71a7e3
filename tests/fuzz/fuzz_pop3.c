/* SPDX-License-Identifier: MIT */
/* POP3 server replies, read through our mailstream_low driver by lib/pop3.c's own commands and
 * multi-line reader: the pop3 driver (iq_pop3_driver) in probe mode (the connection test: greeting,
 * CAPA, STLS, USER/PASS or APOP, UIDL, LIST, QUIT), which needs no PostgreSQL.
 *
 * Input: one option byte, then everything the server sends (greeting first). Option bits:
 *   0x01  the account asks for STARTTLS (STLS; else plain text)
 *   0x02  the account uses APOP when the greeting carries a timestamp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "check.h"
#include "config.h"
#include "fuzz_common.h"
#include "session.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

static SSL_CTX *tls_ctx;
static iq_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    IQ_UNUSED(argc);
    IQ_UNUSED(argv);
    char *err = NULL;
    tls_ctx = iq_tls_ctx_new(NULL, &err);
    if (!tls_ctx)
        iq_fuzz_fail("TLS context: %s", err);
    cfg = iq_config_new(); /* the product's default limits */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    iq_fuzz_peer peer;
    iq_fuzz_peer_open(&peer, data + 1, size - 1);

    iq_account a;
    memset(&a, 0, sizeof(a));
    a.id = 1;
    static char name[] = "fuzz", host[] = "pop.example.org", folder[] = "INBOX";
    a.name = name;
    a.host = host;
    a.port = 110;
    a.protocol = IQ_PROTO_POP3;
    a.security = (opt & 0x01) ? IQ_SEC_STARTTLS : IQ_SEC_NONE;
    a.apop = (opt & 0x02) != 0;
    a.keep_copy = true;
    a.folder = folder;
    iq_check_env env = {.cfg = cfg, .tls_ctx = tls_ctx, .topic_new_mail = "inboxq.events.new-mail"};
    iq_check_result res;
    memset(&res, 0, sizeof(res));
    iq_session s;
    memset(&s, 0, sizeof(s));
    s.env = &env;
    s.account = &a;
    s.job_id = "00000000-0000-4000-8000-000000000000";
    s.username = "fuzz@example.org";
    s.password = "not-a-secret";
    s.fd = -1;
    s.limits = (iq_stream_limits){
        /* never reached: the peer's input is all there, then end of stream */
        .deadline_ms = iq_now_mono_ms() + 10000,
        .read_timeout_ms = 5000,
        .max_line = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_LINE),
        .max_literal = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE),
        .max_total = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_CHECK_BYTES),
    };
    s.max_message = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE);
    s.fetch_batch = (int)iq_config_int(cfg, IQ_SET_FETCH_BATCH);
    s.res = &res;
    s.probe_only = true;
    /* as lib/check.c runs it: the caller closes the stream */
    s.stream = iq_stream_open(peer.client, NULL, IQ_STREAM_PLAIN_LINES, &s.limits, &s.st);
    peer.client = -1;
    int rc = iq_pop3_driver.run(&s);
    if (rc < 0 && !res.error_class)
        iq_fuzz_fail("the pop3 driver failed without an error class");
    if (rc == 0 && res.error_class)
        iq_fuzz_fail("the pop3 driver succeeded with error class %s", iq_err_name(res.error_class));
    if (rc == 0 && s.probe_messages < 0)
        iq_fuzz_fail("negative message count %lld", (long long)s.probe_messages);
    if (getenv("INBOXQ_FUZZ_VERBOSE"))
        fprintf(stderr, "pop3 probe: rc %d, %s: %s; %lld messages, %lld bytes; caps: %s\n", rc,
                iq_err_name(res.error_class), res.error ? res.error : "",
                (long long)s.probe_messages, (long long)s.probe_bytes,
                s.capabilities ? s.capabilities : "");
    mailstream_close(s.stream);
    free(s.capabilities);
    iq_check_result_release(&res);
    iq_fuzz_peer_close(&peer);
    return 0;
}
