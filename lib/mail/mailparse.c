/* SPDX-License-Identifier: MIT */
/* Header extraction for stored messages: RFC 5322 fields via libetpan's mailimf, RFC 2047
 * encoded words via mailmime, RFC 3629 UTF-8 repair, and Date to UTC epoch milliseconds. */
#include "mailparse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "buf.h"
#include "utf8.h"
#include "util.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---- UTF-8 ---- */

char *iq_utf8_sanitize_dup(const char *s, size_t len, size_t max)
{
    /* Each input byte yields at most 3 output bytes (U+FFFD). */
    size_t cap = len > (SIZE_MAX - 1) / 3 ? SIZE_MAX - 1 : len * 3;
    if (cap > max)
        cap = max;
    char *out = iq_xmalloc(iq_size_add(cap, 1));
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = iq_utf8_decode((const char *)p + i, len - i, &cp);
        const char *bytes = (const char *)p + i;
        size_t blen = n;
        if (n == 0) {
            bytes = replacement;
            blen = 3;
            n = 1;
        } else if (cp == '\r' || cp == '\n') {
            bytes = " ";
            blen = 1;
        } else if ((cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp < 0xA0)) {
            bytes = replacement;
            blen = 3;
        }
        if (blen > cap - o)
            break;
        memcpy(out + o, bytes, blen);
        o += blen;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* Trims spaces and tabs in place; frees s and returns NULL when nothing is left. */
static char *trim_or_null(char *s)
{
    size_t len = strlen(s);
    size_t start = 0;
    while (start < len && (s[start] == ' ' || s[start] == '\t'))
        start++;
    while (len > start && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == start) {
        free(s);
        return NULL;
    }
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
    return s;
}

static char *clean(const char *s, size_t max)
{
    if (!s)
        return NULL;
    return trim_or_null(iq_utf8_sanitize_dup(s, strlen(s), max));
}

/* Unfolds, decodes RFC 2047 encoded words to UTF-8 and cleans a header text (Subject or a
 * display name). Raw 8-bit text that is not UTF-8 is repaired before decoding, so libetpan
 * neither drops nor misreads it. */
static char *decode_text(const char *raw, size_t max)
{
    if (!raw)
        return NULL;
    size_t len = strlen(raw);
    char *unfolded = iq_xmalloc(iq_size_add(len, 1));
    char *result;
    size_t u = 0;
    for (size_t i = 0; i < len; i++) {
        if (raw[i] != '\r' && raw[i] != '\n')
            unfolded[u++] = raw[i];
    }
    char *valid = iq_utf8_sanitize_dup(unfolded, u, SIZE_MAX - 1);
    free(unfolded);
    /* Most header texts have no encoded word and no run of blanks: libetpan's decoder (with an
     * iconv conversion per call) would hand them back unchanged, so skip it. */
    if (!strstr(valid, "=?") && !strchr(valid, '\t') && !strstr(valid, "  ")) {
        result = clean(valid, max);
        free(valid);
        return result;
    }

    char *decoded = NULL;
    size_t idx = 0;
    if (mailmime_encoded_phrase_parse("utf-8", valid, strlen(valid), &idx, "utf-8", &decoded) ==
            MAILIMF_NO_ERROR &&
        decoded) {
        result = clean(decoded, max);
        free(decoded);
    } else {
        result = clean(valid, max);
    }
    free(valid);
    return result;
}

/* ---- fields ---- */

static bool date_to_ms(const struct mailimf_date_time *dt, int64_t *ms_r)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!dt)
        return false;
    int64_t y = dt->dt_year;
    /* RFC 5322 4.3: two-digit years 00-49 are 20xx, others (and three digits) are 19xx. */
    if (y >= 0 && y < 50)
        y += 2000;
    else if (y >= 50 && y < 1000)
        y += 1900;
    if (y < 1900 || y > 9999 || dt->dt_month < 1 || dt->dt_month > 12 || dt->dt_day < 1)
        return false;
    int dim = mdays[dt->dt_month - 1];
    if (dt->dt_month == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        dim = 29;
    if (dt->dt_day > dim || dt->dt_hour < 0 || dt->dt_hour > 23 || dt->dt_min < 0 ||
        dt->dt_min > 59 || dt->dt_sec < 0 || dt->dt_sec > 60)
        return false;
    int zone = dt->dt_zone;
    if (zone < -9959 || zone > 9959) /* before negating: libetpan may hand over INT_MIN */
        return false;
    int zabs = zone < 0 ? -zone : zone;
    if (zabs % 100 > 59)
        return false;
    int64_t offset_s = (int64_t)(zabs / 100 * 3600 + zabs % 100 * 60) * (zone < 0 ? -1 : 1);
    int64_t secs = iq_days_from_civil(y, dt->dt_month, dt->dt_day) * 86400 + dt->dt_hour * 3600 +
                   dt->dt_min * 60 + dt->dt_sec - offset_s;
    *ms_r = secs * 1000;
    return true;
}

