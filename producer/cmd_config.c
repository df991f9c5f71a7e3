/* SPDX-License-Identifier: MIT */
/* inboxq config reference|show: the settings table, as documentation or as in effect. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "exitcode.h"

int iq_cmd_config(iq_app *app, int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "reference") == 0) {
        bool markdown = argc > 2 && strcmp(argv[2], "--markdown") == 0;
        iq_config_print_reference(stdout, markdown);
        return 0;
    }
    if (strcmp(what, "show") == 0) {
        iq_config_print_effective(app->cfg, stdout);
        return 0;
    }
    if (strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
        printf("usage: inboxq config reference [--markdown] | show\n\n"
               "  reference   every setting: name, environment variable, type, default, help\n"
               "  show        the values in effect and where each came from (secrets hidden)\n");
        return 0;
    }
    iq_app_error(app, "config: expected 'reference' or 'show'; run 'inboxq config --help'");
    return EX_USAGE;
}
