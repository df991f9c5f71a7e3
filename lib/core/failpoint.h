/* SPDX-License-Identifier: MIT */
/* Crash-test hooks: iq_failpoint("name") kills the process with SIGKILL when the environment
 * variable INBOXQ_FAILPOINT names that point. Tests use it to prove that a crash at the worst
 * moment (after a commit, before a delete) loses and duplicates nothing. */
#ifndef IQ_FAILPOINT_H
#define IQ_FAILPOINT_H

void iq_failpoint(const char *name);

#endif
