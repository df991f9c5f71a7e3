/* SPDX-License-Identifier: MIT */
/* The IMAP line filter (see imapline.h for why it exists). */
#include "imapline.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define LITERAL_DIGITS_MAX 10 /* "{4294967295}": RFC 3501's number is 32 bits */
#define NUMBER_DIGITS_MAX 20  /* UIDVALIDITY and the like: 32 bits, HIGHESTMODSEQ 63 */

static int refuse(iq_imap_line_result *res, iq_err cls, const char *fmt, ...) IQ_PRINTF(3, 4);

static int refuse(iq_imap_line_result *res, iq_err cls, const char *fmt, ...)
{
    res->error_class = cls;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3501 ATOM-CHAR: any CHAR except atom-specials ("(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]"). */
static bool is_atom_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u < 0x7f && !strchr("(){%*\"\\]", c);
}

static bool all_atom(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_atom_char(s[i]))
            return false;
    return true;
}

static bool all_digits(const char *s, size_t n, size_t max_digits)
{
    if (n == 0 || n > max_digits)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

/* atom *(SP atom) */
static bool atom_list(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ' ') {
            if (!all_atom(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* "(" [flag-perm *(SP flag-perm)] ")", flag-perm = "\*" / ["\"] atom */
static bool perm_flags(const char *s, size_t n)
{
    if (n < 2 || s[0] != '(' || s[n - 1] != ')')
        return false;
    s++;
    n -= 2;
    if (n == 0)
        return true;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ' ') {
            const char *f = s + start;
            size_t fl = i - start;
            bool any = fl == 2 && f[0] == '\\' && f[1] == '*';
            bool is_system = fl > 0 && f[0] == '\\';
            if (!any && !(is_system ? all_atom(f + 1, fl - 1) : all_atom(f, fl)))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* Whether a response code (the text between "[" and "]") may reach libetpan. */
static bool code_allowed(const char *code, size_t n, bool no_context)
{
    const char *sp = memchr(code, ' ', n);
    size_t name_len = sp ? (size_t)(sp - code) : n;
    const char *args = sp ? sp + 1 : code + n;
    size_t args_len = sp ? n - name_len - 1 : 0;
    if (!all_atom(code, name_len))
        return false;
#define NAME_IS(s) (name_len == strlen(s) && strncasecmp(code, (s), name_len) == 0)
    if (NAME_IS("BADCHARSET"))
        return false; /* a second one frees the live list; nothing here needs it */
    if (NAME_IS("CAPABILITY"))
        return sp && atom_list(args, args_len);
    if (!sp)
        return !NAME_IS("PERMANENTFLAGS");
    if (no_context)
        return false; /* every other argument parser may reach a string */
    if (NAME_IS("PERMANENTFLAGS"))
        return perm_flags(args, args_len);
    if (NAME_IS("UIDNEXT") || NAME_IS("UIDVALIDITY") || NAME_IS("UNSEEN") ||
        NAME_IS("HIGHESTMODSEQ"))
        return all_digits(args, args_len, NUMBER_DIGITS_MAX);
    if (NAME_IS("APPENDUID") || NAME_IS("COPYUID")) {
        for (size_t i = 0; i < args_len; i++)
            if (!is_digit(args[i]) && !strchr(":,* ", args[i]))
                return false;
        return args_len > 0;
    }
#undef NAME_IS
    return false;
}

/* Whether the line is a status response ("* OK", "tag NO", "* BYE", "* PREAUTH", ...) or a
 * continuation request ("+ ..."): its rest is resp-text, which libetpan never reads a literal
 * from. *code_r is where its response code's "[" is, or 0 when it has none. */
static bool status_line(const char *l, size_t n, size_t *code_r)
{
    *code_r = 0;
    size_t i = 0;
    if (n > 0 && l[0] == '+') {
        i = 1;
        if (i < n && l[i] == ' ')
            i++;
        if (i < n && l[i] == '[')
            *code_r = i;
        return true;
    }
    while (i < n && l[i] != ' ') /* "*" or the tag */
        i++;
    if (i == 0 || i >= n)
        return false;
    size_t w = ++i;
    while (i < n && l[i] != ' ')
        i++;
    static const char *const words[] = {"OK", "NO", "BAD", "BYE", "PREAUTH"};
    bool status = false;
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
        status |= i - w == strlen(words[k]) && strncasecmp(l + w, words[k], i - w) == 0;
    if (status && i + 1 < n && l[i + 1] == '[')
        *code_r = i + 1;
    return status;
}

/* The line's closing "{digits}" or "{digits+}" (before CRLF or LF): its "{" position and value
 * through *start_r and *value_r. Returns 1 when there is one, 0 when none, -1 when it has more
 * digits than a 32-bit number can. */
static int trailing_literal(const char *l, size_t body_end, size_t *start_r, uint64_t *value_r)
{
    if (body_end < 3 || l[body_end - 1] != '}')
        return 0;
    size_t end = body_end - 1;
    if (l[end - 1] == '+')
        end--;
    size_t start = end;
    while (start > 0 && is_digit(l[start - 1]))
        start--;
    if (start == end || start == 0 || l[start - 1] != '{')
        return 0;
    *start_r = start - 1;
    if (end - start > LITERAL_DIGITS_MAX)
        return -1;
    uint64_t v = 0;
    for (size_t i = start; i < end; i++)
        v = v * 10 + (uint64_t)(l[i] - '0');
    *value_r = v;
    return 1;
}

int iq_imap_line_filter(const char *line, size_t len, iq_imap_line_kind kind, uint64_t max_literal,
                        iq_buf *out, iq_imap_line_result *res)
{
    memset(res, 0, sizeof(*res));
    size_t body_end = len;
    if (body_end > 0 && line[body_end - 1] == '\n')
        body_end--;
    if (body_end > 0 && line[body_end - 1] == '\r')
        body_end--;

    size_t open = 0;
    bool status = kind != IQ_IMAP_LINE_AFTER_LITERAL && status_line(line, body_end, &open);
    bool no_context = kind == IQ_IMAP_LINE_GREETING || (status && line[0] == '+');
    size_t lit_start = SIZE_MAX;
    uint64_t lit = 0;
    int t = status ? 0 : trailing_literal(line, body_end, &lit_start, &lit);
    if (t < 0)
        return refuse(res, IQ_ERR_SIZE_LIMIT, "server announced a literal of more than %d digits",
                      LITERAL_DIGITS_MAX);
    if (t > 0 && lit > max_literal)
        return refuse(res, IQ_ERR_SIZE_LIMIT,
                      "server announced a literal of %llu bytes, over the max_message limit of "
                      "%llu",
                      (unsigned long long)lit, (unsigned long long)max_literal);

    /* Every other place libetpan could take for a literal: "{" then spaces, then a digit or '-'
     * (its "{-1}" workaround), outside quoted strings. A status line's text is only text. */
    bool quoted = false;
    for (size_t i = 0; !status && i < body_end; i++) {
        char c = line[i];
        if (quoted) {
            if (c == '\\')
                i++;
            else if (c == '"')
                quoted = false;
            continue;
        }
        if (c == '"') {
            quoted = true;
        } else if (c == '{' && i != lit_start) {
            size_t j = i + 1;
            while (j < body_end && (line[j] == ' ' || line[j] == '\t'))
                j++;
            if (j < body_end && (is_digit(line[j]) || line[j] == '-'))
                return refuse(res, IQ_ERR_PROTOCOL,
                              "server sent a malformed literal announcement (only {N} or {N+} "
                              "at the end of a line is IMAP)");
        } else if (i == lit_start) {
            break; /* the closing literal, outside any quoted string */
        }
    }
    if (quoted && t > 0)
        return refuse(res, IQ_ERR_PROTOCOL,
                      "server sent a literal announcement inside an unterminated quoted string");

    /* The response code, kept only when its shape is safe. */
    size_t cut_from = 0, cut_to = 0;
    if (open > 0) {
        const char *close = memchr(line + open, ']', body_end - open);
        size_t code_end = close ? (size_t)(close - line) : body_end;
        if (!close || !code_allowed(line + open + 1, code_end - open - 1, no_context)) {
            cut_from = open;
            cut_to = close ? code_end + 1 : body_end;
            if (cut_to < body_end && line[cut_to] == ' ')
                cut_to++;
        }
    }
    size_t before = out->len;
    int rc = 0;
    if (cut_to > cut_from) {
        res->code_cut = true;
        rc = iq_buf_append(out, line, cut_from);
        /* libetpan wants some text after the status word: a code and nothing else keeps "." */
        if (rc == 0 && cut_to >= body_end)
            rc = iq_buf_append_char(out, '.');
        if (rc == 0)
            rc = iq_buf_append(out, line + cut_to, len - cut_to);
    } else {
        rc = iq_buf_append(out, line, len);
    }
    if (rc < 0) {
        out->len = before;
        if (out->data)
            out->data[before] = '\0';
        return refuse(res, IQ_ERR_SIZE_LIMIT, "a server line did not fit the read buffer");
    }
    res->literal = t > 0 ? lit : 0;
    res->literal_follows = t > 0;
    return 0;
}
