/* SPDX-License-Identifier: MIT */
/* inboxq runs: show an account's check history. */
#include "commands.h"
#include "exitcode.h"

int iq_cmd_runs(iq_app *app, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    iq_app_error(app, "runs: not built yet");
    return EX_SOFTWARE;
}
