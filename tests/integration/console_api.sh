#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test of `inboxq serve` (the web console's HTTP API) on the harness's PostgreSQL:
# operators of each role made by `inboxq operator add`, an API token, then console_api.py
# against the real server: every endpoint x role, 401/403/404/409/413/415/422/429, responses
# validated against schemas/openapi.json, CSRF, session fixation, throttling, malformed
# requests. Also the refusals of `inboxq serve` and `inboxq operator` at the command line.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
it_private_kafka
port=$((INBOXQ_TEST_PG_PORT + 95))

pw() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
export IQ_PW_ADMIN=$(pw) IQ_PW_OPERATOR=$(pw) IQ_PW_AUDITOR=$(pw) IQ_PW_VICTIM=$(pw)
for role in admin operator auditor; do
  var=IQ_PW_${role^^}
  printf '%s\n' "${!var}" | inboxq operator add "iq-$role" --role "$role" >/dev/null ||
    fail "operator add iq-$role"
done
printf '%s' "$IQ_PW_VICTIM" | inboxq operator add iq-victim --role auditor >/dev/null
check "operator add: the password is stored as an argon2id hash, not as given" \
  [ "$(it_sql "SELECT count(*) FROM operators WHERE pw_hash LIKE '\$argon2id\$%' AND pw_hash NOT LIKE '%$IQ_PW_ADMIN%'")" = 4 ]
rc=0; printf 'short' | inboxq operator add iq-short --role admin 2>"$IT_TMP/op.err" || rc=$?
check "operator add: a short password exits 65 naming the field" \
  bash -c "[ $rc = 65 ] && grep -q 'password:' '$IT_TMP/op.err'"
rc=0; printf 'long enough pw' | inboxq operator add 'bad name' --role admin 2>"$IT_TMP/op.err" || rc=$?
check "operator add: a bad name exits 65 naming the field" \
  bash -c "[ $rc = 65 ] && grep -q 'name:' '$IT_TMP/op.err'"
rc=0; printf 'long enough pw' | inboxq operator add iq-admin --role admin 2>"$IT_TMP/op.err" || rc=$?
check "operator add: a taken name is refused" bash -c "[ $rc = 65 ] && grep -q 'already exists' '$IT_TMP/op.err'"
rc=0; printf 'long enough pw' | inboxq operator add iq-x --role root 2>/dev/null || rc=$?
check "operator add: an unknown role is refused" [ "$rc" = 65 ]
# edit and delete from the CLI, and the last active admin kept
printf 'long enough pw' | inboxq operator add iq-tmp --role admin >/dev/null
inboxq operator edit iq-tmp --role auditor >/dev/null && inboxq operator edit iq-tmp --active no >/dev/null
check "operator edit: role and active changed" \
  [ "$(it_sql "SELECT role || ',' || active FROM operators WHERE name = 'iq-tmp'")" = auditor,false ]
rc=0; inboxq operator edit iq-admin --role operator 2>"$IT_TMP/op.err" || rc=$?
check "operator edit: the last active admin may not be demoted (exit $rc, 65)" \
  bash -c "[ $rc = 65 ] && grep -q 'last active admin' '$IT_TMP/op.err' && [ \"\$(psql -qtAX '$INBOXQ_PG_DSN' -c \"SELECT role FROM operators WHERE name = 'iq-admin'\")\" = admin ]"
rc=0; inboxq operator delete iq-admin 2>/dev/null || rc=$?
check "operator delete: nor deleted (exit $rc)" [ "$rc" = 65 ]
rc=0; inboxq operator edit iq-tmp --active maybe 2>/dev/null || rc=$?
check "operator edit: --active maybe is a usage error" [ "$rc" = 64 ]
inboxq operator delete iq-tmp >/dev/null
rc=0; inboxq operator delete iq-tmp 2>"$IT_TMP/op.err" || rc=$?
check "operator delete: gone, and again says no such operator (exit $rc, 66)" \
  bash -c "[ $rc = 66 ] && grep -q \"no operator named 'iq-tmp'\" '$IT_TMP/op.err'"
check "operator edit/delete are audited" \
  [ "$(it_sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'operator' AND entity_id = (SELECT max(entity_id) FROM audit_log WHERE entity = 'operator')")" = create,update,update,delete ]
