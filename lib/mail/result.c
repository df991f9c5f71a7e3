/* SPDX-License-Identifier: MIT */
/* A check's result. */
#include "result.h"

#include <stdlib.h>
#include <string.h>

void iq_check_result_release(iq_check_result *res)
{
    free(res->error);
    free(res->note);
    memset(res, 0, sizeof(*res));
}
