#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# inboxq migrate creates every table, a second run changes nothing, and a database newer
# than the build is refused with EX_CONFIG. The name filter's trigram index, and the fallback
# (with a warning saying what to run) for a role that may not create the pg_trgm extension.
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

check "the accounts name filter has its trigram index (pg_trgm, created by the database's owner)" \
  test "$(it_sql "SELECT count(*) FROM pg_indexes WHERE indexname = 'mail_accounts_name_trgm'")" = 1
plan=$(it_sql "SET enable_seqscan = off; EXPLAIN SELECT count(*) FROM mail_accounts WHERE name ILIKE '%acme%'")
check "the name filter's ILIKE '%...%' can use it" grep -q mail_accounts_name_trgm <<<"$plan"
# a role that may not create extensions (no CREATE on the database): migrated all the same,
# without the index, and told what to run
weak="it_weak_$$" weakdb="it_migrate_weak_$$" weakpw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
psql -qX "$INBOXQ_PG_ADMIN_DSN" -v ON_ERROR_STOP=1 -c "CREATE ROLE $weak LOGIN PASSWORD '$weakpw'" \
  -c "CREATE DATABASE $weakdb OWNER postgres" -c "GRANT CONNECT ON DATABASE $weakdb TO $weak" >/dev/null
admin_weak=$(sed -E "s#^([^/]*//[^/]*)/[^?]*#\1/$weakdb#" <<<"$INBOXQ_PG_ADMIN_DSN")
psql -qX "$admin_weak" -c "GRANT ALL ON SCHEMA public TO $weak" >/dev/null
weak_dsn=$(sed -E "s#^([^/]*//)[^@]*@([^/]*)/[^?]*#\1$weak:$weakpw@\2/$weakdb#" <<<"$INBOXQ_PG_DSN")
rc=0; INBOXQ_PG_DSN=$weak_dsn inboxq migrate >/dev/null 2>"$IT_TMP/weak.err" || rc=$?
check "a role without CREATE on the database migrates all the same (exit $rc)" \
  test "$rc" = 0 -a "$(psql -qtAX "$admin_weak" -c 'SELECT max(version) FROM schema_migrations')" -ge 14
check "... warned that pg_trgm is missing, with the statements to run" \
  bash -c "grep -q 'pg_trgm is not available' '$IT_TMP/weak.err' && grep -q 'CREATE EXTENSION pg_trgm' '$IT_TMP/weak.err'"
check "... and the name filter still works there" \
  test "$(psql -qtAX "$weak_dsn" -c "SELECT count(*) FROM mail_accounts WHERE name ILIKE '%x%'")" = 0
psql -qX "$INBOXQ_PG_ADMIN_DSN" -c "DROP DATABASE $weakdb WITH (FORCE)" -c "DROP ROLE $weak" >/dev/null

it_sql "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')" >/dev/null
set +e
err=$(inboxq migrate 2>&1 >/dev/null); rc=$?
set -e
check "newer database refused with 78 (got $rc)" test "$rc" -eq 78
check "refusal says what to do" grep -q "upgrade inboxq" <<<"$err"
finish
