/* SPDX-License-Identifier: MIT */
/* inboxq status: show the cluster's state. */
#include "commands.h"
#include "exitcode.h"

int iq_cmd_status(iq_app *app, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    iq_app_error(app, "status: not built yet");
    return EX_SOFTWARE;
}
