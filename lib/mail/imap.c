/* SPDX-License-Identifier: MIT */
/* The IMAP side of a check (RFC 3501, RFC 9051; STARTTLS per RFC 3501 6.2.1 and RFC 2595;
 * UIDPLUS UID EXPUNGE per RFC 4315; implicit TLS per RFC 8314), driven through libetpan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "buf.h"
#include "failpoint.h"
#include "log.h"
#include "sasl.h"
#include "session.h"
#include "store.h"
#include "util.h"

#define UID_CHUNK 500  /* UIDs per STORE/EXPUNGE command */
#define FETCH_MAX 1024 /* UIDs per FETCH batch, whatever fetch_batch allows */
/* A message over IQ_STREAM_ABOVE is fetched in ranges of this size, each streamed into
 * PostgreSQL. */
#define STREAM_CHUNK (1024u * 1024)

typedef struct uid_size {
    uint32_t uid;
    uint32_t size;
} uid_size;

static char *caps_text(mailimap *imap)
{
    iq_buf b;
    iq_buf_init(&b, IQ_CAPS_MAX);
    struct mailimap_capability_data *cd =
        imap->imap_connection_info ? imap->imap_connection_info->imap_capability : NULL;
    if (cd && cd->cap_list) {
        /* past IQ_CAPS_MAX the list is cut at a whole name, never in the middle of one */
        int rc = 0;
        for (clistiter *it = clist_begin(cd->cap_list); it && rc == 0; it = clist_next(it)) {
            struct mailimap_capability *c = clist_content(it);
            if (c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE && c->cap_data.cap_auth_type)
                rc = iq_buf_appendf(&b, "%sAUTH=%s", b.len ? " " : "", c->cap_data.cap_auth_type);
            else if (c->cap_type == MAILIMAP_CAPABILITY_NAME && c->cap_data.cap_name)
                rc = iq_buf_appendf(&b, "%s%s", b.len ? " " : "", c->cap_data.cap_name);
        }
    }
    return iq_buf_detach(&b, NULL);
}

static void forget_caps(mailimap *imap)
{
    if (imap->imap_connection_info && imap->imap_connection_info->imap_capability) {
        mailimap_capability_data_free(imap->imap_connection_info->imap_capability);
        imap->imap_connection_info->imap_capability = NULL;
    }
}

/* "TAG CAPABILITY" and its tagged answer. Not mailimap_capability(), which dereferences a
 * missing answer, nor mailimap_custom_command(), which puts a space before the CRLF (RFC 3501's
 * grammar has none, and strict servers answer BAD). */
static int capability_command(mailimap *imap)
{
    static const char cmd[] = "CAPABILITY\r\n";
    int r = mailimap_send_current_tag(imap);
    if (r != MAILIMAP_NO_ERROR)
        return r;
    if (mailstream_write(imap->imap_stream, cmd, sizeof(cmd) - 1) != (ssize_t)(sizeof(cmd) - 1) ||
        mailstream_flush(imap->imap_stream) == -1 || !mailimap_read_line(imap))
        return MAILIMAP_ERROR_STREAM;
    struct mailimap_response *response = NULL;
    r = mailimap_parse_response(imap, &response);
    if (r != MAILIMAP_NO_ERROR)
        return r;
    bool ok = response && response->rsp_resp_done && response->rsp_resp_done->rsp_data.rsp_tagged &&
              response->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state &&
              response->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
                  MAILIMAP_RESP_COND_STATE_OK;
    if (response)
        mailimap_response_free(response);
    return ok ? MAILIMAP_NO_ERROR : MAILIMAP_ERROR_CUSTOM_COMMAND;
}

/* Asks CAPABILITY and keeps only this answer. */
static int ask_caps(iq_session *s, mailimap *imap)
{
    forget_caps(imap);
    int r = capability_command(imap);
    if (r != MAILIMAP_NO_ERROR)
        return iq_session_fail(s, IQ_ERR_PROTOCOL,
                               "the server did not answer CAPABILITY (error %d)", r);
    free(s->capabilities);
    s->capabilities = caps_text(imap);
    s->caps_from_greeting = false;
    return 0;
}

