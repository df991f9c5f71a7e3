/* SPDX-License-Identifier: MIT */
/* The --config file (lib/config.c): "name = value" lines through iq_config_load_file() (the
 * input is the file), then `inboxq config show`'s output (iq_config_print_effective()), which
 * must hide the secret settings' passwords: the password libpq itself reads from pg_dsn, and
 * the one lib/redis.c reads from redis_url, must not be readable again from what is shown. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The password libpq takes from a connection string (key=value or URI), or NULL; *rest_r gets
 * every other option it read, to tell whether a second parse saw the same string's shape. */
static char *pg_password(const char *dsn, char **rest_r)
{
    char *err = NULL;
    *rest_r = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    PQfreemem(err);
    if (!opts)
        return NULL;
    char *pw = NULL;
    size_t len = 0;
    FILE *rest = open_memstream(rest_r, &len);
    if (!rest)
        iq_fuzz_fail("open_memstream failed");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "password") == 0 && o->val)
            pw = strdup(o->val);
        else if (o->val)
            fprintf(rest, "%s=%s\n", o->keyword, o->val);
    }
    fclose(rest);
    PQconninfoFree(opts);
    return pw;
}

/* The password of redis://[:password@]host[:port][/db], read as lib/redis.c reads it, or NULL;
 * *rest_r gets where it sits. */
static char *redis_password(const char *url, char **rest_r)
{
    *rest_r = NULL;
    if (strncmp(url, "redis://", 8) != 0)
        return NULL;
    const char *p = url + 8, *at = strchr(p, '@');
    const char *colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (!colon)
        return NULL;
    size_t len = 0;
    FILE *rest = open_memstream(rest_r, &len);
    if (!rest)
        iq_fuzz_fail("open_memstream failed");
    fprintf(rest, "%td:%td", colon - url, at - url);
    fclose(rest);
    return strndup(colon + 1, (size_t)(at - colon - 1));
}

static bool only_stars(const char *s)
{
    return s[strspn(s, "*")] == '\0';
}

/* The value shown for setting name in `config show` output. */
static char *shown_value(const char *out, const char *name, size_t value_len)
{
    size_t n = strlen(name);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, n) == 0 && l[n] == ' ') {
            const char *v = strstr(l, " = ");
            if (v)
                return strndup(v + 3, value_len); /* iq_conninfo_mask() keeps the length */
        }
    }
    iq_fuzz_fail("config show has no line for %s", name);
}

/* The password read from the shown value must not be the real one, when the shown value reads
 * as the same string otherwise (masking may shift where a parser finds things: a password
 * text that also sits elsewhere in the value is then found there, which is not a leak). */
static void check_hidden(const char *setting, const char *value, const char *out,
                         char *(*password)(const char *, char **))
{
    char *rest = NULL;
    char *pw = password(value, &rest);
    if (pw && *pw && !only_stars(pw)) {
        char *shown = shown_value(out, setting, strlen(value));
        char *rest_again = NULL;
        char *again = password(shown, &rest_again);
        if (again && strcmp(again, pw) == 0 && rest && rest_again && strcmp(rest, rest_again) == 0)
            iq_fuzz_fail("config show reveals the %s password: '%s' is shown as '%s'", setting,
                         value, shown);
        free(again);
        free(rest_again);
        free(shown);
    }
    free(rest);
    free(pw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("inboxq-fuzz.conf", MFD_CLOEXEC);
    if (fd < 0)
        iq_fuzz_fail("memfd_create failed");
    for (size_t off = 0; off < size;) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            iq_fuzz_fail("write to the memfd failed");
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    iq_config *cfg = iq_config_new();
    char *err = NULL;
    if (iq_config_load_file(cfg, path, &err) < 0) {
        if (!err)
            iq_fuzz_fail("a refused file must say why");
        free(err);
    } else if (err) {
        iq_fuzz_fail("an accepted file set an error: %s", err);
    }
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (!f)
        iq_fuzz_fail("open_memstream failed");
    iq_config_print_effective(cfg, f);
    fclose(f);
    check_hidden("pg_dsn", iq_config_str(cfg, IQ_SET_PG_DSN), out, pg_password);
    check_hidden("redis_url", iq_config_str(cfg, IQ_SET_REDIS_URL), out, redis_password);
    free(out);
    iq_config_free(&cfg);
    close(fd);
    return 0;
}
