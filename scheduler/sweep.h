/* SPDX-License-Identifier: MIT */
/* The report sweeper (sweep.c). */
#ifndef IQ_SWEEP_H
#define IQ_SWEEP_H

#include <stdbool.h>

#include "sched.h"

/* One batch of the report sweeper (sweep.c): reports still pending (or running on a worker that
 * stopped heartbeating) report_sweep_after after their job was last published get their job
 * published again, up to report_sweep_attempts times; then they are marked failed. Adds to
 * st->republished, st->given_up, st->undelivered and st->db_errors. *more_r: the batch was full
 * and all went well. 0, or -1 when something failed (logged). */
int iq_sched_sweep_batch(iq_sched *s, iq_sched_stats *st, bool *more_r);

#endif