/* The capabilities before login: those of the greeting's [CAPABILITY ...] response code when
 * it had one (RFC 3501 7.1: the same list CAPABILITY would give, one round trip less), else
 * asked. After PREAUTH they are asked: the greeting may list fewer than a logged-in session. */
static int greeting_caps(iq_session *s, mailimap *imap, bool preauth)
{
    struct mailimap_capability_data *cd =
        imap->imap_connection_info ? imap->imap_connection_info->imap_capability : NULL;
    if (preauth || !cd || !cd->cap_list || clist_isempty(cd->cap_list))
        return ask_caps(s, imap);
    free(s->capabilities);
    s->capabilities = caps_text(imap);
    s->caps_from_greeting = true;
    return 0;
}

/* AUTHENTICATE PLAIN with the initial response on the command line (RFC 4959 SASL-IR, RFC 4616
 * message with an empty authorization identity): one round trip, where libetpan's SASL exchange
 * waits for the server's empty challenge first. Returns a libetpan code, a refusal (NO) as
 * MAILIMAP_ERROR_LOGIN as mailimap_authenticate does. */
static int auth_plain_ir(iq_session *s, mailimap *imap)
{
    size_t ulen = strlen(s->username), plen = strlen(s->password);
    size_t mlen = ulen + plen + 2, clen = 19 + 4 * ((mlen + 2) / 3) + 1;
    unsigned char *msg = iq_xmalloc(mlen);
    char *cmd = iq_xmalloc(clen);
    msg[0] = '\0';
    memcpy(msg + 1, s->username, ulen);
    msg[ulen + 1] = '\0';
    memcpy(msg + ulen + 2, s->password, plen);
    memcpy(cmd, "AUTHENTICATE PLAIN ", 19);
    EVP_EncodeBlock((unsigned char *)cmd + 19, msg, (int)mlen);
    int r = mailimap_custom_command(imap, cmd);
    iq_secure_zero(msg, mlen);
    iq_secure_zero(cmd, clen);
    free(msg);
    free(cmd);
    if (r == MAILIMAP_NO_ERROR)
        imap->imap_state = MAILIMAP_STATE_AUTHENTICATED; /* custom commands leave it alone */
    return r == MAILIMAP_ERROR_CUSTOM_COMMAND ? MAILIMAP_ERROR_LOGIN : r;
}

static int login(iq_session *s, mailimap *imap, bool tls)
{
    if (s->oauth)
        return iq_sasl_imap_login(s, imap);
    const char *caps = s->capabilities;
    bool plain = iq_session_has_cap(caps, "AUTH=PLAIN");
    if (iq_session_has_cap(caps, "LOGINDISABLED") && !plain) {
        if (!tls)
            return iq_session_fail(s, IQ_ERR_CONFIG,
                                   "the server refuses to log in without TLS (LOGINDISABLED); "
                                   "set the account's secure connection to yes");
        return iq_session_fail(s, IQ_ERR_AUTH,
                               "the server offers no login method inboxq supports "
                               "(capabilities: %s)",
                               caps);
    }
    int r;
    if (plain) {
        r = iq_session_has_cap(caps, "SASL-IR")
                ? auth_plain_ir(s, imap)
                : mailimap_authenticate(imap, "PLAIN", s->account->host, NULL, NULL, s->username,
                                        s->username, s->password, NULL);
        if (r != MAILIMAP_NO_ERROR && !iq_stream_error_class(s->st) &&
            !iq_session_has_cap(caps, "LOGINDISABLED") && r != MAILIMAP_ERROR_LOGIN)
            r = mailimap_login(imap, s->username, s->password);
    } else {
        r = mailimap_login(imap, s->username, s->password);
    }
    if (r == MAILIMAP_NO_ERROR)
        return 0;
    if (iq_stream_error_class(s->st))
        return iq_session_fail(s, IQ_ERR_PROTOCOL, "login failed");
    return iq_session_fail(s, IQ_ERR_AUTH, "the server rejected the login of user '%s'",
                           s->username);
}

static int cmp_uid(const void *a, const void *b)
{
    const uid_size *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* What one message's FETCH response holds of what we ask for: UID, RFC822.SIZE and BODY[] (or
 * a range of it); 0 or NULL for what did not come. body points into the response. */
typedef struct fetched {
    uint32_t uid;
    uint32_t size;
    const char *body;
    size_t len;
} fetched;

