/* SPDX-License-Identifier: MIT */
/* Mail header parsing (lib/mailparse.c over libetpan's mailimf and mailmime): the raw bytes of
 * a fetched message, as the store indexes them, and the UTF-8 repair every header text goes
 * through. Checks the header contract: each field NULL or non-empty valid UTF-8, trimmed,
 * without control characters other than tab, within its cap. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mailparse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *what, const char *s, size_t max, bool allow_tab)
{
    if (!s)
        return;
    size_t len = strlen(s);
    if (len > max)
        iq_fuzz_fail("%s: %zu bytes, over its cap of %zu", what, len, max);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = iq_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            iq_fuzz_fail("%s: invalid UTF-8 at byte %zu", what, i);
        if ((cp < 0x20 && !(allow_tab && cp == '\t')) || (cp >= 0x7F && cp < 0xA0))
            iq_fuzz_fail("%s: control character U+%04X at byte %zu", what, (unsigned)cp, i);
        i += n;
    }
}

static void check_field(const char *what, const char *s, size_t max)
{
    if (!s)
        return;
    size_t len = strlen(s);
    if (len == 0)
        iq_fuzz_fail("%s: empty instead of NULL", what);
    if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
        iq_fuzz_fail("%s: not trimmed", what);
    check_text(what, s, max, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = (const char *)data;
    iq_msg_headers h;
    iq_mail_parse_headers(raw, size, &h);
    check_field("From", h.from, IQ_MAIL_FROM_MAX);
    check_field("To", h.to, IQ_MAIL_TO_MAX);
    check_field("Subject", h.subject, IQ_MAIL_SUBJECT_MAX);
    check_field("Message-ID", h.message_id, IQ_MAIL_MESSAGE_ID_MAX);
    /* RFC 5322 dates of years 1900..9999 with a zone of at most +-99:59 */
    if (h.has_date && (h.date_ms < -2208988800000LL - 100LL * 3600000 ||
                       h.date_ms > 253402300799000LL + 100LL * 3600000))
        iq_fuzz_fail("Date: %lld ms is outside the years 1900..9999", (long long)h.date_ms);
    if (!h.has_date && h.date_ms != 0)
        iq_fuzz_fail("Date: no date, yet date_ms is %lld", (long long)h.date_ms);
    iq_msg_headers_release(&h);

    /* the repair alone, with a cap that cuts inside the text */
    size_t max = size / 2 + 1;
    char *clean = iq_utf8_sanitize_dup(raw, size, max);
    check_text("iq_utf8_sanitize_dup", clean, max, true);
    if (strpbrk(clean, "\r\n"))
        iq_fuzz_fail("iq_utf8_sanitize_dup kept a line break");
    free(clean);
    return 0;
}