static char *format_mailbox(const struct mailimf_mailbox *mb)
{
    /* Halves of the From cap, so a long name never pushes the address out. */
    enum { PART_MAX = (IQ_MAIL_FROM_MAX - 4) / 2 };
    char *name = decode_text(mb->mb_display_name, PART_MAX);
    char *addr = clean(mb->mb_addr_spec, PART_MAX);
    char *out = NULL;
    if (name && addr)
        out = iq_xasprintf("%s <%s>", name, addr);
    else if (addr)
        out = addr, addr = NULL;
    else if (name)
        out = name, name = NULL;
    free(name);
    free(addr);
    return out;
}

static char *format_from(const struct mailimf_mailbox_list *list)
{
    if (!list || !list->mb_list)
        return NULL;
    for (clistiter *it = clist_begin(list->mb_list); it; it = clist_next(it)) {
        char *s = format_mailbox(clist_content(it));
        if (s)
            return s;
    }
    return NULL;
}

/* Appends one address to the joined list unless it would pass the cap. */
static void join_addr(iq_buf *out, const struct mailimf_mailbox *mb)
{
    char *addr = clean(mb->mb_addr_spec, IQ_MAIL_TO_MAX);
    if (!addr)
        return;
    size_t need = strlen(addr) + (out->len ? 2 : 0);
    if (need <= IQ_MAIL_TO_MAX - out->len) /* fits: out's cap is IQ_MAIL_TO_MAX */
        IQ_IGNORE_RESULT(iq_buf_appendf(out, "%s%s", out->len ? ", " : "", addr));
    free(addr);
}

static char *format_to(const struct mailimf_address_list *list)
{
    if (!list || !list->ad_list)
        return NULL;
    iq_buf out;
    iq_buf_init(&out, IQ_MAIL_TO_MAX);
    for (clistiter *it = clist_begin(list->ad_list); it; it = clist_next(it)) {
        const struct mailimf_address *ad = clist_content(it);
        if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX && ad->ad_data.ad_mailbox) {
            join_addr(&out, ad->ad_data.ad_mailbox);
        } else if (ad->ad_type == MAILIMF_ADDRESS_GROUP && ad->ad_data.ad_group) {
            const struct mailimf_mailbox_list *ml = ad->ad_data.ad_group->grp_mb_list;
            if (!ml || !ml->mb_list)
                continue;
            for (clistiter *m = clist_begin(ml->mb_list); m; m = clist_next(m))
                join_addr(&out, clist_content(m));
        }
    }
    if (out.len == 0) {
        iq_buf_release(&out);
        return NULL;
    }
    return iq_buf_detach(&out, NULL);
}

static char *format_message_id(const char *raw)
{
    char *id = clean(raw, IQ_MAIL_MESSAGE_ID_MAX + 2);
    if (!id)
        return NULL;
    size_t len = strlen(id);
    if (len >= 2 && id[0] == '<' && id[len - 1] == '>') {
        memmove(id, id + 1, len - 2);
        id[len - 2] = '\0';
        id = trim_or_null(id);
    }
    if (id && strlen(id) > IQ_MAIL_MESSAGE_ID_MAX) {
        char *cut = iq_utf8_sanitize_dup(id, strlen(id), IQ_MAIL_MESSAGE_ID_MAX);
        free(id);
        id = trim_or_null(cut);
    }
    return id;
}

/* Takes the first usable instance of each field we want. */
static void take_fields(const struct mailimf_fields *f, iq_msg_headers *h)
{
    if (!f || !f->fld_list)
        return;
    for (clistiter *it = clist_begin(f->fld_list); it; it = clist_next(it)) {
        const struct mailimf_field *fl = clist_content(it);
        switch (fl->fld_type) {
        case MAILIMF_FIELD_ORIG_DATE:
            if (!h->has_date && fl->fld_data.fld_orig_date)
                h->has_date = date_to_ms(fl->fld_data.fld_orig_date->dt_date_time, &h->date_ms);
            break;
        case MAILIMF_FIELD_FROM:
            if (!h->from && fl->fld_data.fld_from)
                h->from = format_from(fl->fld_data.fld_from->frm_mb_list);
            break;
        case MAILIMF_FIELD_TO:
            if (!h->to && fl->fld_data.fld_to)
                h->to = format_to(fl->fld_data.fld_to->to_addr_list);
            break;
        case MAILIMF_FIELD_SUBJECT:
            if (!h->subject && fl->fld_data.fld_subject)
                h->subject = decode_text(fl->fld_data.fld_subject->sbj_value, IQ_MAIL_SUBJECT_MAX);
            break;
        case MAILIMF_FIELD_MESSAGE_ID:
            if (!h->message_id && fl->fld_data.fld_message_id)
                h->message_id = format_message_id(fl->fld_data.fld_message_id->mid_value);
            break;
        default:
            break;
        }
    }
    if (!h->has_date)
        h->date_ms = 0;
}