/* The one walk over a FETCH response's attributes (libetpan's msg_att -> att_item ->
 * att_static lists). */
static void read_fetched(const struct mailimap_msg_att *att, fetched *f)
{
    memset(f, 0, sizeof(*f));
    for (clistiter *j = clist_begin(att->att_list); j; j = clist_next(j)) {
        const struct mailimap_msg_att_item *item = clist_content(j);
        if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
            continue;
        const struct mailimap_msg_att_static *st = item->att_data.att_static;
        if (st->att_type == MAILIMAP_MSG_ATT_UID) {
            f->uid = st->att_data.att_uid;
        } else if (st->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE) {
            f->size = st->att_data.att_rfc822_size;
        } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section &&
                   st->att_data.att_body_section->sec_body_part) {
            f->body = st->att_data.att_body_section->sec_body_part;
            f->len = st->att_data.att_body_section->sec_length;
        }
    }
}

/* The memory of one check (max_check_memory) is held to by what the server sends, never by
 * what it announces: every FETCH response goes through a libetpan msg_att handler (libetpan
 * frees each message's parse at once instead of keeping the whole response), and each
 * response's raw bytes are capped in the stream driver (libetpan also keeps a response's lines
 * in its buffer until the response ends).
 * - the listing keeps 8 bytes a message, at most a quarter of the budget, in a response of at
 *   most a quarter of it;
 * - a batch's bodies are copied out as they are parsed, in a response of at most half of it
 *   (plus the one literal libetpan holds while parsing: max_message at most). */
#define LISTING_SHARE 4
#define BATCH_SHARE 2
#define MSG_OVERHEAD 128 /* a FETCH response's bytes beside its literal, for the budget */

typedef struct listing {
    iq_session *s;
    uint32_t after;
    uid_size *list;
    size_t n, cap, max;
    bool over;
} listing;

static void on_listed(struct mailimap_msg_att *att, void *ctx)
{
    listing *l = ctx;
    fetched f;
    read_fetched(att, &f);
    if (f.uid <= l->after || l->over)
        return;
    if (l->n == l->max) {
        l->over = true;
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        if (l->cap > l->max)
            l->cap = l->max;
        l->list = iq_xrealloc(l->list, l->cap * sizeof(*l->list));
    }
    l->list[l->n++] = (uid_size){f.uid, f.size};
}

/* libetpan 1.9.4 calls a msg_att handler only when a progress function is set too. */
static void no_progress(size_t current, size_t maximum, void *ctx)
{
    IQ_UNUSED(current);
    IQ_UNUSED(maximum);
    IQ_UNUSED(ctx);
}

/* Runs one UID FETCH with handler taking each message's response, the response's raw bytes
 * capped at max. */
static int fetch_each(iq_session *s, mailimap *imap, struct mailimap_set *set,
                      struct mailimap_fetch_type *ft, uint64_t max,
                      mailimap_msg_att_handler *handler, void *ctx)
{
    clist *result = NULL;
    iq_stream_expect(s->st, max);
    mailimap_set_progress_callback(imap, NULL, no_progress, NULL);
    mailimap_set_msg_att_handler(imap, handler, ctx);
    int r = mailimap_uid_fetch(imap, set, ft, &result);
    mailimap_set_msg_att_handler(imap, NULL, NULL);
    mailimap_set_progress_callback(imap, NULL, NULL, NULL);
    iq_stream_expect(s->st, 0);
    if (r == MAILIMAP_NO_ERROR)
        mailimap_fetch_list_free(result); /* what the handler did not take: nothing */
    return r;
}

/* UID FETCH first:* (UID RFC822.SIZE), keeping UIDs above `after`. */
static int list_new(iq_session *s, mailimap *imap, uint32_t after, uid_size **list_r, size_t *n_r)
{
    *list_r = NULL;
    *n_r = 0;
    uint64_t share = s->max_memory / LISTING_SHARE;
    listing l = {s, after, NULL, 0, 0, (size_t)(share / sizeof(uid_size)), false};
    struct mailimap_set *set = mailimap_set_new_interval(after + 1, 0);
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
    int r = fetch_each(s, imap, set, ft, share, on_listed, &l);
    mailimap_fetch_type_free(ft);
    mailimap_set_free(set);
    if (r != MAILIMAP_NO_ERROR || l.over) {
        free(l.list);
        if (l.over)
            return iq_session_fail(s, IQ_ERR_SIZE_LIMIT,
                                   "the server listed more than %zu new messages, more than "
                                   "max_check_memory holds; raise it",
                                   l.max);
        return iq_session_fail(s, IQ_ERR_PROTOCOL, "listing new messages failed (error %d)", r);
    }
    if (l.n)
        qsort(l.list, l.n, sizeof(*l.list), cmp_uid);
    *list_r = l.list;
    *n_r = l.n;
    return 0;
}

