/* SPDX-License-Identifier: MIT */
/* Environment-selected SIGKILL points for crash tests. */
#include "failpoint.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void iq_failpoint(const char *name)
{
    const char *want = getenv("INBOXQ_FAILPOINT");
    if (want && strcmp(want, name) == 0)
        raise(SIGKILL);
}
