/* SPDX-License-Identifier: MIT */
/* inboxq account list: the accounts report on the terminal, one page of 30 at a time. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "commands.h"
#include "exitcode.h"
#include "i18n.h"
#include "pg.h"
#include "report.h"
#include "util.h"

static void usage(void)
{
    printf(
        "usage: inboxq account list [--name TEXT] [--secure yes|no] [--auto-check yes|no]\n"
        "           [--keep-copy yes|no] [--active yes|no|all] [--page N] [--per-page N]\n"
        "           [--format table|json|csv] [--lang en|pt-BR]\n\n"
        "The accounts report (\"Configuração IMAP/POP3\"): code, name, secure connection,\n"
        "connection type, protocol, port, automatic check, keep copy on server and the last\n"
        "check, ordered by code, %d accounts a page.\n"
        "  --name TEXT       accounts whose name contains TEXT (case-insensitive)\n"
        "  --secure, --auto-check, --keep-copy yes|no   filter on that setting\n"
        "  --active yes|no|all   active accounts only, inactive only, or all (default)\n"
        "  --last-check ok|failed|never   accounts whose last check succeeded, did not\n"
        "                    (failed or partial), or that were never checked\n"
        "  --page N          which page (default 1); --per-page N rows a page (1-%d)\n"
        "  --format FMT      table (default; fits the terminal, one page at a time), json\n"
        "                    or csv: every matching account, unless --page or --per-page\n"
        "                    asks for one page\n"
        "  --lang LANG       labels in English (en, default) or Portuguese (pt-BR)\n"
        "  --csv-dialect D   rfc4180 (comma) or excel-pt (UTF-8 byte-order mark and ';', for\n"
        "                    a spreadsheet in Portuguese); default: excel-pt with --lang pt-BR\n",
        IQ_REPORT_ROWS_PER_PAGE, IQ_REPORT_MAX_PER_PAGE);
}

typedef struct list_args {
    iq_report_filters filters;
    int64_t page, per_page;
    iq_report_format format;
    bool format_given;
    bool paged; /* --page or --per-page given */
    iq_csv_dialect csv_dialect;
    iq_lang lang;
} list_args;

/* The command that shows page `page` with the same filters and layout. malloc'd. */
static char *page_command(const iq_app *app, const list_args *a, int64_t page)
{
    iq_buf b;
    iq_buf_init(&b, (size_t)1 << 20);
    char *filters = iq_report_filters_args(&a->filters);
    int rc = iq_buf_appendf(&b, "%s account list", app->program);
    if (rc == 0 && *filters)
        rc = iq_buf_appendf(&b, " %s", filters);
    if (rc == 0 && a->per_page != IQ_REPORT_ROWS_PER_PAGE)
        rc = iq_buf_appendf(&b, " --per-page %lld", (long long)a->per_page);
    if (rc == 0 && a->format_given)
        rc = iq_buf_appendf(&b, " --format %s", iq_report_format_name(a->format));
    if (rc == 0 && a->lang != IQ_LANG_EN)
        rc = iq_buf_appendf(&b, " --lang %s", iq_lang_tag(a->lang));
    if (rc == 0)
        rc = iq_buf_appendf(&b, " --page %lld", (long long)page);
    free(filters);
    if (rc < 0) { /* filters over a megabyte: no hint rather than a cut one */
        iq_buf_release(&b);
        return NULL;
    }
    return iq_buf_detach(&b, NULL);
}

