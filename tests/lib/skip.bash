# SPDX-License-Identifier: MIT
# Skips in test scripts (sourced by tests/integration/lib.sh and the unit scripts): a check
# that cannot run here is printed, counted and never silent.
#   - "SKIP - ID: REASON" on stdout, and "TEST: ID: REASON" appended to $IQ_SKIP_LOG (ctest sets
#     it; tests/run prints every skip at the end);
#   - the script, when it skipped something and failed nothing, exits 77: ctest reports it as
#     "Skipped" and lists it under "The following tests did not run";
#   - with INBOXQ_TEST_NO_SKIP=1 (CI) a skip is a failure unless INBOXQ_TEST_ALLOW_SKIP (comma
#     separated IDs) names it. tests/unit/iq_skip.h does the same for the cmocka tests.
# shellcheck shell=bash

# iq_skip_allowed ID: true unless INBOXQ_TEST_NO_SKIP=1 forbids skipping ID.
iq_skip_allowed() {
	[ "${INBOXQ_TEST_NO_SKIP:-0}" != 1 ] || [[ ",${INBOXQ_TEST_ALLOW_SKIP:-}," == *",$1,"* ]]
}
# iq_skip_note TEST ID REASON...: prints the skip and records it in $IQ_SKIP_LOG.
iq_skip_note() {
	local test=$1 id=$2
	shift 2
	echo "SKIP - $id: $*"
	if [ -n "${IQ_SKIP_LOG:-}" ]; then printf '%s: %s: %s\n' "$test" "$id" "$*" >>"$IQ_SKIP_LOG"; fi
}
