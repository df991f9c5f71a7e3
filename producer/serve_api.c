/* SPDX-License-Identifier: MIT */
/* inboxq serve's requests: the console's static files, sign-in and sessions, and the JSON API
 * (schemas/openapi.json) over the same lib functions as the CLI: the accounts report for the
 * list and CSV, domain/ for every write with its field rules and audit row (the actor is
 * "console:NAME"). Roles: auditor reads, operator also writes accounts, admin also manages
 * credentials, connectors and operators. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "account.h"
#include "audit.h"
#include "config.h"
#include "connector.h"
#include "commands.h"
#include "cron.h"
#include "i18n.h"
#include "inbox.h"
#include "kafka.h"
#include "messages.h"
#include "log.h"
#include "report.h"
#include "reports.h"
#include "serve.h"
#include "util.h"
#include "vault.h"

#define COOKIE "iq_session"
#define API "/api/v1/"

/* Every console page: scripts and styles only from here, no inline code, no framing. */
#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

typedef struct call {
    iq_serve *s;
    const iq_http_req *req;
    iq_http_resp *resp;
    PGconn *c;
    iq_operator_session who;
    bool signed_in;
    bool via_cookie;
    const char *method;
    /* the path after /api/v1/, split on '/' */
    char *segs[4];
    int nsegs;
} call;

/* ---- replies ---- */

static void reply_json(call *k, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (text == NULL) {
        iq_oom();
    } else {
        iq_http_resp_take(k->resp, status, "application/json", text, strlen(text));
    }
}

static const char *class_of(int status)
{
    switch (status) {
    case 400:
        return "bad_request";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "stale";
    case 413:
        return "too_large";
    case 415:
        return "unsupported_media_type";
    case 422:
        return "invalid";
    case 429:
        return "throttled";
    case 503:
        return "unavailable";
    default:
        return "failed";
    }
}

/* {"error": {"status", "class", "message", "field"?}}: field is the message's "name:" prefix
 * (the rules of lib/domain name the field that way, as the CLI shows them). */
static void reply_error(call *k, int status, const char *message)
{
    json_t *e = json_pack("{s:i, s:s, s:s}", "status", status, "class", class_of(status), "message",
                          message);
    if (e == NULL)
        iq_oom();
    const char *colon = strchr(message, ':');
    if (colon != NULL && colon > message && colon - message < 40) {
        bool ident = true;
        for (const char *p = message; p < colon && ident; p++)
            ident = (*p >= 'a' && *p <= 'z') || *p == '_' || *p == '-' || *p == '.';
        if (ident) {
            char field[48];
            snprintf(field, sizeof(field), "%.*s", (int)(colon - message), message);
            for (char *p = field; *p; p++)
                if (*p == '-')
                    *p = '_';
            json_object_set_new(e, "field", json_string(field));
        }
    }
    reply_json(k, status, json_pack("{s:o}", "error", e));
}

static int status_of(iq_err st)
{
    switch (st) {
    case IQ_OK:
        return 200;
    case IQ_ERR_INVALID:
        return 422;
    case IQ_ERR_NOT_FOUND:
        return 404;
    case IQ_ERR_STALE:
    case IQ_ERR_IN_USE:
        return 409;
    case IQ_ERR_UNAVAILABLE:
        return 503;
    default:
        return 500;
    }
}

static void reply_err(call *k, iq_err st, char *err)
{
    reply_error(k, status_of(st), err != NULL ? err : "failed");
    free(err);
}

/* ---- request helpers ---- */

/* The body as a JSON object, or NULL after replying 400/415. */
static json_t *body_object(call *k)
{
    const char *type = iq_http_req_header(k->req, "Content-Type");
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0) {
        reply_error(k, 415, "Content-Type: send application/json");
        return NULL;
    }
    size_t len = 0;
    const char *body = iq_http_req_body(k->req, &len);
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        reply_error(k, 400, "body: not a JSON object");
        return NULL;
    }
    return o;
}

static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* Signs the caller in from the session cookie or an API token. */
static int authenticate(call *k)
{
    char *err = NULL;
    const char *auth = iq_http_req_header(k->req, "Authorization");
    int found = 0;
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        found = iq_operator_token_get(k->c, auth + 7, &k->who, &err);
    } else {
        const char *cookie = iq_http_req_cookie(k->req, COOKIE);
        if (cookie != NULL) {
            found = iq_operator_session_get(k->c, cookie, &k->s->policy, &k->who, &err);
            k->via_cookie = found == 1;
        }
    }
    if (found < 0) {
        IQ_WARN("serve: session lookup: %s", err);
        free(err);
        return -1;
    }
    k->signed_in = found == 1;
    return 0;
}

static bool need_role(call *k, iq_role role)
{
    if (k->who.role >= role)
        return true;
    char msg[160];
    snprintf(msg, sizeof(msg), "role: %s may not do this; it takes the %s role",
             iq_role_name(k->who.role), iq_role_name(role));
    reply_error(k, 403, msg);
    return false;
}

static bool method_is(const call *k, const char *m)
{
    return strcmp(k->method, m) == 0;
}

static bool parse_id(const char *s, int64_t *id_r)
{
    return s != NULL && iq_parse_i64(s, 1, INT64_MAX, id_r) == 0;
}

/* ---- session ---- */

static void set_cookie(call *k, const char *token, int64_t max_age)
{
    char cookie[256];
    snprintf(cookie, sizeof(cookie),
             COOKIE "=%s; Path=/; Max-Age=%" PRId64 "; HttpOnly; SameSite=Strict%s", token, max_age,
             k->s->tls ? "; Secure" : "");
    iq_http_resp_header(k->resp, "Set-Cookie", cookie);
}

static json_t *who_json(const iq_operator_session *w)
{
    json_t *o = json_pack("{s:s, s:s}", "name", w->name, "role", iq_role_name(w->role));
    if (o == NULL)
        iq_oom();
    if (w->csrf[0] != '\0')
        json_object_set_new(o, "csrf", json_string(w->csrf));
    return o;
}

static void session_sign_in(call *k)
{
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *password = json_string_value(json_object_get(b, "password"));
    if (name == NULL || password == NULL) {
        json_decref(b);
        reply_error(k, 422, name == NULL ? "name: is required" : "password: is required");
        return;
    }
    /* a new session always: a cookie the client already had is ended, never reused */
    const char *old = iq_http_req_cookie(k->req, COOKIE);
    char *err = NULL;
    if (old != NULL && iq_operator_sign_out(k->c, old, &err) != 0) {
        IQ_WARN("serve: sign-out of the previous session: %s", err);
        free(err);
        err = NULL;
    }
    char token[IQ_TOKEN_HEX + 1];
    iq_operator_session who;
    iq_signin r = iq_operator_sign_in(k->c, name, password, iq_http_req_peer(k->req), &k->s->policy,
                                      token, &who, &err);
    json_decref(b);
    switch (r) {
    case IQ_SIGNIN_OK:
        set_cookie(k, token, k->s->policy.lifetime_s);
        iq_secure_zero(token, sizeof(token));
        IQ_INFO("serve: %s signed in from %s", who.name, iq_http_req_peer(k->req));
        reply_json(k, 200, who_json(&who));
        return;
    case IQ_SIGNIN_REFUSED:
        reply_error(k, 401, "name or password: not recognised; check both");
        return;
    case IQ_SIGNIN_THROTTLED:
        iq_http_resp_header(k->resp, "Retry-After", "900");
        reply_error(k, 429,
                    "sign-in: too many failures for this name or address; wait 15 "
                    "minutes");
        return;
    case IQ_SIGNIN_ERROR:
        break;
    }
    IQ_WARN("serve: sign-in: %s", err);
    free(err);
    reply_error(k, 503, "sign-in: the database is unavailable; retry");
}