typedef struct fetching {
    uint32_t uidvalidity;
    const uid_size *want;
    size_t n;
    iq_store_msg *msgs;
    size_t got;
} fetching;

static void on_fetched(struct mailimap_msg_att *att, void *ctx)
{
    fetching *b = ctx;
    fetched f;
    read_fetched(att, &f);
    bool wanted = false;
    for (size_t i = 0; i < b->n && !wanted; i++)
        wanted = b->want[i].uid == f.uid;
    for (size_t i = 0; i < b->got && wanted; i++)
        wanted = b->msgs[i].uid != f.uid; /* the first copy only */
    if (!f.uid || !f.body || !wanted || b->got >= b->n)
        return; /* unsolicited, repeated or incomplete: not ours to store */
    iq_store_msg *m = &b->msgs[b->got++];
    snprintf(m->server_id, sizeof(m->server_id), "%u:%u", b->uidvalidity, f.uid);
    m->uid = f.uid;
    m->raw = iq_xmalloc(f.len + 1);
    memcpy(m->raw, f.body, f.len);
    m->raw[f.len] = '\0';
    m->len = f.len;
}

/* Fetches the given UIDs' raw bytes into msgs (matched by UID). */
static int fetch_batch(iq_session *s, mailimap *imap, uint32_t uidvalidity, const uid_size *want,
                       size_t n, iq_store_msg *msgs, size_t *got_r)
{
    struct mailimap_set *set = mailimap_set_new_empty();
    for (size_t i = 0; i < n; i++)
        mailimap_set_add_single(set, want[i].uid);
    struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
    mailimap_fetch_type_new_fetch_att_list_add(
        ft, mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
    fetching b = {uidvalidity, want, n, msgs, 0};
    int r = fetch_each(s, imap, set, ft, s->max_memory / BATCH_SHARE, on_fetched, &b);
    mailimap_fetch_type_free(ft);
    mailimap_set_free(set);
    *got_r = b.got;
    if (r != MAILIMAP_NO_ERROR)
        return iq_session_fail(s, IQ_ERR_PROTOCOL, "fetching messages failed (error %d)", r);
    return 0;
}

/* A large message: BODY.PEEK[]<offset.length> ranges, each streamed into PostgreSQL as it
 * arrives, so memory stays flat whatever the message's size. */
static int fetch_streamed(iq_session *s, mailimap *imap, const iq_store_ctx *ctx, const uid_size *u)
{
    char server_id[48], *err = NULL;
    snprintf(server_id, sizeof(server_id), "%u:%u", (unsigned)ctx->uidvalidity, u->uid);
    iq_store_stream *st = NULL;
    bool exists = false;
    if (iq_store_stream_begin(ctx, server_id, u->uid, &st, &exists, &err) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
        return -1;
    }
    for (uint32_t off = 0; !exists;) {
        struct mailimap_set *set = mailimap_set_new_single(u->uid);
        struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
        mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
        mailimap_fetch_type_new_fetch_att_list_add(
            ft, mailimap_fetch_att_new_body_peek_section_partial(mailimap_section_new(NULL), off,
                                                                 STREAM_CHUNK));
        clist *result = NULL;
        /* one range and its response, never more (a server may send more than asked) */
        iq_stream_expect(s->st, STREAM_CHUNK + 64u * 1024);
        int r = mailimap_uid_fetch(imap, set, ft, &result);
        iq_stream_expect(s->st, 0);
        mailimap_fetch_type_free(ft);
        mailimap_set_free(set);
        if (r != MAILIMAP_NO_ERROR) {
            iq_store_stream_abort(&st);
            return iq_session_fail(s, IQ_ERR_PROTOCOL, "fetching UID %u failed (error %d)", u->uid,
                                   r);
        }
        fetched f = {0, 0, NULL, 0};
        bool found = false;
        for (clistiter *it = clist_begin(result); it && !found; it = clist_next(it)) {
            read_fetched(clist_content(it), &f);
            found = f.uid == u->uid;
        }
        /* the range of the message asked for, never another response's body */
        size_t len = found && f.body ? f.len : 0;
        int wr = len ? iq_store_stream_write(st, f.body, len, &err) : 0;
        mailimap_fetch_list_free(result);
        if (wr < 0) {
            iq_store_stream_abort(&st);
            iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
            free(err);
            return -1;
        }
        if (!found) {
            /* expunged by someone else meanwhile: nothing to store */
            iq_store_stream_abort(&st);
            return 0;
        }
        off += (uint32_t)len;
        if (len < STREAM_CHUNK)
            break;
        if (off > s->max_message) {
            iq_store_stream_abort(&st);
            return iq_session_fail(s, IQ_ERR_SIZE_LIMIT,
                                   "UID %u grew past max_message while fetched", u->uid);
        }
    }
    int stored = 0;
    if (iq_store_stream_finish(st, u->uid, &stored, &err) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
        return -1;
    }
    s->res->messages_new += stored;
    return 0;
}

/* What max_check_bytes leaves this check to read. */
static uint64_t budget_left(const iq_session *s)
{
    uint64_t read = iq_stream_bytes_read(s->st);
    return read < s->limits.max_total ? s->limits.max_total - read : 0;
}

static int fetch_new(iq_session *s, mailimap *imap, const iq_store_ctx *ctx, uint32_t after)
{
    uid_size *list = NULL;
    size_t n = 0;
    if (list_new(s, imap, after, &list, &n) < 0)
        return -1;
    iq_store_msg *msgs = iq_xcalloc((size_t)s->fetch_batch, sizeof(*msgs));
    uint64_t batch_bytes = s->max_memory / BATCH_SHARE / 2;
    if (batch_bytes > IQ_BATCH_BYTES)
        batch_bytes = IQ_BATCH_BYTES;
    int rc = 0;
    size_t i = 0;
    int64_t highest = after;
    bool progressed = false; /* something fetched by this check: the budget is not all spent */
    while (i < n && rc == 0) {
        uid_size batch[FETCH_MAX];
        size_t nb = 0;
        uint64_t bytes = 0;
        uint64_t left = budget_left(s);
        bool streamed = false;
        while (i < n && nb < (size_t)s->fetch_batch && nb < IQ_ARRAY_LEN(batch)) {
            uint64_t need = (uint64_t)list[i].size + MSG_OVERHEAD;
            bool too_big = list[i].size > s->max_message || need > s->limits.max_total;
            if (!too_big && nb == 0 && need > left && !progressed)
                too_big = true; /* the listing leaves less than it takes: it would never come */
            if (too_big) {
                s->res->messages_skipped++;
                IQ_WARN("skipping UID %u: %u bytes is over max_message or what max_check_bytes "
                        "leaves a check",
                        list[i].uid, list[i].size);
                highest = list[i].uid;
                i++;
                continue;
            }
            if (need > left) {
                if (nb > 0)
                    break;
                /* max_check_bytes is spent: the rest waits for the next check */
                rc = iq_session_fail(s, IQ_ERR_SIZE_LIMIT,
                                     "this check read what max_check_bytes allows (%llu bytes); "
                                     "%zu new messages wait for the next check",
                                     (unsigned long long)s->limits.max_total, n - i);
                break;
            }
            if (list[i].size > IQ_STREAM_ABOVE) {
                if (nb > 0)
                    break; /* store what is batched first: UIDs stay in order */
                highest = list[i].uid;
                progressed = streamed = true;
                if (fetch_streamed(s, imap, ctx, &list[i++]) < 0)
                    rc = -1;
                break;
            }
            if (nb > 0 && bytes + list[i].size > batch_bytes)
                break;
            bytes += list[i].size;
            left -= need;
            batch[nb++] = list[i++];
        }
        if (rc < 0)
            break;
        if (streamed)
            continue; /* a streamed message: stored with its state already */
        if (nb == 0) {
            /* only skipped ones: move past them so they never block the account */
            char *err = NULL;
            if (iq_store_state_set(s->pg, s->account->id, ctx->mailbox, ctx->uidvalidity, highest,
                                   &err) < 0) {
                rc = iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
                free(err);
            }
            continue;
        }
        progressed = true;
        size_t got = 0;
        int64_t t0 = iq_now_mono_ms();
        if (fetch_batch(s, imap, (uint32_t)ctx->uidvalidity, batch, nb, msgs, &got) < 0) {
            iq_store_msgs_release(msgs, got);
            rc = -1;
            break;
        }
        if (batch[nb - 1].uid > highest)
            highest = batch[nb - 1].uid; /* skipped ones after it are already counted in */
        int stored = 0;
        char *err = NULL;
        int64_t t1 = iq_now_mono_ms();
        if (iq_store_batch(ctx, msgs, got, highest, &stored, &err) < 0) {
            rc = iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
            free(err);
        } else {
            s->res->messages_new += stored;
        }
        IQ_DEBUG("batch of %zu: fetched in %lld ms, stored in %lld ms", got, (long long)(t1 - t0),
                 (long long)(iq_now_mono_ms() - t1));
        iq_store_msgs_release(msgs, got);
    }
    free(msgs);
    free(list);
    return rc;
}

/* Only our own UIDs, only under the current UIDVALIDITY, only after they were committed. */
static int delete_stored(iq_session *s, mailimap *imap, const iq_store_ctx *ctx)
{
    int64_t *uids = NULL;
    size_t n = 0;
    char *err = NULL;
    if (iq_store_undeleted_uids(s->pg, s->account->id, ctx->mailbox, ctx->uidvalidity, &uids, &n,
                                &err) < 0) {
        int rc = iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
        return rc;
    }
    bool uidplus = iq_session_has_cap(s->capabilities, "UIDPLUS");
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += UID_CHUNK) {
        size_t cnt = n - off < UID_CHUNK ? n - off : UID_CHUNK;
        struct mailimap_set *set = mailimap_set_new_empty();
        for (size_t i = 0; i < cnt; i++)
            mailimap_set_add_single(set, (uint32_t)uids[off + i]);
        struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
        mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
        struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
        int r = mailimap_uid_store(imap, set, sf);
        mailimap_store_att_flags_free(sf);
        if (r != MAILIMAP_NO_ERROR) {
            mailimap_set_free(set);
            rc = iq_session_fail(s, IQ_ERR_PROTOCOL, "flagging stored messages \\Deleted failed");
            break;
        }
        if (uidplus) {
            r = mailimap_uid_expunge(imap, set);
        } else {
            /* plain EXPUNGE also removes what other clients flagged: only when nothing else is */
            clist *found = NULL;
            struct mailimap_search_key *key =
                mailimap_search_key_new(MAILIMAP_SEARCH_KEY_DELETED, NULL, NULL, NULL, NULL, NULL,
                                        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0,
                                        NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL);
            r = mailimap_uid_search(imap, NULL, key, &found);
            mailimap_search_key_free(key);
            bool only_ours = r == MAILIMAP_NO_ERROR;
            if (only_ours) {
                for (clistiter *it = clist_begin(found); it && only_ours; it = clist_next(it)) {
                    uint32_t u = *(uint32_t *)clist_content(it);
                    bool ours = false;
                    for (size_t i = 0; i < n && !ours; i++)
                        ours = uids[i] == u;
                    only_ours = ours;
                }
                mailimap_search_result_free(found);
            }
            if (only_ours) {
                r = mailimap_expunge(imap);
            } else {
                free(s->res->note);
                s->res->note = iq_xstrdup("stored messages were flagged \\Deleted but not "
                                          "expunged: the server lacks UIDPLUS and other messages "
                                          "also carry \\Deleted");
                mailimap_set_free(set);
                break;
            }
        }
        mailimap_set_free(set);
        if (r != MAILIMAP_NO_ERROR) {
            rc = iq_session_fail(s, IQ_ERR_PROTOCOL, "expunging stored messages failed");
            break;
        }
        if (iq_store_mark_deleted_uids(s->pg, s->account->id, ctx->mailbox, ctx->uidvalidity,
                                       uids + off, cnt, &err) < 0) {
            rc = iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
            free(err);
            break;
        }
        s->res->messages_deleted += (int)cnt;
    }
    free(uids);
    return rc;
}

