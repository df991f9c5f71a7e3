/* SPDX-License-Identifier: MIT */
/* IMAP server responses, read through our mailstream_low driver (lib/stream.c: caps, literal
 * checks, end of stream as an error) into libetpan's response parser, as a check does.
 *
 * Input: one option byte, then everything the server sends (greeting first). libetpan tags
 * our commands 1, 2, 3... in order. Option bits:
 *   0x01  the account asks for STARTTLS (else plain text)
 *   0x02  mode "commands": instead of lib/imap.c's connection test (greeting, capabilities,
 *         login, SELECT, UID FETCH of UIDs and sizes: the imap driver (iq_imap_driver) in probe
 * mode), send the commands a full check sends (UID FETCH BODY.PEEK[] whole and partial, UID STORE,
 *         UID SEARCH DELETED, UID EXPUNGE, EXPUNGE, LOGOUT) with libetpan's mailimap_* calls
 *         over our driver, and walk each result as lib/imap.c does
 *   0x04  in mode "commands": log in with AUTHENTICATE PLAIN (SASL-IR) instead of LOGIN
 * (In the connection test the server's capabilities choose the login, as in production.) */
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

static iq_stream_limits limits(void)
{
    iq_stream_limits l = {
        /* never reached: the peer's input is all there, then end of stream */
        .deadline_ms = iq_now_mono_ms() + 10000,
        .read_timeout_ms = 5000,
        .max_line = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_LINE),
        .max_literal = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE),
        .max_total = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_CHECK_BYTES),
    };
    return l;
}

/* lib/imap.c's connection test, through its real entry point. */
static void run_probe(iq_fuzz_peer *peer, uint8_t opt)
{
    iq_account a;
    memset(&a, 0, sizeof(a));
    a.id = 1;
    static char name[] = "fuzz", host[] = "imap.example.org", folder[] = "INBOX";
    a.name = name;
    a.host = host;
    a.port = 143;
    a.protocol = IQ_PROTO_IMAP;
    a.security = (opt & 0x01) ? IQ_SEC_STARTTLS : IQ_SEC_NONE;
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
    s.limits = limits();
    s.max_message = (uint64_t)iq_config_int(cfg, IQ_SET_MAX_MESSAGE);
    s.fetch_batch = (int)iq_config_int(cfg, IQ_SET_FETCH_BATCH);
    s.res = &res;
    s.probe_only = true;
    s.stream = iq_stream_open(peer->client, NULL, IQ_STREAM_IMAP, &s.limits, &s.st);
    peer->client = -1; /* the stream owns it now */
    int rc = iq_imap_driver.run(&s);
    if (rc < 0 && !res.error_class)
        iq_fuzz_fail("the imap driver failed without an error class");
    if (rc == 0 && res.error_class)
        iq_fuzz_fail("the imap driver succeeded with error class %s", iq_err_name(res.error_class));
    if (getenv("INBOXQ_FUZZ_VERBOSE"))
        fprintf(stderr, "imap probe: rc %d, %s: %s; %lld messages, %lld bytes; caps: %s\n", rc,
                iq_err_name(res.error_class), res.error ? res.error : "",
                (long long)s.probe_messages, (long long)s.probe_bytes,
                s.capabilities ? s.capabilities : "");
    free(s.capabilities);
    iq_check_result_release(&res);
}

/* Touches every byte of a body section, as the store's copy does. */
static volatile uint8_t sink;

static void walk_fetch(clist *result)
{
    for (clistiter *it = clist_begin(result); it; it = clist_next(it)) {
        struct mailimap_msg_att *att = clist_content(it);
        for (clistiter *j = clist_begin(att->att_list); j; j = clist_next(j)) {
            struct mailimap_msg_att_item *item = clist_content(j);
            if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
                continue;
            struct mailimap_msg_att_static *st = item->att_data.att_static;
            if (st->att_type == MAILIMAP_MSG_ATT_UID) {
                sink ^= (uint8_t)st->att_data.att_uid;
            } else if (st->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE) {
                sink ^= (uint8_t)st->att_data.att_rfc822_size;
            } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
                       st->att_data.att_body_section->sec_body_part) {
                const char *b = st->att_data.att_body_section->sec_body_part;
                size_t len = st->att_data.att_body_section->sec_length;
                for (size_t k = 0; k < len; k++)
                    sink ^= (uint8_t)b[k];
            }
        }
    }
}

static struct mailimap_fetch_type *fetch_type(struct mailimap_fetch_att *extra)
{
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(ft, extra);
    return ft;
}

