#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# inboxq migrate creates every table, a second run changes nothing, and a database newer
# than the build is refused with EX_CONFIG.
source "$(dirname "$0")/lib.sh"
it_fresh_db
tables=$(it_sql "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
for t in audit_log check_runs credentials mail_accounts mailbox_state messages network_connectors outbox report_schedules reports schema_migrations; do
  check "table $t exists" grep -qw "$t" <<<"$tables"
done
before=$(pg_dump --schema-only "$INBOXQ_PG_DSN" | grep -v "^\\\\\(un\)\?restrict" | md5sum)
out=$(inboxq migrate)
check "second migrate says up to date" grep -q "up to date" <<<"$out"
after=$(pg_dump --schema-only "$INBOXQ_PG_DSN" | grep -v "^\\\\\(un\)\?restrict" | md5sum)
check "second migrate changes nothing" test "$before" = "$after"
check "one row per applied migration" test "$(it_sql 'SELECT count(*) = count(DISTINCT version) FROM schema_migrations')" = t

it_sql "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')" >/dev/null
set +e
err=$(inboxq migrate 2>&1 >/dev/null); rc=$?
set -e
check "newer database refused with 78 (got $rc)" test "$rc" -eq 78
check "refusal says what to do" grep -q "upgrade inboxq" <<<"$err"
finish