/* Length of the header block: up to (not including) the first empty line, or everything in
 * the first IQ_MAIL_HEADER_MAX bytes when there is none. */
static size_t header_block_len(const char *raw, size_t len)
{
    size_t scan = len < IQ_MAIL_HEADER_MAX ? len : IQ_MAIL_HEADER_MAX;
    size_t line_start = 0;
    bool has_text = false;
    for (size_t i = 0; i < scan; i++) {
        if (raw[i] == '\n') {
            if (!has_text)
                return line_start;
            has_text = false;
            line_start = i + 1;
        } else if (raw[i] != '\r') {
            has_text = true;
        }
    }
    return scan;
}

/* Index just past the line at pos and any continuation lines (starting with space or tab). */
static size_t skip_field(const char *s, size_t len, size_t pos)
{
    do {
        while (pos < len && s[pos] != '\n')
            pos++;
        if (pos < len)
            pos++;
    } while (pos < len && (s[pos] == ' ' || s[pos] == '\t'));
    return pos;
}

/* libetpan parses nested comments recursively: a few hundred kilobytes of "(" overflow the
 * stack. Any "(" beyond this depth becomes a space (the field then fails to parse, as such
 * garbage should). The count is an upper bound on libetpan's: every "(" counts, quoted or
 * escaped, and only an unescaped ")" closes. Subject is unstructured and left alone. */
#define IQ_MAIL_COMMENT_DEPTH_MAX 32

static void defuse_comments(char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* s + i starts a field (or a stray continuation line, treated the same way). */
        bool subject = len - i >= 8 && strncasecmp(s + i, "subject", 7) == 0 &&
                       (s[i + 7] == ':' || s[i + 7] == ' ' || s[i + 7] == '\t');
        /* A Subject's text is unstructured: its parentheses are not comments and stay. Before
         * its colon, though, mailimf parses comments (obsolete syntax), recursively: there they
         * are capped like in any other field. */
        bool text = false;
        int depth = 0;
        for (; i < len; i++) {
            char ch = s[i];
            if (ch == '\n' && (i + 1 >= len || (s[i + 1] != ' ' && s[i + 1] != '\t'))) {
                i++;
                break;
            }
            if (text)
                continue;
            if (subject && ch == ':' && depth == 0) {
                text = true;
                continue;
            }
            if (ch == '(') {
                if (depth >= IQ_MAIL_COMMENT_DEPTH_MAX)
                    s[i] = ' ';
                else
                    depth++;
            } else if (ch == ')' && depth > 0 && (i == 0 || s[i - 1] != '\\')) {
                depth--;
            }
        }
    }
}

void iq_mail_parse_headers(const char *raw, size_t len, iq_msg_headers *h_r)
{
    memset(h_r, 0, sizeof(*h_r));
    if (!raw || len == 0)
        return;
    size_t blen = header_block_len(raw, len);
    if (blen == 0)
        return;

    /* A private copy: NULs become spaces (libetpan works on C strings in places) and the last
     * line gets its CRLF when the block was cut. */
    char *block = iq_xmalloc(iq_size_add(blen, 3));
    memcpy(block, raw, blen);
    for (size_t i = 0; i < blen; i++) {
        if (block[i] == '\0')
            block[i] = ' ';
    }
    if (block[blen - 1] != '\n') {
        block[blen++] = '\r';
        block[blen++] = '\n';
    }
    block[blen] = '\0';
    defuse_comments(block, blen);

    /* mailimf stops at the first line it cannot parse; skip that field and go on, so one bad
     * line does not hide the rest. Every round advances, so this ends. */
    size_t idx = 0;
    while (idx < blen) {
        size_t before = idx;
        struct mailimf_fields *fields = NULL;
        int r = mailimf_fields_parse(block, blen, &idx, &fields);
        if (r == MAILIMF_NO_ERROR) {
            take_fields(fields, h_r);
        } else {
            idx = before;
        }
        if (fields)
            mailimf_fields_free(fields);
        if (idx <= before || idx > blen)
            idx = skip_field(block, blen, before);
    }
    free(block);
}

void iq_msg_headers_release(iq_msg_headers *h)
{
    if (!h)
        return;
    free(h->message_id);
    free(h->from);
    free(h->to);
    free(h->subject);
    memset(h, 0, sizeof(*h));
}