IQ_API_TOKEN=$(inboxq operator token iq-operator --role operator --label ci 2>/dev/null)
export IQ_API_TOKEN
check "operator token: prints iqt_ and 64 hex digits" bash -c "[[ '$IQ_API_TOKEN' =~ ^iqt_[0-9a-f]{64}$ ]]"
rc=0; inboxq operator token iq-auditor --role admin >/dev/null 2>&1 || rc=$?
check "operator token: not above the operator's role" [ "$rc" = 65 ]
printf 'pw-%s' "$RANDOM" | inboxq credential add --name c1 --username user1 --password-stdin >/dev/null
# an account on the harness's Dovecot (IMAPS), for Test connection
it_credential alice alice "$INBOXQ_TEST_MAIL_PASS_alice" >/dev/null
IQ_MAILBOX_ID=$(inboxq account add --name mailbox-alice --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" \
  --protocol imap --credential alice --secure yes --secure-type ssl --auto-check no)
IQ_CLOSED_ID=$(inboxq account add --name closed-port --host 127.0.0.1 --port $((INBOXQ_TEST_PG_PORT + 98)) \
  --protocol imap --credential alice --secure no --auto-check no)
export IQ_MAILBOX_ID IQ_CLOSED_ID

rc=0; inboxq serve --listen 0.0.0.0:$port 2>"$IT_TMP/serve.err" || rc=$?
check "serve refuses plain HTTP on a non-loopback address (exit 64)" \
  bash -c "[ $rc = 64 ] && grep -q -- '--tls-cert' '$IT_TMP/serve.err'"
rc=0; inboxq serve --tls-cert /nonexistent 2>/dev/null || rc=$?
check "serve wants --tls-cert and --tls-key together" [ "$rc" = 64 ]

it_spawn serve inboxq serve --listen "127.0.0.1:$port"
serve_pid=$IT_LAST_PID
it_wait_for 20 "serve answers /healthz" curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null
grep -q "console at http://127.0.0.1:$port/" "$IT_TMP/serve.log" &&
  pass "serve prints its address" || fail "serve prints its address: $(cat "$IT_TMP/serve.log")"

if $PY "$IQ_SOURCE_DIR/tests/integration/console_api.py" "http://127.0.0.1:$port" \
  "$IQ_SOURCE_DIR/schemas/openapi.json" >"$IT_TMP/api.out" 2>&1; then
  pass "console_api.py: $(tail -n 1 "$IT_TMP/api.out")"
else
  grep -E '^(FAIL|Traceback|  )' "$IT_TMP/api.out" | head -n 40 >&2
  tail -n 5 "$IT_TMP/api.out" >&2
  fail "console_api.py: $(tail -n 1 "$IT_TMP/api.out")"
fi
job=$(sed -n 's/^check-job //p' "$IT_TMP/api.out")
on_topic=$(it_kcat_all "$INBOXQ_TOPIC_CHECK" | grep -F "\"$job\"" || true)
check "Check now put job '$job' on the check topic, requested by console:iq-operator" \
  grep -qF '"console:iq-operator"' <<<"${job:+$on_topic}"
read -r report_id report_job < <(sed -n 's/^report-job //p' "$IT_TMP/api.out")
on_topic=$(it_kcat_all "$INBOXQ_TOPIC_REPORT" | grep -F "\"$report_job\"" || true)
check "the console's report job '$report_job' is on the report topic, requested by console:iq-operator" \
  grep -qF '"console:iq-operator"' <<<"${report_job:+$on_topic}"
# a worker renders it; the API then serves the file
it_spawn worker inboxq-worker
it_wait_for 60 "a worker rendered report $report_id" \
  bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $IQ_API_TOKEN' http://127.0.0.1:$port/api/v1/reports/$report_id \
    | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = done ]"
hdrs=$(curl -s -D - -o "$IT_TMP/report.pdf" -H "Authorization: Bearer $IQ_API_TOKEN" \
  "http://127.0.0.1:$port/api/v1/reports/$report_id/output" || true)
hdrs=$(tr -d '\r' <<<"$hdrs")
got="$(grep -m1 '^HTTP/' <<<"$hdrs") | $(grep -i '^Content-Type:' <<<"$hdrs") | $(grep -i '^Content-Disposition:' <<<"$hdrs") | $(head -c 5 "$IT_TMP/report.pdf" 2>/dev/null)"
check "GET /api/v1/reports/$report_id/output downloads the PDF: $got" \
  [ "$got" = 'HTTP/1.1 200 OK | Content-Type: application/pdf | Content-Disposition: attachment; filename="accounts-report.pdf" | %PDF-' ]
check "the downloaded file is the stored output, byte for byte" \
  [ "$(it_sql "SELECT md5(output) FROM reports WHERE id = $report_id")" = "$(md5sum <"$IT_TMP/report.pdf" | cut -d' ' -f1)" ]
# The CSV export of 100,000 more accounts streams in bounded memory: the peak RSS (reset just
# before) grows by far less than the 5 MB file (a body built whole would hold all of it).
it_sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id, secure, secure_type, keep_copy,
  auto_check, active) SELECT format('bulk %s', g), 'mail.example.test', 993, 'imap',
  (SELECT id FROM credentials WHERE name = 'c1'), true, 'ssl', g % 2 = 0, false, true
  FROM generate_series(1, 100000) g" >/dev/null