static void session_route(call *k)
{
    if (method_is(k, "POST")) {
        session_sign_in(k);
    } else if (!k->signed_in) {
        reply_error(k, 401, "session: not signed in");
    } else if (method_is(k, "GET")) {
        reply_json(k, 200, who_json(&k->who));
    } else if (method_is(k, "DELETE")) {
        char *err = NULL;
        if (iq_operator_sign_out(k->c, iq_http_req_cookie(k->req, COOKIE), &err) != 0) {
            reply_err(k, IQ_ERR_FAILED, err);
            return;
        }
        set_cookie(k, "", 0);
        iq_http_resp_set(k->resp, 204, "application/json", NULL, 0);
    } else {
        reply_error(k, 405, "method: use GET, POST or DELETE");
    }
}

/* ---- accounts ---- */

static const char *const filter_keys[][2] = {
    {"name", "name"},           {"secure", "secure"}, {"auto_check", "auto-check"},
    {"keep_copy", "keep-copy"}, {"active", "active"}, {"last_check", "last-check"},
};

/* The report filters from the query, or -1 after replying 422. */
static int filters_from_query(call *k, iq_report_filters *f)
{
    for (size_t i = 0; i < IQ_ARRAY_LEN(filter_keys); i++) {
        const char *v = iq_http_req_query(k->req, filter_keys[i][0]);
        if (v == NULL || *v == '\0')
            continue;
        char *err = NULL;
        if (iq_report_filters_set(f, filter_keys[i][1], v, &err) != 0) {
            char *msg = iq_xasprintf("%s: %s", filter_keys[i][0], err);
            free(err);
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
    }
    return 0;
}

/* The CSV export, sent as it is read: a server-side cursor, 1000 rows a batch, each batch
 * rendered by the report's CSV sink (the CLI's injection-safe CSV) and handed to the client
 * before the next is fetched, so memory stays flat however many accounts there are. The
 * stream owns the request's PostgreSQL connection until it ends. */
typedef struct csv_export {
    iq_serve *s;
    PGconn *c;
    iq_report_filters f;
    iq_report_stream *st;
    char *buf; /* the current batch */
    size_t len, off;
    bool end;
} csv_export;

/* The next batch into x->buf; 1, 0 at the end, -1 on failure (logged). */
static int export_batch(csv_export *x)
{
    free(x->buf);
    x->buf = NULL;
    x->len = x->off = 0;
    FILE *mem = open_memstream(&x->buf, &x->len);
    char *err = NULL;
    int rc = mem == NULL ? -1 : iq_report_stream_next(x->st, mem, NULL, &err);
    if (mem == NULL || fclose(mem) != 0)
        iq_oom();
    if (rc < 0) {
        IQ_WARN("serve: CSV export cut short: %s", err);
        free(err);
    }
    return rc;
}

static ssize_t export_read(void *ctx, char *out, size_t max)
{
    csv_export *x = ctx;
    while (x->off == x->len) {
        if (x->end)
            return 0;
        int rc = export_batch(x);
        if (rc < 0)
            return -1;
        x->end = rc == 0;
    }
    size_t n = x->len - x->off < max ? x->len - x->off : max;
    memcpy(out, x->buf + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

static void export_done(void *ctx)
{
    csv_export *x = ctx;
    iq_report_stream_free(&x->st); /* unfinished (the client left): rolled back */
    iq_serve_pg_release(x->s, x->c);
    pthread_mutex_lock(&x->s->mu);
    x->s->exports--;
    pthread_mutex_unlock(&x->s->mu);
    iq_report_filters_release(&x->f);
    free(x->buf);
    free(x);
}

static void accounts_csv(call *k)
{
    pthread_mutex_lock(&k->s->mu);
    bool busy = k->s->exports >= IQ_SERVE_EXPORTS;
    if (!busy)
        k->s->exports++;
    pthread_mutex_unlock(&k->s->mu);
    if (busy) {
        iq_http_resp_header(k->resp, "Retry-After", "10");
        reply_error(k, 503, "export: other exports are running; retry in a few seconds");
        return;
    }
    csv_export *x = iq_xcalloc(1, sizeof(*x));
    x->s = k->s;
    x->c = k->c;
    iq_report_filters_init(&x->f);
    char *err = NULL;
    const char *lang = iq_http_req_query(k->req, "lang");
    iq_report_options o = {.format = IQ_REPORT_CSV,
                           .lang = lang != NULL && strcmp(lang, "pt-BR") == 0 ? "pt-BR" : "en"};
    FILE *mem = NULL;
    int rc = filters_from_query(k, &x->f) != 0 ? 1 : 0;
    if (rc == 0) {
        mem = open_memstream(&x->buf, &x->len);
        rc = mem == NULL ? -1 : iq_report_stream_open(k->c, &x->f, &o, mem, &x->st, &err);
        if (mem == NULL || fclose(mem) != 0)
            iq_oom();
    }
    if (rc != 0) {
        if (rc < 0)
            reply_err(k, IQ_ERR_FAILED, err);
        x->c = NULL; /* still the request's: released by iq_serve_handle */
        pthread_mutex_lock(&k->s->mu);
        k->s->exports--;
        pthread_mutex_unlock(&k->s->mu);
        iq_report_stream_free(&x->st);
        iq_report_filters_release(&x->f);
        free(x->buf);
        free(x);
        return;
    }
    k->c = NULL; /* the stream's now, until export_done */
    iq_http_resp_stream(k->resp, 200, "text/csv; charset=utf-8", export_read, export_done, x);
    iq_http_resp_header(k->resp, "Content-Disposition", "attachment; filename=\"accounts.csv\"");
}

/* GET /accounts: one page of 30 by number (page=N, for the console's pager) or after a cursor
 * (after=ID, the code of the last account seen: keyset paging on the report's order, the
 * code, stable while accounts are added); next_cursor continues either way. */
static void accounts_list(call *k)
{
    iq_report_filters f;
    iq_report_filters_init(&f);
    int64_t page = 1, after = 0;
    const char *p = iq_http_req_query(k->req, "page");
    const char *cur = iq_http_req_query(k->req, "after");
    if (p != NULL && iq_parse_i64(p, 1, INT64_MAX / 2 / IQ_REPORT_MAX_PER_PAGE, &page)) {
        reply_error(k, 422, "page: must be a whole number from 1");
        goto out;
    }
    if (cur != NULL && (iq_parse_i64(cur, 0, INT64_MAX, &after) || (p != NULL && page != 1))) {
        reply_error(k, 422, "after: must be the next_cursor of a previous page (not with page=N)");
        goto out;
    }
    if (filters_from_query(k, &f) != 0)
        goto out;
    char *buf = NULL, *err = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    const char *lang = iq_http_req_query(k->req, "lang");
    iq_report_options o = {.format = IQ_REPORT_JSON,
                           .lang = lang != NULL && strcmp(lang, "pt-BR") == 0 ? "pt-BR" : "en",
                           .page = page,
                           .per_page = IQ_REPORT_ROWS_PER_PAGE,
                           .after_id = after};
    iq_report_stats st = {0};
    int rc = mem == NULL ? -1 : iq_report_render_opts(k->c, &f, &o, mem, &st, &err);
    if (mem == NULL || fclose(mem) != 0)
        iq_oom();
    if (rc != 0) {
        reply_err(k, IQ_ERR_FAILED, err);
        free(buf);
        goto out;
    }
    json_error_t je;
    json_t *rows = json_loadb(buf, len, 0, &je);
    free(buf);
    if (rows == NULL) {
        reply_error(k, 500, "report: the JSON rendering did not parse");
        goto out;
    }
    /* more follow: by number, a later page; by cursor, a full page (maybe the last) */
    bool more = cur != NULL ? st.rows == IQ_REPORT_ROWS_PER_PAGE : page < st.pages;
    char next[24];
    snprintf(next, sizeof(next), "%" PRId64, st.last_id);
    json_t *o_json =
        json_pack("{s:o, s:I, s:I, s:i, s:o}", "accounts", rows, "pages", (json_int_t)st.pages,
                  "total", (json_int_t)st.total, "per_page", IQ_REPORT_ROWS_PER_PAGE, "next_cursor",
                  more && st.last_id > 0 ? json_string(next) : json_null());
    if (o_json == NULL)
        iq_oom();
    json_object_set_new(o_json, "page", cur != NULL ? json_null() : json_integer(page));
    reply_json(k, 200, o_json);
out:
    iq_report_filters_release(&f);
}

static void account_show(call *k, int64_t id)
{
    iq_account_view v;
    char *err = NULL;
    int rc = iq_account_view_load(k->c, id, &v, &err);
    if (rc <= 0) {
        if (rc == 0)
            reply_error(k, 404, "account: no such account");
        else
            reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    char etag[32];
    snprintf(etag, sizeof(etag), "\"v%d\"", v.a.version);
    json_t *o = iq_account_view_json(&v);
    iq_account_view_release(&v);
    iq_http_resp_header(k->resp, "ETag", etag);
    reply_json(k, 200, o);
}

static const char *const account_keys[] = {
    "name",       "host",       "port",           "protocol",
    "credential", "secure",     "secure_type",    "ignore_certificate",
    "keep_copy",  "auto_check", "active",         "use_connector",
    "connector",  "folder",     "check_interval", "apop",
};

/* The form's fields as the CLI's text input; strings kept in owned[] until the call ends.
 * -1 after replying 422 for a key that is no field or a value of the wrong kind. */
static int account_input(call *k, json_t *b, iq_account_input *in, char **owned, int *expect)
{
    memset(in, 0, sizeof(*in));
    const char **slots[] = {
        &in->name,       &in->host,       &in->port,           &in->protocol,
        &in->credential, &in->secure,     &in->secure_type,    &in->ignore_certificate,
        &in->keep_copy,  &in->auto_check, &in->active,         &in->use_connector,
        &in->connector,  &in->folder,     &in->check_interval, &in->apop};
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        if (strcmp(key, "version") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                reply_error(k, 422, "version: must be the version the edit started from");
                return -1;
            }
            *expect = (int)json_integer_value(v);
            continue;
        }
        size_t i = 0;
        while (i < IQ_ARRAY_LEN(account_keys) && strcmp(account_keys[i], key) != 0)
            i++;
        if (i == IQ_ARRAY_LEN(account_keys)) {
            char *msg = iq_xasprintf("%.40s: is not a field of an account", key);
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
        char *text;
        if (json_is_string(v))
            text = iq_xstrdup(json_string_value(v));
        else if (json_is_boolean(v))
            text = iq_xstrdup(json_is_true(v) ? "yes" : "no");
        else if (json_is_integer(v))
            text = iq_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_null(v) && strcmp(key, "port") == 0)
            text = iq_xstrdup("");
        else {
            char *msg = iq_xasprintf("%s: give a string, a number or true/false", key);
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
        owned[i] = text;
        *slots[i] = text;
    }
    return 0;
}

/* The version an If-Match ETag ("vN") names into *expect_r (left alone without one); -1
 * after replying 422 to one that is not an ETag of ours. */
static int if_match_version(call *k, int *expect_r)
{
    const char *if_match = iq_http_req_header(k->req, "If-Match");
    if (if_match == NULL)
        return 0;
    int64_t v = 0;
    char digits[24];
    snprintf(digits, sizeof(digits), "%s", if_match);
    size_t n = strlen(digits);
    if (n >= 4 && digits[0] == '"' && digits[1] == 'v' && digits[n - 1] == '"') {
        digits[n - 1] = '\0';
        if (iq_parse_i64(digits + 2, 1, INT32_MAX, &v) == 0) {
            *expect_r = (int)v;
            return 0;
        }
    }
    reply_error(k, 422, "If-Match: give the ETag (\"vN\") of what you edit");
    return -1;
}

static void account_write(call *k, int64_t id)
{
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    char *owned[IQ_ARRAY_LEN(account_keys)] = {0};
    iq_account_input in;
    int expect = 0;
    if (if_match_version(k, &expect) < 0) {
        json_decref(b);
        return;
    }
    if (account_input(k, b, &in, owned, &expect) == 0) {
        char *err = NULL;
        iq_err st;
        if (id == 0) {
            int64_t new_id = 0;
            st = iq_account_create(k->c, &in, &new_id, &err);
            if (st == IQ_OK) {
                char loc[64];
                snprintf(loc, sizeof(loc), API "accounts/%" PRId64, new_id);
                iq_http_resp_header(k->resp, "Location", loc);
                reply_json(k, 201, json_pack("{s:I}", "id", (json_int_t)new_id));
            }
        } else {
            bool changed = false;
            if (expect == 0) {
                err = iq_xstrdup("version: is required; send the version the edit started from "
                                 "(or If-Match with the ETag)");
                st = IQ_ERR_INVALID;
            } else {
                st = iq_account_update(k->c, id, &in, expect, &changed, &err);
            }
            if (st == IQ_OK)
                account_show(k, id);
        }
        if (st != IQ_OK)
            reply_err(k, st, err);
    }
    for (size_t i = 0; i < IQ_ARRAY_LEN(owned); i++)
        free(owned[i]);
    json_decref(b);
}

/* 1 when account id exists, 0 after replying 404, -1 after replying 5xx. */
static int account_exists(call *k, int64_t id)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *params[] = {ids};
    char *err = NULL;
    PGresult *r = iq_pg_query(k->c, "SELECT 1 FROM mail_accounts WHERE id = $1", 1, params, &err);
    if (r == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return -1;
    }
    int n = PQntuples(r);
    PQclear(r);
    if (n == 0)
        reply_error(k, 404, "account: no such account");
    return n > 0 ? 1 : 0;
}

/* The stored messages' headers, newest first (PostgreSQL; the workers keep Redis). */
static void account_inbox(call *k, int64_t id)
{
    if (account_exists(k, id) != 1)
        return;
    char *err = NULL;
    bool cached = false;
    json_t *list =
        iq_inbox_get(k->c, NULL, iq_config_str(k->s->cfg, IQ_SET_REDIS_KEY_PREFIX), id, 100,
                     (int)iq_config_int(k->s->cfg, IQ_SET_INBOX_CACHE_SIZE), &cached, &err);
    if (list == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    reply_json(k, 200, json_pack("{s:I, s:o}", "account_id", (json_int_t)id, "messages", list));
}

/* The account's check history, newest first (50 runs). */
static void account_runs(call *k, int64_t id)
{
    if (account_exists(k, id) != 1)
        return;
    char ids[24];
    snprintf(ids, sizeof(ids), "%" PRId64, id);
    const char *params[] = {ids};
    char *err = NULL;
    PGresult *r =
        iq_pg_query(k->c,
                    "SELECT coalesce(json_agg(x ORDER BY x.started_at DESC), '[]')::text FROM ("
                    "SELECT job_id::text AS job_id, requested_by, worker, "
                    "to_char(started_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS started_at, "
                    "to_char(finished_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS finished_at, "
                    "duration_ms, CASE WHEN finished_at IS NULL THEN 'running' ELSE "
                    "coalesce(outcome, 'failed') END AS outcome, error_class, error, messages_new, "
                    "messages_deleted, bytes FROM check_runs WHERE account_id = $1 "
                    "ORDER BY started_at DESC, id DESC LIMIT 50) x",
                    1, params, &err);
    if (r == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    json_error_t je;
    json_t *runs = json_loads(iq_pg_str(r, 0, 0), 0, &je);
    PQclear(r);
    if (runs == NULL)
        iq_oom();
    reply_json(k, 200, json_pack("{s:I, s:o}", "account_id", (json_int_t)id, "runs", runs));
}

/* A JSON string of text that came from a mail server (null for NULL; bytes that are not UTF-8
 * make it "?" rather than failing the answer). */
static json_t *server_text(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    return j != NULL ? j : json_string("?");
}

/* Test connection: the CLI's `account test` step by step; stores nothing. */
static void account_test(call *k, int64_t id)
{
    if (!k->s->check_ready) {
        char *msg = iq_xasprintf("test: unavailable on this server (%s)", k->s->check_error);
        reply_error(k, 503, msg);
        free(msg);
        return;
    }
    iq_account a;
    char *err = NULL;
    int found = iq_account_load(k->c, id, &a, &err);
    if (found <= 0) {
        if (found == 0)
            reply_error(k, 404, "account: no such account");
        else
            reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    iq_probe probe;
    iq_check_result res;
    memset(&res, 0, sizeof(res));
    int64_t t0 = iq_now_mono_ms();
    int rc = iq_check_probe(k->c, &k->s->check.env, id, &res, &probe);
    json_t *j =
        json_pack("{s:I, s:s, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "account_id",
                  (json_int_t)id, "host", a.host, "port", a.port, "ok", rc == 0, "steps",
                  iq_account_test_steps_json(&a, rc == 0 ? IQ_OK : res.error_class), "error_class",
                  res.error_class ? json_string(iq_err_name(res.error_class)) : json_null(),
                  "error", server_text(res.error), "capabilities", server_text(probe.capabilities),
                  "messages", rc == 0 ? json_integer(probe.messages) : json_null(), "bytes",
                  rc == 0 ? json_integer(probe.bytes) : json_null(), "duration_ms",
                  (json_int_t)(iq_now_mono_ms() - t0));
    iq_probe_release(&probe);
    iq_check_result_release(&res);
    iq_account_release(&a);
    if (j == NULL)
        iq_oom();
    reply_json(k, 200, j);
}

/* Check now: one check job on Kafka for the workers, as `inboxq check ID` publishes it. */
static void account_check_now(call *k, int64_t id)
{
    if (account_exists(k, id) != 1)
        return;
    char *err = NULL, by[96];
    snprintf(by, sizeof(by), "console:%s", k->who.name);
    iq_kafka_producer *p = iq_kafka_producer_new(k->s->cfg, &err);
    if (p == NULL) {
        IQ_WARN("serve: check now: %s", err);
        free(err);
        reply_error(k, 503, "check: Kafka is not configured or unreachable; retry later");
        return;
    }
    json_t *msg = iq_msg_check_job_new(NULL, id, iq_now_real_ms(), by, "manual", 1, 0, &err);
    char key[24], *value = msg == NULL ? NULL : iq_msg_dump(msg);
    snprintf(key, sizeof(key), "%" PRId64, id);
    if (value == NULL || iq_kafka_produce_sync(p, iq_config_str(k->s->cfg, IQ_SET_TOPIC_CHECK), key,
                                               value, strlen(value), &err) != 0) {
        IQ_WARN("serve: check now: %s", err != NULL ? err : "no job");
        free(err);
        reply_error(k, 503, "check: Kafka did not take the job; retry later");
    } else {
        IQ_INFO("serve: %s asked for a check of account %" PRId64 " (job %s)", k->who.name, id,
                iq_msg_id(msg));
        reply_json(k, 202,
                   json_pack("{s:I, s:s}", "account_id", (json_int_t)id, "job_id", iq_msg_id(msg)));
    }
    free(value);
    json_decref(msg);
    iq_kafka_producer_free(&p);
}

static void account_route(call *k)
{
    int64_t id = 0;
    if (k->nsegs == 1) {
        if (method_is(k, "GET"))
            accounts_list(k);
        else if (method_is(k, "POST") && need_role(k, IQ_ROLE_OPERATOR))
            account_write(k, 0);
        else if (!method_is(k, "POST"))
            reply_error(k, 405, "method: use GET or POST");
        return;
    }
    if (!parse_id(k->segs[1], &id)) {
        reply_error(k, 404, "account: no such account (ids are whole numbers)");
        return;
    }
    char *err = NULL;
    iq_err st;
    if (k->nsegs == 2) {
        if (method_is(k, "GET")) {
            account_show(k, id);
        } else if (method_is(k, "PATCH")) {
            if (need_role(k, IQ_ROLE_OPERATOR))
                account_write(k, id);
        } else if (method_is(k, "DELETE")) {
            if (!need_role(k, IQ_ROLE_OPERATOR))
                return;
            if ((st = iq_account_delete(k->c, id, &err)) != IQ_OK)
                reply_err(k, st, err);
            else
                iq_http_resp_set(k->resp, 204, "application/json", NULL, 0);
        } else {
            reply_error(k, 405, "method: use GET, PATCH or DELETE");
        }
        return;
    }
    const char *action = k->segs[2];
    if (k->nsegs == 3 && (strcmp(action, "inbox") == 0 || strcmp(action, "runs") == 0)) {
        if (!method_is(k, "GET"))
            reply_error(k, 405, "method: use GET");
        else if (action[0] == 'i')
            account_inbox(k, id);
        else
            account_runs(k, id);
        return;
    }
    bool test = strcmp(action, "test") == 0, check = strcmp(action, "check") == 0;
    if (k->nsegs == 3 && (test || check)) {
        if (!method_is(k, "POST"))
            reply_error(k, 405, "method: use POST");
        else if (need_role(k, IQ_ROLE_OPERATOR))
            (test ? account_test : account_check_now)(k, id);
        return;
    }
    bool enable = strcmp(action, "enable") == 0, disable = strcmp(action, "disable") == 0;
    if (k->nsegs == 3 && (enable || disable)) {
        if (!method_is(k, "POST")) {
            reply_error(k, 405, "method: use POST");
            return;
        }
        if (!need_role(k, IQ_ROLE_OPERATOR))
            return;
        bool changed = false;
        if ((st = iq_account_set_active(k->c, id, enable, &changed, &err)) != IQ_OK)
            reply_err(k, st, err);
        else
            account_show(k, id);
        return;
    }
    reply_error(k, 404, "path: no such resource");
}

/* Keys of a body that are none of allowed (NULL-terminated): -1 after replying 422. */
static int only_keys(call *k, json_t *b, const char *const *allowed, const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL) {
            char *msg = iq_xasprintf("%.40s: is not a field of %s", key, what);
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
    }
    (void)v;
    return 0;
}

/* A string member: NULL when absent; *bad set (after replying 422) when not a string. */
static const char *str_member(call *k, const json_t *b, const char *key, bool required, bool *bad)
{
    const json_t *v = json_object_get(b, key);
    if (*bad)
        return NULL;
    if ((v == NULL || json_is_null(v)) && !required)
        return NULL;
    if (v == NULL || json_is_null(v) || !json_is_string(v) || *json_string_value(v) == '\0') {
        char *msg = iq_xasprintf(
            v == NULL || json_is_null(v) ? "%s: is required" : "%s: give a non-empty string", key);
        reply_error(k, 422, msg);
        free(msg);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* ---- credentials, connectors, audit, operators ---- */

static void credentials_route(call *k)
{
    char *err = NULL;
    if (k->nsegs != 1) {
        reply_error(k, 404, "path: no such resource");
        return;
    }
    if (method_is(k, "GET")) {
        iq_credential_info *list = NULL;
        size_t n = 0;
        if (iq_vault_list(k->c, &list, &n, &err) != 0) {
            reply_err(k, IQ_ERR_FAILED, err);
            return;
        }
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(a, iq_credential_info_json(&list[i]));
            iq_credential_info_release(&list[i]);
        }
        free(list);
        reply_json(k, 200, json_pack("{s:o}", "credentials", a));
        return;
    }
    if (!method_is(k, "POST")) {
        reply_error(k, 405, "method: use GET or POST");
        return;
    }
    if (!need_role(k, IQ_ROLE_ADMIN))
        return;
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    const char *name = json_string_value(json_object_get(b, "name"));
    const char *username = json_string_value(json_object_get(b, "username"));
    const char *secret = json_string_value(json_object_get(b, "secret"));
    uint8_t key[IQ_KEY_LEN];
    iq_err st = IQ_OK;
    if (name == NULL || username == NULL || secret == NULL) {
        err = iq_xstrdup(name == NULL       ? "name: is required"
                         : username == NULL ? "username: is required"
                                            : "secret: is required");
        st = IQ_ERR_INVALID;
    } else if (iq_vault_validate_username(username, &err) != 0 ||
               iq_vault_validate_secret(secret, strlen(secret), &err) != 0) {
        st = IQ_ERR_INVALID;
    } else if (iq_vault_key_from_config(k->s->cfg, key, &err) != 0) {
        st = IQ_ERR_UNAVAILABLE;
    } else {
        int64_t id = 0;
        st = iq_vault_add(k->c, key, name, username, secret, &id, &err);
        iq_secure_zero(key, sizeof(key));
        if (st == IQ_OK)
            reply_json(k, 201, json_pack("{s:I}", "id", (json_int_t)id));
    }
    json_decref(b);
    if (st != IQ_OK)
        reply_err(k, st, err);
}

/* The If-Match ETag ("vN") or the body's "version": N, 0 when neither; -1 after replying 422. */
static int expected_version(call *k, json_t *b)
{
    int expect = 0;
    if (if_match_version(k, &expect) < 0)
        return -1;
    json_t *v = json_object_get(b, "version");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT32_MAX) {
            reply_error(k, 422, "version: must be the version the edit started from");
            return -1;
        }
        expect = (int)json_integer_value(v);
        json_object_del(b, "version");
    }
    return expect;
}

static const char *const connector_keys[] = {"name", "type",       "host",
                                             "port", "credential", "active"};

/* The form's fields as the CLI's text input (strings kept in owned[]); -1 after replying 422. */
static int connector_input(call *k, json_t *b, iq_connector_input *in, char **owned)
{
    memset(in, 0, sizeof(*in));
    const char **slots[] = {&in->name, &in->type,       &in->host,
                            &in->port, &in->credential, &in->active};
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v)
    {
        size_t i = 0;
        while (i < IQ_ARRAY_LEN(connector_keys) && strcmp(connector_keys[i], key) != 0)
            i++;
        char *msg = NULL;
        if (i == IQ_ARRAY_LEN(connector_keys))
            msg = iq_xasprintf("%.40s: is not a field of a connector", key);
        else if (json_is_string(v))
            owned[i] = iq_xstrdup(json_string_value(v));
        else if (json_is_boolean(v))
            owned[i] = iq_xstrdup(json_is_true(v) ? "yes" : "no");
        else if (json_is_integer(v))
            owned[i] = iq_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_null(v) && strcmp(key, "credential") == 0)
            owned[i] = iq_xstrdup(""); /* removes the login */
        else
            msg = iq_xasprintf("%s: give a string, a number or true/false", key);
        if (msg != NULL) {
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
        *slots[i] = owned[i];
    }
    return 0;
}

static void connector_show(call *k, int64_t id, int status)
{
    char *err = NULL;
    json_t *a = iq_connector_list_json(k->c, id, &err);
    if (a == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    json_t *o = json_incref(json_array_get(a, 0));
    json_decref(a);
    if (o == NULL) {
        reply_error(k, 404, "connector: no such Network Connector");
        return;
    }
    char etag[32];
    snprintf(etag, sizeof(etag), "\"v%" JSON_INTEGER_FORMAT "\"",
             json_integer_value(json_object_get(o, "version")));
    iq_http_resp_header(k->resp, "ETag", etag);
    reply_json(k, status, o);
}

/* POST (id 0) or PATCH: the CLI's `connector add` / `connector edit` with its rules. */
static void connector_write(call *k, int64_t id)
{
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    char *owned[IQ_ARRAY_LEN(connector_keys)] = {0};
    iq_connector_input in;
    int expect = id != 0 ? expected_version(k, b) : 0;
    if (expect >= 0 && connector_input(k, b, &in, owned) == 0) {
        char *err = NULL;
        iq_err st;
        if (id == 0) {
            int64_t new_id = 0;
            st = iq_connector_create(k->c, &in, &new_id, &err);
            if (st == IQ_OK) {
                char loc[64];
                snprintf(loc, sizeof(loc), API "connectors/%" PRId64, new_id);
                iq_http_resp_header(k->resp, "Location", loc);
                connector_show(k, new_id, 201);
            }
        } else if (expect == 0) {
            err = iq_xstrdup("version: is required; send the version the edit started from "
                             "(or If-Match with the ETag)");
            st = IQ_ERR_INVALID;
        } else {
            bool changed = false;
            st = iq_connector_update(k->c, id, &in, expect, &changed, &err);
            if (st == IQ_OK)
                connector_show(k, id, 200);
        }
        if (st != IQ_OK)
            reply_err(k, st, err);
    }
    for (size_t i = 0; i < IQ_ARRAY_LEN(owned); i++)
        free(owned[i]);
    json_decref(b);
}

static void connectors_route(call *k)
{
    char *err = NULL;
    if (k->nsegs == 1) {
        if (method_is(k, "POST")) {
            if (need_role(k, IQ_ROLE_ADMIN))
                connector_write(k, 0);
            return;
        }
        if (!method_is(k, "GET")) {
            reply_error(k, 405, "method: use GET or POST");
            return;
        }
        json_t *a = iq_connector_list_json(k->c, 0, &err);
        if (a == NULL) {
            reply_err(k, IQ_ERR_FAILED, err);
            return;
        }
        reply_json(k, 200, json_pack("{s:o}", "connectors", a));
        return;
    }
    int64_t id = 0;
    if (k->nsegs != 2 || !parse_id(k->segs[1], &id)) {
        reply_error(k, 404, "connector: no such Network Connector (ids are whole numbers)");
        return;
    }
    if (method_is(k, "GET")) {
        connector_show(k, id, 200);
    } else if (method_is(k, "PATCH")) {
        if (need_role(k, IQ_ROLE_ADMIN))
            connector_write(k, id);
    } else if (method_is(k, "DELETE")) {
        if (!need_role(k, IQ_ROLE_ADMIN))
            return;
        iq_err st = iq_connector_delete(k->c, id, &err);
        if (st != IQ_OK)
            reply_err(k, st, err);
        else
            iq_http_resp_set(k->resp, 204, "application/json", NULL, 0);
    } else {
        reply_error(k, 405, "method: use GET, PATCH or DELETE");
    }
}

static void audit_route(call *k)
{
    if (k->nsegs != 1 || !method_is(k, "GET")) {
        reply_error(k, k->nsegs != 1 ? 404 : 405,
                    k->nsegs != 1 ? "path: no such resource" : "method: use GET");
        return;
    }
    const char *entity = iq_http_req_query(k->req, "entity");
    int64_t id = 0;
    const char *ids = iq_http_req_query(k->req, "entity_id");
    if (ids != NULL && !parse_id(ids, &id)) {
        reply_error(k, 422, "entity_id: must be a whole number from 1");
        return;
    }
    char *err = NULL;
    json_t *a = iq_audit_list(k->c, entity, id, 200, &err);
    if (a == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    reply_json(k, 200, json_pack("{s:o}", "audit", a));
}

/* Every operator ({id, name, role, active, created_at}; never a hash), or NULL after replying. */
static json_t *operator_list(call *k)
{
    char *err = NULL;
    char *text = iq_operator_list_json(k->c, &err);
    if (text == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return NULL;
    }
    json_error_t je;
    json_t *a = json_loads(text, 0, &je);
    free(text);
    if (a == NULL)
        iq_oom();
    return a;
}

static void operator_show(call *k, int64_t id)
{
    json_t *a = operator_list(k);
    if (a == NULL)
        return;
    size_t i;
    json_t *o, *found = NULL;
    json_array_foreach(a, i, o)
    {
        if (json_integer_value(json_object_get(o, "id")) == id)
            found = json_incref(o);
    }
    json_decref(a);
    if (found == NULL)
        reply_error(k, 404, "operator: no such operator");
    else
        reply_json(k, 200, found);
}

/* POST /operators: {"name", "role", "password"} as `inboxq operator add` (the password is
 * hashed with argon2id and never returned). */
static void operator_add(call *k)
{
    static const char *const keys[] = {"name", "role", "password", NULL};
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    bool bad = false;
    if (only_keys(k, b, keys, "an operator") == 0) {
        const char *name = str_member(k, b, "name", true, &bad);
        const char *role = str_member(k, b, "role", true, &bad);
        const char *password = str_member(k, b, "password", true, &bad);
        char *err = NULL;
        int64_t id = 0;
        iq_err st = bad ? IQ_OK : iq_operator_add(k->c, name, role, password, &id, &err);
        if (bad) {
            /* replied */
        } else if (st == IQ_ERR_IN_USE) {
            reply_error(k, 409, err);
            free(err);
        } else if (st != IQ_OK) {
            reply_err(k, st, err);
        } else {
            IQ_INFO("serve: %s added operator %s (%s)", k->who.name, name, role);
            char loc[64];
            snprintf(loc, sizeof(loc), API "operators/%" PRId64, id);
            iq_http_resp_header(k->resp, "Location", loc);
            reply_json(k, 201, json_pack("{s:I}", "id", (json_int_t)id));
        }
    }
    json_decref(b);
}

/* PATCH /operators/{id}: {"role"?, "active"?}. */
static void operator_edit(call *k, int64_t id)
{
    static const char *const keys[] = {"role", "active", NULL};
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    bool bad = false;
    const json_t *active = json_object_get(b, "active");
    if (only_keys(k, b, keys, "an operator (role, active; a password is set at creation)") != 0) {
        json_decref(b);
        return;
    }
    const char *role = str_member(k, b, "role", false, &bad);
    if (!bad && active != NULL && !json_is_boolean(active)) {
        reply_error(k, 422, "active: give true or false");
        bad = true;
    }
    if (!bad && role == NULL && active == NULL) {
        reply_error(k, 422, "role: give a role or active to change");
        bad = true;
    }
    if (!bad && id == k->who.operator_id) {
        reply_error(k, 409,
                    "operator: you cannot change your own role or disable yourself; ask "
                    "another admin");
        bad = true;
    }
    if (!bad) {
        char *err = NULL;
        iq_err st =
            iq_operator_update(k->c, id, role, active == NULL ? -1 : json_is_true(active), &err);
        if (st != IQ_OK)
            reply_err(k, st, err);
        else
            operator_show(k, id);
    }
    json_decref(b);
}

static void operators_route(call *k)
{
    if (!need_role(k, IQ_ROLE_ADMIN))
        return;
    if (k->nsegs == 1) {
        if (method_is(k, "GET")) {
            json_t *a = operator_list(k);
            if (a != NULL)
                reply_json(k, 200, json_pack("{s:o}", "operators", a));
        } else if (method_is(k, "POST")) {
            operator_add(k);
        } else {
            reply_error(k, 405, "method: use GET or POST");
        }
        return;
    }
    int64_t id = 0;
    if (k->nsegs != 2 || !parse_id(k->segs[1], &id)) {
        reply_error(k, 404, "operator: no such operator (ids are whole numbers)");
        return;
    }
    if (method_is(k, "GET")) {
        operator_show(k, id);
    } else if (method_is(k, "PATCH")) {
        operator_edit(k, id);
    } else if (method_is(k, "DELETE")) {
        char *err = NULL;
        iq_err st = id == k->who.operator_id ? IQ_ERR_IN_USE : iq_operator_delete(k->c, id, &err);
        if (id == k->who.operator_id)
            err = iq_xstrdup("operator: you cannot delete yourself; ask another admin");
        if (st != IQ_OK)
            reply_err(k, st, err);
        else
            iq_http_resp_set(k->resp, 204, "application/json", NULL, 0);
    } else {
        reply_error(k, 405, "method: use GET, PATCH or DELETE");
    }
}

/* ---- status ---- */

static void status_route(call *k)
{
    if (k->nsegs != 1 || !method_is(k, "GET")) {
        reply_error(k, k->nsegs != 1 ? 404 : 405,
                    k->nsegs != 1 ? "path: no such resource" : "method: use GET");
        return;
    }
    char *err = NULL;
    json_t *doc = iq_status_json(k->c, k->s->cfg, &err);
    if (doc == NULL) {
        reply_err(k, IQ_ERR_UNAVAILABLE, err);
        return;
    }
    reply_json(k, 200, doc);
}

/* ---- reports and their schedules ---- */

static const char *content_type_of(iq_report_format f)
{
    switch (f) {
    case IQ_REPORT_CSV:
        return "text/csv; charset=utf-8";
    case IQ_REPORT_HTML:
        return "text/html; charset=utf-8";
    case IQ_REPORT_PDF:
        return "application/pdf";
    default:
        return "application/octet-stream";
    }
}

static void attachment(call *k, const char *format)
{
    char disp[80];
    snprintf(disp, sizeof(disp), "attachment; filename=\"accounts-report.%s\"", format);
    iq_http_resp_header(k->resp, "Content-Disposition", disp);
}

/* A filters object ({"name": "acme", "secure": true, "active": "all", ...}, the query keys of
 * the accounts list) into f; -1 after replying 422 naming filters.KEY. */
static int filters_from_json(call *k, json_t *o, iq_report_filters *f)
{
    if (o == NULL || json_is_null(o))
        return 0;
    if (!json_is_object(o)) {
        reply_error(k, 422, "filters: must be an object such as {\"active\": \"yes\"}");
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t i = 0;
        while (i < IQ_ARRAY_LEN(filter_keys) && strcmp(filter_keys[i][0], key) != 0)
            i++;
        char *msg = NULL, *err = NULL;
        const char *text = json_is_string(v)  ? json_string_value(v)
                           : json_is_true(v)  ? "yes"
                           : json_is_false(v) ? "no"
                                              : NULL;
        if (i == IQ_ARRAY_LEN(filter_keys))
            msg = iq_xasprintf("filters.%.40s: is not a filter (name, secure, auto_check, "
                               "keep_copy, active, last_check)",
                               key);
        else if (text == NULL)
            msg = iq_xasprintf("filters.%s: give a string or true/false", key);
        else if (*text != '\0' && iq_report_filters_set(f, filter_keys[i][1], text, &err) != 0)
            msg = iq_xasprintf("filters.%s: %s", key, err);
        free(err);
        if (msg != NULL) {
            reply_error(k, 422, msg);
            free(msg);
            return -1;
        }
    }
    return 0;
}

/* format and lang of a report or schedule body; -1 after replying 422. */
static int format_lang(call *k, const json_t *b, iq_report_format *fmt, iq_lang *lang)
{
    bool bad = false;
    const char *f = str_member(k, b, "format", true, &bad);
    const char *l = str_member(k, b, "lang", false, &bad);
    if (bad)
        return -1;
    if (iq_report_format_parse(f, fmt) != 0 ||
        (*fmt != IQ_REPORT_CSV && *fmt != IQ_REPORT_HTML && *fmt != IQ_REPORT_PDF)) {
        reply_error(k, 422, "format: must be csv, html or pdf");
        return -1;
    }
    *lang = IQ_LANG_EN;
    if (l != NULL && iq_lang_parse(l, lang) != 0) {
        reply_error(k, 422, "lang: must be en or pt-BR");
        return -1;
    }
    return 0;
}

/* POST /reports: {"format", "lang"?, "filters"?, "direct"?}. A job for the workers (202, then
 * GET /reports/{id} and its output), or with "direct": true the report itself, rendered here
 * (as `inboxq report --direct --output -`). */
static void report_render(call *k)
{
    static const char *const keys[] = {"format", "lang", "filters", "direct", NULL};
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    iq_report_filters f;
    iq_report_filters_init(&f);
    iq_report_format fmt = IQ_REPORT_CSV;
    iq_lang lang = IQ_LANG_EN;
    const json_t *direct = json_object_get(b, "direct");
    if (only_keys(k, b, keys, "a report") != 0 || format_lang(k, b, &fmt, &lang) != 0 ||
        filters_from_json(k, json_object_get(b, "filters"), &f) != 0)
        goto out;
    if (direct != NULL && !json_is_boolean(direct)) {
        reply_error(k, 422, "direct: give true or false");
        goto out;
    }
    char *err = NULL;
    if (json_is_true(direct)) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        iq_report_options o = {.format = fmt, .lang = iq_lang_tag(lang)};
        iq_report_stats st = {0};
        int rc = mem == NULL ? -1 : iq_report_render_opts(k->c, &f, &o, mem, &st, &err);
        if (mem == NULL || fclose(mem) != 0)
            iq_oom();
        if (rc != 0) {
            free(buf);
            reply_err(k, IQ_ERR_FAILED, err);
            goto out;
        }
        IQ_INFO("serve: %s rendered a %s report (%lld rows)", k->who.name,
                iq_report_format_name(fmt), (long long)st.rows);
        iq_http_resp_take(k->resp, 200, content_type_of(fmt), buf, len);
        attachment(k, iq_report_format_name(fmt));
        goto out;
    }
    char by[96], job_id[37];
    snprintf(by, sizeof(by), "console:%s", k->who.name);
    int64_t id = 0;
    iq_err st = iq_report_job_queue(k->c, k->s->cfg, iq_report_format_name(fmt), iq_lang_tag(lang),
                                    &f, by, &id, job_id, &err);
    if (st == IQ_ERR_INVALID) {
        reply_err(k, st, err);
    } else if (st != IQ_OK) {
        IQ_WARN("serve: report job: %s", err != NULL ? err : "failed");
        free(err);
        reply_error(k, 503, "report: Kafka or the database did not take the job; retry later");
    } else {
        IQ_INFO("serve: %s asked for report %lld (job %s)", k->who.name, (long long)id, job_id);
        char loc[64];
        snprintf(loc, sizeof(loc), API "reports/%lld", (long long)id);
        iq_http_resp_header(k->resp, "Location", loc);
        reply_json(k, 202,
                   json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "job_id", job_id, "status",
                             "pending"));
    }
out:
    iq_report_filters_release(&f);
    json_decref(b);
}

static json_t *opt_int_text(const char *s)
{
    int64_t v = 0;
    return s != NULL && *s != '\0' && iq_parse_i64(s, 0, INT64_MAX, &v) == 0 ? json_integer(v)
                                                                             : json_null();
}

static json_t *opt_text(const char *s)
{
    return s != NULL && *s != '\0' ? json_string(s) : json_null();
}

static void report_show(call *k, int64_t id)
{
    char *err = NULL;
    PGresult *r = iq_reports_show(k->c, id, &err);
    if (r == NULL) {
        reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        reply_error(k, 404, "report: no such report");
        return;
    }
    json_error_t je;
    json_t *filters = json_loads(iq_pg_str(r, 0, 3), 0, &je);
    json_t *o = json_pack(
        "{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o}", "id", (json_int_t)id,
        "status", iq_pg_str(r, 0, 0), "format", iq_pg_str(r, 0, 1), "lang", iq_pg_str(r, 0, 2),
        "filters", filters != NULL ? filters : json_object(), "rows",
        opt_int_text(iq_pg_str(r, 0, 4)), "bytes", opt_int_text(iq_pg_str(r, 0, 5)), "error",
        opt_text(iq_pg_str(r, 0, 6)), "requested_by", opt_text(iq_pg_str(r, 0, 7)), "created_at",
        iq_pg_str(r, 0, 8), "finished_at", opt_text(iq_pg_str(r, 0, 9)), "output_path",
        opt_text(iq_pg_str(r, 0, 10)), "job_id", opt_text(iq_pg_str(r, 0, 11)));
    PQclear(r);
    if (o == NULL)
        iq_oom();
    reply_json(k, 200, o);
}

/* The rendered report's bytes with its format's Content-Type. */
static void report_output(call *k, int64_t id)
{
    char *status = NULL, *why = NULL, *err = NULL;
    int found = iq_reports_status(k->c, id, &status, &why, &err);
    if (found <= 0) {
        if (found == 0)
            reply_error(k, 404, "report: no such report");
        else
            reply_err(k, IQ_ERR_FAILED, err);
        return;
    }
    PGresult *r = strcmp(status, "done") == 0 ? iq_reports_output(k->c, id) : NULL;
    if (r == NULL) {
        char *msg = strcmp(status, "failed") == 0
                        ? iq_xasprintf("report: it failed (%s); render it again", why)
                        : iq_xasprintf("report: not rendered yet (%s); retry when its status "
                                       "is done",
                                       status);
        reply_error(k, 409, msg);
        free(msg);
    } else {
        PGresult *fr = iq_reports_show(k->c, id, &err);
        iq_report_format fmt = IQ_REPORT_CSV;
        if (fr == NULL || PQntuples(fr) != 1 ||
            iq_report_format_parse(iq_pg_str(fr, 0, 1), &fmt) != 0) {
            reply_err(k, IQ_ERR_FAILED, err);
        } else {
            size_t len = (size_t)PQgetlength(r, 0, 0);
            iq_http_resp_set(k->resp, 200, content_type_of(fmt), PQgetvalue(r, 0, 0), len);
            attachment(k, iq_report_format_name(fmt));
        }
        PQclear(fr);
        PQclear(r);
    }
    free(status);
    free(why);
}

/* POST /reports/schedules: the CLI's `report schedule add` with the same rules. */
static void schedule_create(call *k)
{
    static const char *const keys[] = {"name",    "cron",       "format", "lang",
                                       "filters", "output_dir", NULL};
    json_t *b = body_object(k);
    if (b == NULL)
        return;
    iq_report_filters f;
    iq_report_filters_init(&f);
    json_t *filters = NULL;
    char *err = NULL;
    bool bad = false;
    iq_report_format fmt = IQ_REPORT_CSV;
    iq_lang lang = IQ_LANG_EN;
    if (only_keys(k, b, keys, "a report schedule") != 0)
        goto out;
    const char *name = str_member(k, b, "name", true, &bad);
    const char *cron_text = str_member(k, b, "cron", true, &bad);
    const char *dir = str_member(k, b, "output_dir", false, &bad);
    if (bad || format_lang(k, b, &fmt, &lang) != 0 ||
        filters_from_json(k, json_object_get(b, "filters"), &f) != 0)
        goto out;
    iq_cron cron;
    struct stat dir_st;
    if (!iq_report_schedule_text_ok(name, IQ_SCHEDULE_NAME_MAX)) {
        reply_error(k, 422, "name: must be 1 to 200 bytes of text without control characters");
    } else if (iq_cron_parse(cron_text, &cron, &err) != 0 ||
               (filters = iq_msg_report_filters_new(&f, &err)) == NULL) {
        reply_err(k, IQ_ERR_INVALID, err); /* "cron: ..." */
        err = NULL;
    } else if (dir != NULL &&
               (!iq_report_schedule_text_ok(dir, IQ_SCHEDULE_OUTPUT_DIR_MAX) || dir[0] != '/')) {
        reply_error(k, 422,
                    "output_dir: must be an absolute directory path (where the workers write "
                    "the files)");
    } else if (dir != NULL && (stat(dir, &dir_st) != 0 || !S_ISDIR(dir_st.st_mode))) {
        reply_error(k, 422,
                    "output_dir: not a directory here; create it first, writable by the "
                    "workers' user");
    } else {
        int64_t id = 0, now = iq_now_real_ms();
        iq_err st = iq_report_schedule_insert(k->c, name, cron_text, iq_report_format_name(fmt),
                                              iq_lang_tag(lang), filters, dir, now, &id, &err);
        if (st != IQ_OK) {
            reply_err(k, st, err);
            err = NULL;
            goto out;
        }
        json_t *next = json_array();
        int64_t t = now;
        for (int i = 0; i < 3 && (t = iq_cron_next(&cron, t)) >= 0; i++) {
            char when[40];
            iq_format_time_utc(t, when, sizeof(when));
            json_array_append_new(next, json_string(when));
        }
        IQ_INFO("serve: %s added report schedule %lld", k->who.name, (long long)id);
        char loc[80];
        snprintf(loc, sizeof(loc), API "reports/schedules/%lld", (long long)id);
        iq_http_resp_header(k->resp, "Location", loc);
        reply_json(k, 201, json_pack("{s:I, s:o}", "id", (json_int_t)id, "next_runs", next));
    }
out:
    free(err);
    json_decref(filters);
    iq_report_filters_release(&f);
    json_decref(b);
}

static void schedules_route(call *k)
{
    char *err = NULL;
    if (k->nsegs == 2) {
        if (method_is(k, "GET")) {
            json_t *a = iq_report_schedule_list_json(k->c, &err);
            if (a == NULL)
                reply_err(k, IQ_ERR_FAILED, err);
            else
                reply_json(k, 200, json_pack("{s:o}", "schedules", a));
        } else if (method_is(k, "POST")) {
            if (need_role(k, IQ_ROLE_OPERATOR))
                schedule_create(k);
        } else {
            reply_error(k, 405, "method: use GET or POST");
        }
        return;
    }
    int64_t id = 0;
    if (k->nsegs != 3 || !parse_id(k->segs[2], &id)) {
        reply_error(k, 404, "schedule: no such report schedule (ids are whole numbers)");
        return;
    }
    if (!method_is(k, "DELETE")) {
        reply_error(k, 405, "method: use DELETE");
        return;
    }
    if (!need_role(k, IQ_ROLE_OPERATOR))
        return;
    char *name = NULL;
    iq_err st = iq_report_schedule_delete(k->c, k->segs[2], true, &id, &name, &err);
    if (st != IQ_OK) {
        reply_err(k, st, err);
        return;
    }
    free(name);
    iq_http_resp_set(k->resp, 204, "application/json", NULL, 0);
}

static void reports_route(call *k)
{
    if (k->nsegs >= 2 && strcmp(k->segs[1], "schedules") == 0) {
        schedules_route(k);
        return;
    }
    if (k->nsegs == 1) {
        if (!method_is(k, "POST"))
            reply_error(k, 405, "method: use POST");
        else if (need_role(k, IQ_ROLE_OPERATOR))
            report_render(k);
        return;
    }
    int64_t id = 0;
    if (!parse_id(k->segs[1], &id) || k->nsegs > 3 ||
        (k->nsegs == 3 && strcmp(k->segs[2], "output") != 0)) {
        reply_error(k, 404, "report: no such report (ids are whole numbers)");
        return;
    }
    if (!method_is(k, "GET"))
        reply_error(k, 405, "method: use GET");
    else if (k->nsegs == 2)
        report_show(k, id);
    else
        report_output(k, id);
}

/* ---- dispatch ---- */

static void api(call *k, const char *rest)
{
    char path[256];
    if (strlen(rest) >= sizeof(path)) {
        reply_error(k, 404, "path: no such resource");
        return;
    }
    snprintf(path, sizeof(path), "%s", rest);
    for (char *save = NULL, *seg = strtok_r(path, "/", &save); seg != NULL;
         seg = strtok_r(NULL, "/", &save)) {
        if (k->nsegs == (int)IQ_ARRAY_LEN(k->segs)) {
            reply_error(k, 404, "path: no such resource");
            return;
        }
        k->segs[k->nsegs++] = seg;
    }
    if (k->nsegs == 0) {
        reply_error(k, 404, "path: no such resource");
        return;
    }
    const char *res = k->segs[0];
    bool session = strcmp(res, "session") == 0 && k->nsegs == 1;
    if (!session && !k->signed_in) {
        reply_error(k, 401, "session: not signed in; POST /api/v1/session first");
        return;
    }
    /* a state change through a session cookie must echo that session's CSRF token (a new
     * sign-in is not one: it ends the cookie's session; SameSite=Strict and the JSON-only
     * body keep other sites from posting it) */
    bool safe = method_is(k, "GET") || method_is(k, "HEAD");
    bool sign_in = session && method_is(k, "POST");
    if (!safe && !sign_in && k->via_cookie) {
        const char *t = iq_http_req_header(k->req, "X-CSRF-Token");
        if (t == NULL || !ct_equal(t, k->who.csrf)) {
            reply_error(k, 403,
                        "X-CSRF-Token: missing or not this session's; reload the "
                        "console");
            return;
        }
    }
    char actor[96];
    snprintf(actor, sizeof(actor), "console:%s", k->who.name);
    iq_audit_set_actor(k->signed_in ? actor : NULL);
    if (session)
        session_route(k);
    else if (strcmp(res, "accounts") == 0)
        account_route(k);
    else if (strcmp(res, "accounts.csv") == 0 && k->nsegs == 1 && safe)
        accounts_csv(k);
    else if (strcmp(res, "credentials") == 0)
        credentials_route(k);
    else if (strcmp(res, "connectors") == 0)
        connectors_route(k);
    else if (strcmp(res, "audit") == 0)
        audit_route(k);
    else if (strcmp(res, "operators") == 0)
        operators_route(k);
    else if (strcmp(res, "status") == 0)
        status_route(k);
    else if (strcmp(res, "reports") == 0)
        reports_route(k);
    else
        reply_error(k, 404, "path: no such resource");
    iq_audit_set_actor(NULL);
}

static void serve_static(const iq_http_req *req, iq_http_resp *resp)
{
    const char *path = iq_http_req_path(req);
    const char *m = iq_http_req_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        iq_http_resp_set(resp, 405, "text/plain; charset=utf-8", "use GET\n", 8);
        iq_http_resp_header(resp, "Allow", "GET, HEAD");
        return;
    }
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (int i = 0; i < iq_static_files_count; i++) {
        if (strcmp(iq_static_files[i].path, path) == 0) {
            iq_http_resp_set(resp, 200, iq_static_files[i].content_type, iq_static_files[i].data,
                             iq_static_files[i].len);
            iq_http_resp_header(resp, "Cache-Control", "no-cache");
            return;
        }
    }
    iq_http_resp_set(resp, 404, "text/plain; charset=utf-8", "not found\n", 10);
}

void iq_serve_handle(void *ctx, const iq_http_req *req, iq_http_resp *resp)
{
    iq_serve *s = ctx;
    iq_http_resp_header(resp, "Content-Security-Policy", CSP);
    iq_http_resp_header(resp, "X-Frame-Options", "DENY");
    iq_http_resp_header(resp, "Referrer-Policy", "no-referrer");
    if (s->tls)
        iq_http_resp_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (iq_httpd_serve_obs(NULL, NULL, NULL, req, resp))
        return;
    const char *path = iq_http_req_path(req);
    if (strncmp(path, API, strlen(API)) != 0) {
        serve_static(req, resp);
        return;
    }
    call k = {.s = s, .req = req, .resp = resp, .method = iq_http_req_method(req)};
    char *err = NULL;
    k.c = iq_serve_pg_acquire(s, &err);
    if (k.c == NULL) {
        IQ_WARN("serve: %s", err);
        free(err);
        reply_error(&k, 503, "database: unavailable; retry shortly");
        return;
    }
    if (authenticate(&k) != 0)
        reply_error(&k, 503, "database: unavailable; retry shortly");
    else
        api(&k, path + strlen(API));
    if (k.c != NULL) /* NULL: a streamed response took it (it gives it back at its end) */
        iq_serve_pg_release(s, k.c);
}