static int probe_mailbox(iq_session *s, mailimap *imap)
{
    uid_size *list = NULL;
    size_t n = 0;
    if (imap->imap_selection_info->sel_exists > 0 && list_new(s, imap, 0, &list, &n) < 0)
        return -1;
    s->probe_messages = (int64_t)n;
    for (size_t i = 0; i < n; i++)
        s->probe_bytes += list[i].size;
    free(list);
    return 0;
}

/* The check proper, on a session whose folder is selected: what is new since the stored state
 * is fetched and stored (with its events), then deleted on the server once committed when
 * keep-copy is off. One body for a check that logged in and for one on a held IDLE session. */
static int check_selected(iq_session *s, mailimap *imap)
{
    const iq_account *a = s->account;
    uint32_t uidvalidity = imap->imap_selection_info->sel_uidvalidity;
    if (uidvalidity == 0) {
        iq_session_fail(s, IQ_ERR_PROTOCOL, "the server gave no UIDVALIDITY for '%s'", a->folder);
        return -1;
    }
    int64_t stored_uidv = s->state_uidvalidity, highest = s->state_highest;
    int found = s->state_found;
    char *err = NULL;
    if (!s->state_loaded &&
        (found = iq_store_state_get(s->pg, a->id, a->folder, &stored_uidv, &highest, &err)) < 0) {
        iq_session_fail(s, IQ_ERR_STORAGE, "%s", err);
        free(err);
        return -1;
    }
    iq_store_ctx ctx = {.pg = s->pg,
                        .account = a,
                        .mailbox = a->folder,
                        .job_id = s->job_id,
                        .topic_new_mail = s->env->topic_new_mail,
                        .uidvalidity = uidvalidity,
                        .rebind = found && stored_uidv != uidvalidity};
    if (ctx.rebind) {
        IQ_WARN("UIDVALIDITY of '%s' changed from %lld to %u: re-reading the folder, matching "
                "stored messages by content",
                a->folder, (long long)stored_uidv, uidvalidity);
        highest = 0;
    }
    if (highest > UINT32_MAX)
        highest = 0;
    /* UIDNEXT (when the server gave it) at most one above the highest stored UID: nothing
     * new, no listing needed (RFC 3501 2.3.1.1: UIDs are assigned from UIDNEXT upwards) */
    uint32_t uidnext = imap->imap_selection_info->sel_uidnext;
    bool maybe_new = uidnext == 0 || (int64_t)uidnext > highest + 1;
    if (imap->imap_selection_info->sel_exists > 0 && maybe_new &&
        fetch_new(s, imap, &ctx, (uint32_t)highest) < 0)
        return -1;
    iq_failpoint("check.after_store");
    if (!a->keep_copy && delete_stored(s, imap, &ctx) < 0)
        return -1;
    return 0;
}