static void uid_fetch(mailimap *imap, struct mailimap_set *set, struct mailimap_fetch_type *ft)
{
    clist *result = NULL;
    if (mailimap_uid_fetch(imap, set, ft, &result) == MAILIMAP_NO_ERROR) {
        walk_fetch(result);
        mailimap_fetch_list_free(result);
    }
    mailimap_fetch_type_free(ft);
}

static bool alive(iq_stream *st, mailimap *imap)
{
    if (getenv("INBOXQ_FUZZ_VERBOSE"))
        fprintf(stderr, "imap commands: next tag %d, stream %s\n", imap->imap_tag + 1,
                iq_stream_error(st) ? iq_stream_error(st) : "ok");
    return iq_stream_error_class(st) == IQ_OK;
}

/* The commands of a full check, each sent whatever the previous answer was (a NO or BAD is a
 * server's right), until our driver gives up on the stream. */
static void run_commands(iq_fuzz_peer *peer, uint8_t opt)
{
    iq_stream_limits lim = limits();
    iq_stream *st = NULL;
    mailstream *stream = iq_stream_open(peer->client, NULL, IQ_STREAM_IMAP, &lim, &st);
    peer->client = -1;
    mailimap *imap = mailimap_new(0, NULL);
    if (!imap)
        iq_oom();
    int r = mailimap_connect(imap, stream);
    if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
        r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
        goto out;
#define ALIVE() alive(st, imap)
    if (ALIVE())
        (void)mailimap_custom_command(imap, "CAPABILITY");
    if (ALIVE()) {
        /* custom commands leave the state alone: set it on success, as lib/imap.c does */
        if (opt & 0x04) {
            if (mailimap_custom_command(imap, "AUTHENTICATE PLAIN AGZ1enoAbm90LWEtc2VjcmV0") ==
                MAILIMAP_NO_ERROR)
                imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
        } else
            (void)mailimap_login(imap, "fuzz", "not-a-secret");
    }
    if (ALIVE())
        (void)mailimap_select(imap, "INBOX");
    if (ALIVE()) {
        struct mailimap_set *set = mailimap_set_new_interval(1, 0);
        uid_fetch(imap, set, fetch_type(mailimap_fetch_att_new_rfc822_size()));
        mailimap_set_free(set);
    }
    if (ALIVE()) {
        struct mailimap_set *set = mailimap_set_new_empty();
        mailimap_set_add_single(set, 1);
        mailimap_set_add_single(set, 2);
        uid_fetch(imap, set,
                  fetch_type(mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL))));
        mailimap_set_free(set);
    }
    if (ALIVE()) {
        struct mailimap_set *set = mailimap_set_new_single(3);
        uid_fetch(imap, set,
                  fetch_type(mailimap_fetch_att_new_body_peek_section_partial(
                      mailimap_section_new(NULL), 0, 1024 * 1024)));
        mailimap_set_free(set);
    }
    if (ALIVE()) {
        struct mailimap_set *set = mailimap_set_new_single(1);
        struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
        mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
        struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
        (void)mailimap_uid_store(imap, set, sf);
        mailimap_store_att_flags_free(sf);
        mailimap_set_free(set);
    }
    if (ALIVE()) {
        clist *found = NULL;
        struct mailimap_search_key *key = mailimap_search_key_new(
            MAILIMAP_SEARCH_KEY_DELETED, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
        if (mailimap_uid_search(imap, NULL, key, &found) == MAILIMAP_NO_ERROR) {
            for (clistiter *it = clist_begin(found); it; it = clist_next(it))
                sink ^= (uint8_t) * (uint32_t *)clist_content(it);
            mailimap_search_result_free(found);
        }
        mailimap_search_key_free(key);
    }
    if (ALIVE()) {
        struct mailimap_set *set = mailimap_set_new_single(1);
        (void)mailimap_uid_expunge(imap, set);
        mailimap_set_free(set);
    }
    if (ALIVE())
        (void)mailimap_expunge(imap);
    if (ALIVE())
        (void)mailimap_logout(imap);
#undef ALIVE
out:
    mailimap_free(imap); /* closes the stream and frees our driver state */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    iq_fuzz_peer peer;
    iq_fuzz_peer_open(&peer, data + 1, size - 1);
    if (opt & 0x02)
        run_commands(&peer, opt);
    else
        run_probe(&peer, opt);
    iq_fuzz_peer_close(&peer);
    return 0;
}