static int parse_args(iq_app *app, int argc, char **argv, list_args *a)
{
    enum {
        O_NAME = 1,
        O_SECURE,
        O_AUTO,
        O_KEEP,
        O_ACTIVE,
        O_LAST_CHECK,
        O_PAGE,
        O_PER_PAGE,
        O_FORMAT,
        O_LANG,
        O_CSV_DIALECT
    };
    static const struct option opts[] = {
        {"name", required_argument, NULL, O_NAME},
        {"secure", required_argument, NULL, O_SECURE},
        {"auto-check", required_argument, NULL, O_AUTO},
        {"keep-copy", required_argument, NULL, O_KEEP},
        {"active", required_argument, NULL, O_ACTIVE},
        {"last-check", required_argument, NULL, O_LAST_CHECK},
        {"page", required_argument, NULL, O_PAGE},
        {"per-page", required_argument, NULL, O_PER_PAGE},
        {"format", required_argument, NULL, O_FORMAT},
        {"lang", required_argument, NULL, O_LANG},
        {"csv-dialect", required_argument, NULL, O_CSV_DIALECT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, idx = -1;
    char *err = NULL;
    /* Called with argv at "list" or, from some dispatchers, at "account list". */
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        argc--;
        argv++;
    }
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        const char *name = idx >= 0 ? opts[idx].name : "";
        switch (opt) {
        case O_NAME:
        case O_SECURE:
        case O_AUTO:
        case O_KEEP:
        case O_ACTIVE:
        case O_LAST_CHECK:
            if (iq_report_filters_set(&a->filters, name, optarg, &err) < 0) {
                iq_app_error(app, "account list: %s", err);
                free(err);
                return EX_USAGE;
            }
            break;
        case O_PAGE:
        case O_PER_PAGE: {
            int64_t max =
                opt == O_PAGE ? INT64_MAX / 2 / IQ_REPORT_MAX_PER_PAGE : IQ_REPORT_MAX_PER_PAGE;
            int64_t v;
            if (iq_parse_i64(optarg, 1, max, &v) < 0) {
                iq_app_error(app,
                             "account list: --%s must be a whole number from 1 to %lld, not "
                             "'%s'",
                             name, (long long)max, optarg);
                return EX_USAGE;
            }
            *(opt == O_PAGE ? &a->page : &a->per_page) = v;
            a->paged = true;
            break;
        }
        case O_FORMAT:
            if (iq_report_format_parse(optarg, &a->format) < 0 ||
                (a->format != IQ_REPORT_TABLE && a->format != IQ_REPORT_JSON &&
                 a->format != IQ_REPORT_CSV)) {
                iq_app_error(app, "account list: --format must be table, json or csv, not '%s'",
                             optarg);
                return EX_USAGE;
            }
            a->format_given = a->format != IQ_REPORT_TABLE;
            break;
        case O_CSV_DIALECT:
            if (iq_csv_dialect_parse(optarg, &a->csv_dialect) < 0) {
                iq_app_error(app,
                             "account list: --csv-dialect must be rfc4180 or excel-pt, not '%s'",
                             optarg);
                return EX_USAGE;
            }
            break;
        case O_LANG:
            if (iq_lang_parse(optarg, &a->lang) < 0) {
                iq_app_error(app, "account list: --lang must be en or pt-BR, not '%s'", optarg);
                return EX_USAGE;
            }
            break;
        case 'h':
            usage();
            return -1;
        case ':':
            iq_app_error(app,
                         "account list: option '%s' needs a value; see 'inboxq account list "
                         "--help'",
                         argv[optind - 1]);
            return EX_USAGE;
        default:
            iq_app_error(app, "account list: unknown option '%s'; see 'inboxq account list --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        }
        idx = -1;
    }
    if (optind < argc) {
        iq_app_error(app,
                     "account list: unexpected argument '%s'; filters are options (--name "
                     "TEXT)",
                     argv[optind]);
        return EX_USAGE;
    }
    return 0;
}

/* Prints the JSON envelope {page, pages, per_page, total, next_page_command, accounts}. */
static int print_json(const iq_app *app, const list_args *a, const iq_report_stats *st,
                      const char *accounts, size_t len)
{
    json_error_t jerr;
    json_t *arr = json_loadb(accounts, len, 0, &jerr);
    if (!arr) {
        iq_app_error(app, "account list: internal error encoding JSON: %s", jerr.text);
        return EX_SOFTWARE;
    }
    /* unpaged: every matching account on one page */
    int64_t pages = a->paged ? st->pages : 1, per_page = a->paged ? a->per_page : st->total;
    char *next = a->page < pages ? page_command(app, a, a->page + 1) : NULL;
    json_t *o =
        json_pack("{sI sI sI sI so so}", "page", (json_int_t)a->page, "pages", (json_int_t)pages,
                  "per_page", (json_int_t)per_page, "total", (json_int_t)st->total,
                  "next_page_command", next ? json_string(next) : json_null(), "accounts", arr);
    free(next);
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
        json_decref(o);
        iq_app_error(app, "account list: writing the JSON failed");
        return EX_IOERR;
    }
    json_decref(o);
    fputc('\n', stdout);
    return 0;
}

int iq_cmd_account_list(iq_app *app, int argc, char **argv)
{
    list_args a = {.page = 1, .per_page = IQ_REPORT_ROWS_PER_PAGE, .format = IQ_REPORT_TABLE};
    iq_report_filters_init(&a.filters);
    PGconn *c = NULL;
    char *err = NULL, *buf = NULL;
    size_t len = 0;
    FILE *mem = NULL;
    int rc = parse_args(app, argc, argv, &a);
    if (rc != 0) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    iq_pg_status ps = iq_pg_connect(iq_config_str(app->cfg, IQ_SET_PG_DSN),
                                    iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &c, &err);
    if (ps != IQ_PG_OK) {
        iq_app_error(app, "%s", err);
        rc = ps == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
        goto out;
    }
    /* The machine formats export every matching account unless a page was asked for; the
     * table keeps pages. CSV without a page streams straight out. */
    bool all_rows = a.format != IQ_REPORT_TABLE && !a.paged;
    if (all_rows && a.format == IQ_REPORT_CSV) {
        iq_report_options o = {.format = a.format,
                               .lang = iq_lang_tag(a.lang),
                               .page = 0,
                               .csv_dialect = a.csv_dialect};
        iq_report_stats st;
        if (iq_report_render_opts(c, &a.filters, &o, stdout, &st, &err) < 0) {
            iq_app_error(app, "account list: %s", err);
            rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : EX_SOFTWARE;
            goto out;
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            iq_app_error(app, "account list: writing to stdout failed");
            rc = EX_IOERR;
        }
        goto out;
    }
    /* One page is small: render it into memory, then check the page number against the
     * total from the same snapshot before printing anything. */
    mem = open_memstream(&buf, &len);
    if (!mem)
        iq_oom();
    iq_report_options o = {.format = a.format,
                           .lang = iq_lang_tag(a.lang),
                           .page = all_rows ? 0 : a.page,
                           .per_page = a.per_page,
                           .csv_dialect = a.csv_dialect};
    iq_report_stats st;
    if (iq_report_render_opts(c, &a.filters, &o, mem, &st, &err) < 0) {
        iq_app_error(app, "account list: %s", err);
        rc = iq_pg_connection_lost(c) ? EX_UNAVAILABLE : EX_SOFTWARE;
        goto out;
    }
    if (fclose(mem) != 0)
        iq_oom();
    mem = NULL;
    if (!all_rows && a.page > st.pages) {
        iq_app_error(app,
                     "account list: --page %lld is past the last page (%lld; %lld account%s "
                     "match)",
                     (long long)a.page, (long long)st.pages, (long long)st.total,
                     st.total == 1 ? "" : "s");
        rc = EX_USAGE;
        goto out;
    }
    if (a.format == IQ_REPORT_JSON) {
        rc = print_json(app, &a, &st, buf, len);
        goto out;
    }
    fwrite(buf, 1, len, stdout);
    if (a.format == IQ_REPORT_TABLE) {
        char page_of[96];
        iq_i18n_page_of(a.lang, a.page, st.pages, page_of, sizeof(page_of));
        if (page_of[0] >= 'A' && page_of[0] <= 'Z')
            page_of[0] = (char)(page_of[0] - 'A' + 'a');
        printf("\n%s, %lld %s\n", page_of, (long long)st.total,
               iq_msg_get(a.lang, st.total == 1 ? IQ_MSG_ACCOUNT : IQ_MSG_ACCOUNTS));
        if (a.page < st.pages) {
            char *next = page_command(app, &a, a.page + 1);
            if (next)
                printf("%s: %s\n", iq_msg_get(a.lang, IQ_MSG_NEXT_PAGE), next);
            free(next);
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        iq_app_error(app, "account list: writing to stdout failed");
        rc = EX_IOERR;
    }
out:
    if (mem)
        fclose(mem);
    free(buf);
    free(err);
    iq_pg_close(&c);
    iq_report_filters_release(&a.filters);
    return rc;
}