static int imap_run(iq_session *s)
{
    mailimap *imap = mailimap_new(0, NULL);
    if (!imap)
        iq_oom();
    const iq_account *a = s->account;
    int rc = -1;
    /* From here the IMAP session owns the stream (mailimap_free closes it). */
    int r = mailimap_connect(imap, s->stream);
    s->stream = NULL;
    if (r == MAILIMAP_NO_ERROR_AUTHENTICATED && a->security != IQ_SEC_IMPLICIT) {
        iq_session_fail(s, IQ_ERR_STARTTLS_POLICY,
                        "the server greeted with PREAUTH (already logged in) on a connection "
                        "that is not encrypted yet; refusing it");
        goto out;
    }
    if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
        r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
        iq_session_fail(s, IQ_ERR_PROTOCOL, "no valid IMAP greeting from the server");
        goto out;
    }
    bool preauth = r == MAILIMAP_NO_ERROR_AUTHENTICATED;
    if (greeting_caps(s, imap, preauth) < 0)
        goto out;
    if (a->security == IQ_SEC_STARTTLS) {
        if (!iq_session_has_cap(s->capabilities, "STARTTLS") && s->caps_from_greeting &&
            ask_caps(s, imap) < 0)
            goto out;
        if (!iq_session_has_cap(s->capabilities, "STARTTLS")) {
            iq_session_fail(s, IQ_ERR_STARTTLS_POLICY,
                            "the server does not offer STARTTLS and the account requires it; "
                            "nothing was sent in clear");
            goto out;
        }
        r = mailimap_starttls(imap);
        if (r != MAILIMAP_NO_ERROR) {
            iq_session_fail(s, IQ_ERR_STARTTLS_POLICY,
                            "the server refused STARTTLS; nothing was sent in clear");
            goto out;
        }
        iq_err cls = IQ_OK;
        char *err = NULL;
        if (iq_stream_starttls(s->st, imap->imap_stream, s->env->tls_ctx, a->host,
                               !a->ignore_certificate, &s->res->tls, &cls, &err) < 0) {
            iq_session_fail(s, cls, "%s", err);
            free(err);
            goto out;
        }
        s->res->tls_used = true;
        /* Capabilities seen before TLS could have been forged: ask again and use only that. */
        if (ask_caps(s, imap) < 0)
            goto out;
    }
    if (!preauth && login(s, imap, iq_stream_is_tls(s->st)) < 0)
        goto out;
    r = mailimap_select(imap, a->folder);
    if (r != MAILIMAP_NO_ERROR || !imap->imap_selection_info) {
        iq_session_fail(s, IQ_ERR_PROTOCOL, "cannot select folder '%s'", a->folder);
        goto out;
    }
    if (s->hold_r) { /* push: the caller keeps the selected session (idle.c) */
        *s->hold_r = imap;
        return 0;
    }
    if (s->probe_only) {
        rc = probe_mailbox(s, imap);
        goto out;
    }
    rc = check_selected(s, imap);
