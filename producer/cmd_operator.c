/* SPDX-License-Identifier: MIT */
/* inboxq operator: the people who sign in to `inboxq serve`. add (password on stdin), list,
 * edit (role, active), delete, token (an API token for an integrator, shown once),
 * revoke-token. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "exitcode.h"
#include "operator.h"
#include "pg.h"
#include "util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inboxq operator add NAME --role admin|operator|auditor\n"
            "       inboxq operator list\n"
            "       inboxq operator edit NAME [--role ROLE] [--active yes|no]\n"
            "       inboxq operator delete NAME\n"
            "       inboxq operator token NAME --role ROLE [--label TEXT]\n"
            "       inboxq operator revoke-token ID\n\n"
            "Operators sign in to the web console and the HTTP API ('inboxq serve').\n"
            "  add     reads the password (8 to %d bytes) from stdin up to EOF, one trailing\n"
            "          newline dropped; it is stored as an argon2id hash, never itself\n"
            "  roles   auditor reads everything and the audit; operator also edits accounts,\n"
            "          runs checks and reports; admin also manages credentials, connectors\n"
            "          and operators\n"
            "  edit    changes the role, or disables (signed out at once) or enables it\n"
            "  delete  removes it with its sessions and tokens; neither leaves no active admin\n"
            "  token   prints a new API token (\"Authorization: Bearer iqt_...\") once, scoped\n"
            "          to ROLE (not above the operator's); revoke-token ends it\n",
            IQ_PASSWORD_MAX);
}

/* The password on stdin (a pipe): malloc'd, or NULL with the error printed and *exit_r. */
static char *read_password(iq_app *app, int *exit_r)
{
    if (isatty(STDIN_FILENO)) {
        iq_app_error(app, "operator add: the password is read from stdin, and stdin is a "
                          "terminal; pipe it in (e.g. from a password manager)");
        *exit_r = EX_USAGE;
        return NULL;
    }
    size_t cap = (size_t)IQ_PASSWORD_MAX + 3, len = 0;
    char *buf = iq_xcalloc(1, cap);
    for (;;) {
        if (len == cap - 1)
            break;
        ssize_t n = read(STDIN_FILENO, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            iq_app_error(app, "operator add: reading stdin: %s", IQ_STRERROR(errno));
            *exit_r = EX_IOERR;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
    }
    if (len > IQ_PASSWORD_MAX || strlen(buf) != len) {
        iq_app_error(app,
                     "operator add: password: stdin holds more than %d bytes or a NUL byte; "
                     "give a passphrase",
                     IQ_PASSWORD_MAX);
        *exit_r = EX_DATAERR;
        goto fail;
    }
    return buf;
fail:
    iq_secure_zero(buf, cap);
    free(buf);
    return NULL;
}

static int exit_for(iq_err st)
{
    switch (st) {
    case IQ_OK:
        return 0;
    case IQ_ERR_INVALID:
    case IQ_ERR_IN_USE:
        return EX_DATAERR;
    case IQ_ERR_NOT_FOUND:
        return EX_NOINPUT;
    case IQ_ERR_UNAVAILABLE:
        return EX_UNAVAILABLE;
    case IQ_ERR_SCHEMA:
        return EX_CONFIG;
    default:
        return EX_SOFTWARE;
    }
}

int iq_cmd_operator(iq_app *app, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EX_USAGE : 0;
    }
    const char *sub = argv[1];
    bool add = strcmp(sub, "add") == 0, list = strcmp(sub, "list") == 0,
         token = strcmp(sub, "token") == 0, revoke = strcmp(sub, "revoke-token") == 0,
         edit = strcmp(sub, "edit") == 0, del = strcmp(sub, "delete") == 0;
    if (!add && !list && !token && !revoke && !edit && !del) {
        iq_app_error(app, "operator: unknown subcommand '%s'; see 'inboxq operator --help'", sub);
        return EX_USAGE;
    }
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"label", required_argument, NULL, 'l'},
        {"active", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *label = NULL, *active = NULL;
    optind = 0;
    opterr = 0;
    int opt;
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            role = optarg;
            break;
        case 'l':
            label = optarg;
            break;
        case 'a':
            active = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            iq_app_error(app, "operator %s: option '%s' needs a value", sub, argv[optind - 1]);
            return EX_USAGE;
        default:
            iq_app_error(app, "operator %s: unknown option '%s'; see 'inboxq operator --help'", sub,
                         argv[optind - 1]);
            return EX_USAGE;
        }
    }
    int want = list ? 0 : 1;
    if (argc - optind != want) {
        iq_app_error(app, "operator %s: %s; see 'inboxq operator --help'", sub,
                     want == 0 ? "takes no arguments"
                     : revoke  ? "give the token's ID"
                               : "give the operator's NAME");
        return EX_USAGE;
    }
    if ((add || token) && role == NULL) {
        iq_app_error(app, "operator %s: --role is required: admin, operator or auditor", sub);
        return EX_USAGE;
    }
    int active_v = -1;
    if (edit && active != NULL) {
        if (strcmp(active, "yes") == 0)
            active_v = 1;
        else if (strcmp(active, "no") == 0)
            active_v = 0;
        else {
            iq_app_error(app, "operator edit: --active takes yes or no, not '%s'", active);
            return EX_USAGE;
        }
    }
    if (edit && role == NULL && active == NULL) {
        iq_app_error(app, "operator edit: give --role ROLE or --active yes|no");
        return EX_USAGE;
    }
    if ((active != NULL && !edit) || (role != NULL && del)) {
        iq_app_error(app, "operator %s: unexpected option; see 'inboxq operator --help'", sub);
        return EX_USAGE;
    }
    const char *arg = want ? argv[optind] : NULL;
    int64_t token_id = 0;
    if (revoke && iq_parse_i64(arg, 1, INT64_MAX, &token_id) != 0) {
        iq_app_error(app, "operator revoke-token: '%s' is not a token ID (a whole number)", arg);
        return EX_USAGE;
    }
    char *password = NULL;
    int rc = 0;
    if (add && (password = read_password(app, &rc)) == NULL)
        return rc;

    PGconn *c = NULL;
    char *err = NULL;
    iq_pg_status ps = iq_pg_connect(iq_config_str(app->cfg, IQ_SET_PG_DSN),
                                    iq_config_int(app->cfg, IQ_SET_PG_CONNECT_TIMEOUT), &c, &err);
    if (ps != IQ_PG_OK) {
        iq_app_error(app, "%s", err);
        free(err);
        rc = ps == IQ_PG_ERR_DSN ? EX_CONFIG : EX_UNAVAILABLE;
        goto out;
    }
    if (add) {
        int64_t id = 0;
        iq_err st = iq_operator_add(c, arg, role, password, &id, &err);
        if (st != IQ_OK) {
            iq_app_error(app, "operator add: %s", err);
            rc = exit_for(st);
        } else {
            printf("operator %" PRId64 " '%s' added (%s)\n", id, arg, role);
        }
    } else if (edit || del) {
        int64_t id = 0;
        int found = iq_operator_find(c, arg, &id, &err);
        iq_err st = found < 0    ? IQ_ERR_UNAVAILABLE
                    : found == 0 ? IQ_ERR_NOT_FOUND
                    : edit       ? iq_operator_update(c, id, role, active_v, &err)
                                 : iq_operator_delete(c, id, &err);
        if (found == 0)
            err = iq_xasprintf("no operator named '%s'; see 'inboxq operator list'", arg);
        if (st != IQ_OK) {
            iq_app_error(app, "operator %s: %s", sub, err);
            rc = exit_for(st);
        } else if (edit) {
            printf("operator %" PRId64 " '%s' changed\n", id, arg);
        } else {
            printf("operator %" PRId64 " '%s' deleted\n", id, arg);
        }
    } else if (list) {
        char *json = iq_operator_list_json(c, &err);
        if (json == NULL) {
            iq_app_error(app, "operator list: %s", err);
            rc = EX_UNAVAILABLE;
        } else {
            printf("%s\n", json);
            free(json);
        }
    } else if (token) {
        char tok[IQ_TOKEN_HEX + 5];
        int64_t id = 0;
        iq_err st = iq_operator_token_create(c, arg, role, label, tok, &id, &err);
        if (st != IQ_OK) {
            iq_app_error(app, "operator token: %s", err);
            rc = exit_for(st);
        } else {
            printf("%s\n", tok);
            fprintf(stderr,
                    "API token %" PRId64 " for '%s' (%s): shown once; revoke it with "
                    "'inboxq operator revoke-token %" PRId64 "'\n",
                    id, arg, role, id);
            iq_secure_zero(tok, sizeof(tok));
        }
    } else {
        iq_err st = iq_operator_token_revoke(c, token_id, &err);
        if (st != IQ_OK) {
            iq_app_error(app, "operator revoke-token: %s", err);
            rc = exit_for(st);
        } else {
            printf("API token %" PRId64 " revoked\n", token_id);
        }
    }
    free(err);
out:
    if (password != NULL) {
        iq_secure_zero(password, strlen(password));
        free(password);
    }
    iq_pg_close(&c);
    return rc;
}
