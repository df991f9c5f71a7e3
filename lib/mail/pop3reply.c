/* SPDX-License-Identifier: MIT */
#include "pop3reply.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int iq_pop3_status(const char *line)
{
    if (strncmp(line, "+OK", 3) == 0)
        return 1;
    if (strncmp(line, "-ERR", 4) == 0)
        return 0;
    return -1;
}

bool iq_pop3_apop_timestamp(const char *greeting, char *out, size_t outsz)
{
    if (outsz)
        out[0] = '\0';
    const char *lt = strchr(greeting, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (!lt || !gt || (size_t)(gt - lt + 1) >= outsz || !memchr(lt, '@', (size_t)(gt - lt)))
        return false;
    memcpy(out, lt, (size_t)(gt - lt + 1));
    out[gt - lt + 1] = '\0';
    return true;
}

/* Where the reader of a multi-line body stands. */
enum { AT_START, AT_DOT, AT_DOT_CR, IN_LINE };

void iq_pop3_body_init(iq_pop3_body *b, uint64_t max)
{
    *b = (iq_pop3_body){.state = AT_START, .max = max};
}

/* Hands data[*i, end) up to the first line that starts with a dot (or to the end of data) to
 * sink in one piece, and advances *i past it. */
static int emit_lines(iq_pop3_body *b, const char *data, size_t *i, size_t end, iq_pop3_sink sink,
                      void *ctx)
{
    size_t from = *i, at = *i;
    b->state = IN_LINE;
    while (at < end) {
        const char *nl = memchr(data + at, '\n', end - at);
        if (!nl) {
            at = end;
            break;
        }
        at = (size_t)(nl - data) + 1;
        if (at < end && data[at] == '.') {
            b->state = AT_START;
            break;
        }
        if (at == end)
            b->state = AT_START;
    }
    *i = at;
    b->total += at - from;
    if (b->total > b->max)
        return IQ_ERR_SIZE_LIMIT;
    return sink && at > from && sink(ctx, data + from, at - from) < 0 ? -1 : 0;
}

int iq_pop3_body_feed(iq_pop3_body *b, const char *data, size_t n, size_t *used_r,
                      iq_pop3_sink sink, void *ctx)
{
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        char c = data[i];
        switch (b->state) {
        case AT_START:
            if (c == '.') {
                b->state = AT_DOT;
                i++;
            } else {
                rc = emit_lines(b, data, &i, n, sink, ctx);
            }
            break;
        case AT_DOT: /* ".\r\n" (or ".\n") ends; otherwise the dot was stuffing */
            if (c == '\r') {
                b->state = AT_DOT_CR;
                i++;
            } else if (c == '\n') {
                rc = 1;
                i++;
            } else {
                rc = emit_lines(b, data, &i, n, sink, ctx);
            }
            break;
        case AT_DOT_CR: /* ".\r" then not "\n": the dot was stuffing, the "\r" is data */
            if (c == '\n') {
                rc = 1;
                i++;
                break;
            }
            if (++b->total > b->max)
                rc = IQ_ERR_SIZE_LIMIT;
            else if (sink && sink(ctx, "\r", 1) < 0)
                rc = -1;
            else
                rc = emit_lines(b, data, &i, n, sink, ctx);
            break;
        default:
            rc = emit_lines(b, data, &i, n, sink, ctx);
            break;
        }
    }
    *used_r = i;
    return rc;
}

void iq_pop3_entries_free(iq_pop3_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].uidl);
    free(e);
}

static int cmp_num(const void *x, const void *y)
{
    const iq_pop3_entry *a = x, *b = y;
    return (a->num > b->num) - (a->num < b->num);
}

/* Orders indexes into the entries (ctx) by UIDL. */
static int cmp_uidl(const void *x, const void *y, void *ctx)
{
    const iq_pop3_entry *e = ctx;
    return strcmp(e[*(const size_t *)x].uidl, e[*(const size_t *)y].uidl);
}

/* A server loop has run past the deadline (looked at every 4,096 lines). */
static bool past_deadline(int64_t deadline_ms, size_t line)
{
    return deadline_ms > 0 && (line & 4095) == 4095 && iq_now_mono_ms() > deadline_ms;
}

/* Sorts the listing by message number and refuses what RFC 1939 does not allow and what would
 * lose or duplicate mail: a message listed twice, two messages under one UIDL. */