out:
    /* LOGOUT closes and frees the stream (and our driver state with it): read it first */
    s->res->bytes = iq_stream_bytes_read(s->st);
    bool failed = iq_stream_error_class(s->st) != IQ_OK;
    /* after a STARTTLS that did not end in TLS, not one more byte in clear (not even LOGOUT) */
    bool clear_after_starttls = a->security == IQ_SEC_STARTTLS && !iq_stream_is_tls(s->st);
    s->st = NULL;
    if (!failed && !clear_after_starttls) {
        mailimap_logout(imap);
    } else if (imap->imap_stream) {
        /* mailimap_free() would send LOGOUT itself: close first */
        mailstream_close(imap->imap_stream);
        imap->imap_stream = NULL;
    }
    mailimap_free(imap);
    return rc;
}

int iq_imap_check_held(iq_session *s, mailimap *imap, bool *more_r)
{
    *more_r = false;
    const iq_account *a = s->account;
    s->st = iq_stream_of(imap->imap_stream);
    if (!s->st)
        return iq_session_fail(s, IQ_ERR_PROTOCOL, "%s", "the held session has no stream");
    /* this check's deadline and byte budget, as on a connection of its own */
    iq_stream_set_limits(s->st, &s->limits);
    int rc = -1;
    /* SELECT again: the folder's UIDVALIDITY, UIDNEXT and count as they are now */
    int r = mailimap_select(imap, a->folder);
    if (r != MAILIMAP_NO_ERROR || !imap->imap_selection_info) {
        iq_session_fail(s, IQ_ERR_PROTOCOL, "cannot select folder '%s'", a->folder);
    } else {
        uint32_t selected = imap->imap_selection_info->sel_exists;
        rc = check_selected(s, imap);
        /* libetpan follows EXISTS and EXPUNGE: more messages than SELECT counted, less what
         * this check expunged, means mail arrived during the check (its EXISTS was read by
         * one of the check's commands, so IDLE will not announce it again) */
        if (rc == 0 && imap->imap_selection_info)
            *more_r = (int64_t)imap->imap_selection_info->sel_exists >
                      (int64_t)selected - s->res->messages_deleted;
    }
    s->res->bytes = iq_stream_bytes_read(s->st);
    if (iq_stream_error_class(s->st) == IQ_OK) {
        iq_stream_limits idle = s->limits;
        idle.deadline_ms = INT64_MAX / 2; /* held again: no deadline, a fresh byte budget */
        iq_stream_set_limits(s->st, &idle);
    }
    s->st = NULL;
    return rc;
}

const iq_driver iq_imap_driver = {
    .name = "imap",
    .syntax = IQ_STREAM_IMAP,
    .run = imap_run,
};
