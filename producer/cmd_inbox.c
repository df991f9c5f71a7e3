/* SPDX-License-Identifier: MIT */
/* inboxq inbox ID: "view inbox", newest first, from the Redis listing or PostgreSQL. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "i18n.h"
#include "cmd_entity.h"
#include "commands.h"
#include "exitcode.h"
#include "inbox.h"
#include "pg.h"
#include "util.h"

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    int64_t cols;
    const char *env = getenv("COLUMNS");
    if (env && iq_parse_i64(env, 40, 1000, &cols) == 0)
        return (int)cols;
    return 100;
}

/* Prints s in exactly width display columns (UTF-8 aware, cut with "…"). */
static void cell(const char *s, int width)
{
    if (!s)
        s = "";
    int cols = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n = strlen(s);
    size_t cut = 0;
    int cut_cols = 0;
    while (i < n) {
        size_t len = p[i] < 0x80 ? 1 : (p[i] & 0xe0) == 0xc0 ? 2 : (p[i] & 0xf0) == 0xe0 ? 3 : 4;
        if (i + len > n)
            break;
        if (cols + 1 > width - 1 && cut == 0) {
            cut = i;
            cut_cols = cols;
        }
        cols++;
        i += len;
    }
    if (cols <= width) {
        fputs(s, stdout);
        printf("%*s", width - cols, "");
    } else {
        fwrite(s, 1, cut, stdout);
        printf("…%*s", width - cut_cols - 1, "");
    }
}

int iq_cmd_inbox(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t limit = 30;
    bool json = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'l') {
            if (iq_parse_i64(optarg, 1, 10000, &limit) < 0) {
                iq_app_error(app, "inbox: --limit must be a number from 1 to 10000, not '%s'",
                             optarg);
                return EX_USAGE;
            }
        } else if (opt == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
            json = strcmp(optarg, "json") == 0;
        } else if (opt == 'h') {
            printf(
                "usage: inboxq inbox ID|NAME [--limit N] [--format table|json]\n\n"
                "Lists the account's fetched messages, newest first (date, from, subject,\n"
                "size), from the Redis cache, or PostgreSQL when the cache misses or is down.\n");
            return 0;
        } else {
            iq_app_error(app, "inbox: bad option; see 'inboxq inbox --help'");
            return EX_USAGE;
        }
    }
    if (optind + 1 != argc) {
        iq_app_error(app, "inbox: give one account code or name; see 'inboxq inbox --help'");
        return EX_USAGE;
    }
    char *err = NULL;
    PGconn *c = NULL;
    int pg_rc = iq_app_connect_pg(app, &c);
    if (pg_rc != 0) {
        return pg_rc;
    }
    int64_t id = 0;
    int find_rc = iq_cli_find_account(app, c, "inbox", argv[optind], &id);
    if (find_rc != 0) {
        iq_pg_close(&c);
        return find_rc;
    }
    const char *acct[1];
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    acct[0] = ids;
    PGresult *r = iq_pg_query(c, "SELECT name FROM mail_accounts WHERE id = $1", 1, acct, &err);
    if (!r || PQntuples(r) == 0) {
        if (r)
            iq_cli_not_found(app, "inbox", "account", argv[optind], "account list");
        else
            iq_app_error(app, "inbox: %s", err);
        PQclear(r);
        free(err);
        iq_pg_close(&c);
        return r ? EX_NOINPUT : EX_UNAVAILABLE;
    }
    char *name = iq_xstrdup(iq_pg_str(r, 0, 0));
    PQclear(r);
    iq_redis *redis = NULL;
    if (*iq_config_str(app->cfg, IQ_SET_REDIS_URL))
        redis = iq_redis_new(iq_config_str(app->cfg, IQ_SET_REDIS_URL),
                             iq_config_int(app->cfg, IQ_SET_REDIS_TIMEOUT), &err);
    free(err);
    err = NULL;
    bool cached = false;
    json_t *list =
        iq_inbox_get(c, redis, iq_config_str(app->cfg, IQ_SET_REDIS_KEY_PREFIX), id, (int)limit,
                     (int)iq_config_int(app->cfg, IQ_SET_INBOX_CACHE_SIZE), &cached, &err);
    int rc = 0;
    if (!list) {
        iq_app_error(app, "inbox: %s", err);
        rc = EX_UNAVAILABLE;
    } else if (json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:O}", "account_id", (json_int_t)id, "account", name,
                              "source", cached ? "redis" : "postgresql", "messages", list);
        char *s = json_dumps(o, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        int w = term_width();
        int from_w = (w - 20 - 10 - 4) * 2 / 5, subj_w = w - 20 - 10 - 4 - from_w;
        printf("inbox of account %lld '%s' (%zu messages shown, newest first)\n", (long long)id,
               name, json_array_size(list));
        cell("DATE", 20);
        printf(" ");
        cell("FROM", from_w);
        printf(" ");
        cell("SUBJECT", subj_w);
        printf(" %10s\n", "SIZE");
        size_t i;
        json_t *m;
        json_array_foreach(list, i, m)
        {
            char date[40]; /* for people, as every table (the JSON keeps RFC 3339) */
            iq_i18n_time_text(IQ_LANG_EN, json_string_value(json_object_get(m, "date")), date,
                              sizeof(date));
            cell(date, 20);
            printf(" ");
            cell(json_string_value(json_object_get(m, "from")), from_w);
            printf(" ");
            cell(json_string_value(json_object_get(m, "subject")), subj_w);
            printf(" %10lld\n", (long long)json_integer_value(json_object_get(m, "size")));
        }
    }
    json_decref(list);
    free(err);
    free(name);
    iq_redis_free(&redis);
    iq_pg_close(&c);
    return rc;
}