static int listing_check(iq_pop3_entry *e, size_t n, char **err_r)
{
    if (n < 2)
        return 0;
    qsort(e, n, sizeof(*e), cmp_num);
    for (size_t i = 1; i < n; i++)
        if (e[i].num == e[i - 1].num) {
            *err_r = iq_xasprintf("the server listed message %u twice in UIDL; nothing was "
                                  "fetched or deleted",
                                  e[i].num);
            return IQ_ERR_PROTOCOL;
        }
    size_t *by_uidl = iq_xmalloc(iq_size_mul(n, sizeof(size_t)));
    for (size_t i = 0; i < n; i++)
        by_uidl[i] = i;
    qsort_r(by_uidl, n, sizeof(size_t), cmp_uidl, e);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(e[by_uidl[i]].uidl, e[by_uidl[i - 1]].uidl) == 0) {
            *err_r = iq_xasprintf("the server gave messages %u and %u the same UIDL; nothing "
                                  "was fetched or deleted",
                                  e[by_uidl[i - 1]].num, e[by_uidl[i]].num);
            rc = IQ_ERR_PROTOCOL;
        }
    free(by_uidl);
    return rc;
}

/* The next line of body[*at, len) without its line end, NUL-terminated in place; its length in
 * *len_r (a NUL inside it stays inside). NULL at the end. */
static char *next_line(char *body, size_t len, size_t *at, size_t *len_r)
{
    if (!body || *at >= len)
        return NULL;
    char *line = body + *at;
    char *eol = memchr(line, '\n', len - *at);
    size_t l = eol ? (size_t)(eol - line) : len - *at;
    *at += eol ? l + 1 : l;
    if (l && line[l - 1] == '\r')
        l--;
    line[l] = '\0';
    *len_r = l;
    return line;
}

/* One "N UIDL" line; false when it is not one. */
static bool uidl_line(char *line, size_t len, unsigned *num_r, const char **uidl_r)
{
    char *sp = memchr(line, ' ', len);
    if (!sp)
        return false;
    *sp = '\0';
    const char *uidl = sp + 1;
    size_t ulen = len - (size_t)(uidl - line);
    int64_t num;
    /* RFC 1939: a message number of digits only; a UIDL of 1..70 characters in 0x21..0x7E */
    if (line[0] < '0' || line[0] > '9' || iq_parse_i64(line, 1, IQ_POP3_MAX_LISTED, &num) != 0 ||
        ulen < 1 || ulen > 70)
        return false;
    for (size_t i = 0; i < ulen; i++)
        if (uidl[i] < 0x21 || uidl[i] > 0x7e)
            return false;
    *num_r = (unsigned)num;
    *uidl_r = uidl;
    return true;
}

int iq_pop3_parse_uidl(char *body, size_t len, int64_t deadline_ms, iq_pop3_entry **e_r,
                       size_t *n_r, char **err_r)
{
    *e_r = NULL;
    *n_r = 0;
    *err_r = NULL;
    size_t cap = 0, n = 0, at = 0, llen;
    iq_pop3_entry *e = NULL;
    int rc = 0;
    /* every line up to the end of the reply: an empty or malformed one is an error, never a
     * reason to stop reading (the messages after it would never be fetched) */
    for (char *line; rc == 0 && (line = next_line(body, len, &at, &llen)) != NULL;) {
        unsigned num;
        const char *uidl;
        if (!uidl_line(line, llen, &num, &uidl)) {
            *err_r = iq_xstrdup("malformed UIDL line from the server");
            rc = IQ_ERR_PROTOCOL;
        } else if (past_deadline(deadline_ms, n)) {
            *err_r = iq_xstrdup("the UIDL listing took past check_timeout");
            rc = IQ_ERR_TIMEOUT;
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                e = iq_xrealloc(e, iq_size_mul(cap, sizeof(*e)));
            }
            e[n++] = (iq_pop3_entry){.num = num, .uidl = iq_xstrdup(uidl)};
        }
    }
    if (rc == 0)
        rc = listing_check(e, n, err_r);
    if (rc != 0) {
        iq_pop3_entries_free(e, n);
        return rc;
    }
    *e_r = e;
    *n_r = n;
    return 0;
}

int iq_pop3_parse_list(char *body, size_t len, int64_t deadline_ms, iq_pop3_entry *e, size_t n,
                       char **err_r)
{
    *err_r = NULL;
    size_t at = 0, llen, lines = 0;
    for (char *line; (line = next_line(body, len, &at, &llen)) != NULL;) {
        char *sp = strchr(line, ' ');
        int64_t num;
        uint64_t size;
        if (sp) {
            *sp = '\0';
            sp[1 + strcspn(sp + 1, " ")] = '\0';
            iq_pop3_entry key = {.num = 0};
            if (iq_parse_i64(line, 1, IQ_POP3_MAX_LISTED, &num) == 0 &&
                iq_parse_u64(sp + 1, UINT64_MAX, &size) == 0) {
                key.num = (unsigned)num;
                iq_pop3_entry *hit = n > 0 ? bsearch(&key, e, n, sizeof(*e), cmp_num) : NULL;
                if (hit)
                    hit->size = size;
            }
        }
        if (past_deadline(deadline_ms, ++lines)) {
            *err_r = iq_xstrdup("the LIST listing took past check_timeout");
            return IQ_ERR_TIMEOUT;
        }
    }
    return 0;
}
