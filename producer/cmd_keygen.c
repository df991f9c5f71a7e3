/* SPDX-License-Identifier: MIT */
/* inboxq keygen: make a new vault master key file (32 random bytes, mode 0600, never
 * overwriting an existing file). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "commands.h"
#include "crypto.h"
#include "exitcode.h"
#include "util.h"

static void keygen_usage(FILE *out)
{
    fprintf(out, "usage: inboxq keygen --output FILE\n\n"
                 "Makes a new vault master key: 32 random bytes in a new file of mode 0600.\n"
                 "An existing file is never overwritten. Prints the key id (the first 16 hex\n"
                 "characters of its SHA-256), which the vault stores next to every secret.\n"
                 "Point master_key_file (INBOXQ_MASTER_KEY_FILE) at the file; keep a copy\n"
                 "somewhere safe: without it the stored secrets cannot be read.\n\n"
                 "  -o, --output FILE   where to write the key (required)\n"
                 "  -h, --help          print this help\n");
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int iq_cmd_keygen(iq_app *app, int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *output = NULL;
    int opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            output = optarg;
            break;
        case 'h':
            keygen_usage(stdout);
            return 0;
        case ':':
            iq_app_error(app, "keygen: %s needs a value; run 'inboxq keygen --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        default:
            iq_app_error(app, "keygen: unknown option '%s'; run 'inboxq keygen --help'",
                         argv[optind - 1]);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        iq_app_error(app, "keygen: unexpected argument '%s'; run 'inboxq keygen --help'",
                     argv[optind]);
        return EX_USAGE;
    }
    if (!output || !*output) {
        iq_app_error(app, "keygen: --output FILE is required; run 'inboxq keygen --help'");
        return EX_USAGE;
    }
    uint8_t key[IQ_KEY_LEN];
    if (RAND_bytes(key, sizeof(key)) != 1) {
        iq_app_error(app, "keygen: the random number generator failed; no key was written");
        return EX_SOFTWARE;
    }
    int fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        iq_secure_zero(key, sizeof(key));
        if (e == EEXIST)
            iq_app_error(app,
                         "keygen: %s already exists; refusing to overwrite a key (choose "
                         "another --output, or move the old file away if it is not in use)",
                         output);
        else
            iq_app_error(app, "keygen: cannot create %s: %s", output, IQ_STRERROR(e));
        return EX_CANTCREAT;
    }
    int rc = 0;
    /* umask may only have removed bits; make sure the mode is exactly 0600. */
    if (fchmod(fd, 0600) < 0 || write_all(fd, key, sizeof(key)) < 0 || fsync(fd) < 0) {
        iq_app_error(app, "keygen: writing %s failed: %s; the partial file was removed", output,
                     IQ_STRERROR(errno));
        rc = EX_IOERR;
    }
    if (close(fd) < 0 && rc == 0) {
        iq_app_error(app, "keygen: writing %s failed: %s; the partial file was removed", output,
                     IQ_STRERROR(errno));
        rc = EX_IOERR;
    }
    if (rc != 0) {
        unlink(output);
    } else {
        char id[IQ_KEY_ID_LEN + 1];
        iq_key_id(key, id);
        printf("%s\n", id);
    }
    iq_secure_zero(key, sizeof(key));
    return rc;
}
