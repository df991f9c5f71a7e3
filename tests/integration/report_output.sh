#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scheduled reports in the schedule's output directory: a worker writes the rendered file there
# under its final name only once the result is recorded (same bytes as `report get`, the row's
# output_path, no temp file left), a worker whose report was taken over while it rendered
# (its claim replaced, as when the sweeper publishes the job again) leaves no file at all, no
# planted symlink is followed, and a report whose file cannot be written is failed.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
out="$IT_TMP/out"
mkdir -p "$out"

c=$(it_credential c user001 "$INBOXQ_TEST_MAIL_PASS_BULK")
for n in alpha beta gamma; do
  inboxq account add --name "$n" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
    --credential "$c" --secure yes --secure-type ssl --auto-check no >/dev/null
done
due_schedule() { # NAME -> id; due now, writing into $out
  it_sql "INSERT INTO report_schedules (name, cron, format, lang, filters, next_run_at, output_dir)
    VALUES ('$1', '0 3 * * *', 'csv', 'en', '{}', now() - interval '1 minute', '$out') RETURNING id" | head -1
}
report_of() { it_sql "SELECT id FROM reports WHERE schedule_id = $1"; }

it_spawn worker inboxq-worker

# 1. a scheduled report lands in the output directory
sid=$(due_schedule "nightly accounts")
inboxq-scheduler --once >/dev/null 2>>"$IT_TMP/scheduler.log"
rid=$(report_of "$sid")
it_wait_for 60 "the scheduled report $rid was rendered" \
  bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT status FROM reports WHERE id = $rid')\" = done"
file=$(it_sql "SELECT output_path FROM reports WHERE id = $rid")
check "output_path names a file in the output directory ($file)" \
  bash -c "[[ '$file' == '$out'/nightly_accounts-*-$rid.csv ]] && test -f '$file'"
inboxq report get "$rid" --output "$IT_TMP/got.csv"
check "...holding the stored output (the 3 accounts)" bash -c "cmp -s '$file' '$IT_TMP/got.csv' && grep -q alpha '$file' && grep -q beta '$file' && grep -q gamma '$file'"
check "no temp file left" bash -c "! ls '$out' | grep -q '\\.tmp$'"
check "report get --output - writes the same bytes to standard output" \
  bash -c "inboxq report get $rid --output - | cmp -s - '$file'"

# 2. taken over while rendering: the claim this worker set is replaced under it
it_sql "CREATE FUNCTION steal_claim() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    IF NEW.status = 'running' AND NEW.claim IS DISTINCT FROM OLD.claim THEN
      NEW.claim := gen_random_uuid();
    END IF;
    RETURN NEW;
  END \$\$;
  CREATE TRIGGER steal BEFORE UPDATE ON reports FOR EACH ROW EXECUTE FUNCTION steal_claim();" >/dev/null
sid2=$(due_schedule "stolen")
inboxq-scheduler --once >/dev/null 2>>"$IT_TMP/scheduler.log"
rid2=$(report_of "$sid2")
it_wait_for 60 "the worker saw report $rid2 taken over" grep -q "report $rid2 was taken over" "$IT_TMP/worker.log"
check "...and left no file for it (final or temp)" bash -c "! ls '$out' | grep -q -- '-$rid2\\.csv'"
check "...and no output in its row" test "$(it_sql "SELECT output IS NULL AND output_path IS NULL FROM reports WHERE id = $rid2")" = t
check "the first report's file is still there" test -f "$file"
it_sql "DROP TRIGGER steal ON reports" >/dev/null

# 3. the temp file is never a name someone else can plant: symlinks at the names the previous
#    code used (NAME-STAMP-ID.csv.tmp, for the next 40 seconds) are neither followed nor removed
victim="$IT_TMP/victim"
echo "not yours" >"$victim"
sid3=$(due_schedule "planted")
seq=$(it_sql "SELECT pg_get_serial_sequence('reports', 'id')")
rid3=$(it_sql "SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM $seq")
now=$(date -u +%s)
for i in $(seq 0 40); do
  ln -s "$victim" "$out/planted-$(date -u -d "@$((now + i))" +%Y%m%dT%H%M%SZ)-$rid3.csv.tmp"
done
inboxq-scheduler --once >/dev/null 2>>"$IT_TMP/scheduler.log"
check "the planted report is report $rid3" test "$(report_of "$sid3")" = "$rid3"
it_wait_for 60 "report $rid3 was rendered" \
  bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT status FROM reports WHERE id = $rid3')\" = done"
check "...without writing through a planted symlink" test "$(cat "$victim")" = "not yours"
check "...into its own file" bash -c "f=\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT output_path FROM reports WHERE id = $rid3'); test -f \"\$f\" && test ! -L \"\$f\" && grep -q alpha \"\$f\""
rm -f "$out"/planted-*.tmp

# 4. an output directory that is not there: the report failed, and says why
sid4=$(it_sql "INSERT INTO report_schedules (name, cron, format, lang, filters, next_run_at, output_dir)
  VALUES ('nowhere', '0 3 * * *', 'csv', 'en', '{}', now() - interval '1 minute', '$IT_TMP/missing') RETURNING id" | head -1)
inboxq-scheduler --once >/dev/null 2>>"$IT_TMP/scheduler.log"
rid4=$(report_of "$sid4")
it_wait_for 60 "report $rid4 (no output directory) finished" \
  bash -c "test \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT status FROM reports WHERE id = $rid4')\" != running -a \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c 'SELECT status FROM reports WHERE id = $rid4')\" != pending"
check "...is failed, not done" test "$(it_sql "SELECT status FROM reports WHERE id = $rid4")" = failed
check "...and report show says why" bash -c "inboxq report show $rid4 | grep -q 'could not be written in $IT_TMP/missing'"
check "...as does the worker's log" grep -q "report $rid4: the report file could not be written" "$IT_TMP/worker.log"
it_stop_all
finish