total=$(it_sql "SELECT count(*) FROM mail_accounts")
rss_before=$(awk '/^VmRSS/ {print $2}' "/proc/$serve_pid/status")
echo 5 >"/proc/$serve_pid/clear_refs" # VmHWM := VmRSS
curl -s -H "Authorization: Bearer $IQ_API_TOKEN" -D "$IT_TMP/csv.h" -o "$IT_TMP/all.csv" \
  "http://127.0.0.1:$port/api/v1/accounts.csv" || true
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$serve_pid/status")
check "the CSV export holds all $total accounts and a header ($(wc -l <"$IT_TMP/all.csv") lines, $(wc -c <"$IT_TMP/all.csv") bytes)" \
  [ "$(wc -l <"$IT_TMP/all.csv")" = $((total + 1)) ]
check "... sent chunked as it is read" grep -qi '^Transfer-Encoding: chunked' "$IT_TMP/csv.h"
if grep -q libasan "/proc/$serve_pid/maps"; then
  pass "serve's peak RSS during the export: not measured under ASan (its quarantine keeps freed memory)"
else
  check "serve's peak RSS during the export grew by $((hwm - rss_before)) kB (< 2048 kB for a $(($(wc -c <"$IT_TMP/all.csv") / 1024)) kB file)" \
    [ $((hwm - rss_before)) -lt 2048 ]
fi
# exports abandoned midway (more than the pool's 8 connections): each gives its connection
# back, its transaction rolled back, and the export slots free again
for _ in $(seq 1 10); do
  curl -s -N -H "Authorization: Bearer $IQ_API_TOKEN" "http://127.0.0.1:$port/api/v1/accounts.csv" 2>/dev/null |
    head -c 70000 >/dev/null || true
done
it_wait_for 10 "after 10 abandoned exports no connection of serve is left in a transaction" \
  test "$(it_sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'inboxq' AND state LIKE 'idle in transaction%'")" = 0
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $IQ_API_TOKEN" \
  "http://127.0.0.1:$port/api/v1/accounts.csv?name=bulk%209999" || true)
check "... and a new export is served (HTTP $code)" [ "$code" = 200 ]
check "no secret or password reached the server's log" \
  bash -c "! grep -qE '$IQ_PW_ADMIN|$IQ_PW_OPERATOR|s3cret-|$INBOXQ_TEST_MAIL_PASS_alice' '$IT_TMP/serve.log'"
# HTTPS with the harness's test certificate
tls_port=$((INBOXQ_TEST_PG_PORT + 89))
certs=$(dirname "$INBOXQ_CA_FILE")
it_spawn serve-tls inboxq serve --listen "127.0.0.1:$tls_port" --tls-cert "$certs/server.pem" \
  --tls-key "$certs/server.key"
it_wait_for 20 "serve answers over TLS, verified against the test CA" \
  curl -sf --cacert "$INBOXQ_CA_FILE" "https://127.0.0.1:$tls_port/healthz" -o /dev/null
hdrs=$(curl -s --cacert "$INBOXQ_CA_FILE" -D - -o /dev/null -H 'Content-Type: application/json' \
  -d "{\"name\":\"iq-admin\",\"password\":\"$IQ_PW_ADMIN\"}" "https://127.0.0.1:$tls_port/api/v1/session" || true)
check "over TLS the session cookie is Secure" grep -q '^Set-Cookie: iq_session=[0-9a-f]*;.*; Secure' <<<"$hdrs"
check "over TLS responses carry Strict-Transport-Security" grep -qi '^Strict-Transport-Security: max-age=' <<<"$hdrs"
rc=0; curl -sf --max-time 5 "http://127.0.0.1:$tls_port/healthz" -o /dev/null 2>/dev/null || rc=$?
check "plain HTTP to the TLS port gets no answer" [ "$rc" != 0 ]
check "an operator's change is audited with the name" \
  [ "$(it_sql "SELECT count(*) FROM audit_log WHERE actor = 'console:iq-operator'")" -gt 0 ]
finish
