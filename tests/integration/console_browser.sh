#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The web console in a real browser: Debian's chromium (headless) through chromium-driver and
# python3-selenium drives `inboxq serve` on the harness's PostgreSQL (console_browser.py): sign
# in, report, paging, filters, a hostile name shown inert, CSV export, the form's inline error
# and success, a stale edit refused, the inbox, English, sign out. Screenshots of the report,
# the form and the inbox are kept as artifacts in $IT_TMP/artifacts (INBOXQ_TEST_KEEP=1 keeps
# the directory; INBOXQ_TEST_ARTIFACTS=DIR copies them there).
source "$(dirname "$0")/lib.sh"
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || { it_skip console-browser "$tool is missing (deploy/local/install-deps)"; finish; exit $?; }
done
$PY -c 'import selenium' 2>/dev/null ||
  { it_skip console-browser "python3-selenium is missing (deploy/local/install-deps)"; finish; exit $?; }
it_fresh_db
it_master_key
it_private_kafka
port=$((INBOXQ_TEST_PG_PORT + 96))

IQ_PW_OPERATOR=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export IQ_PW_OPERATOR
printf '%s' "$IQ_PW_OPERATOR" | inboxq operator add iq-operator --role operator >/dev/null
printf 'pw-%s' "$RANDOM$RANDOM" | inboxq credential add --name c1 --username user1 --password-stdin >/dev/null
add() { inboxq account add --host mail.example.org --protocol imap --credential c1 "$@"; }
for i in $(seq -w 1 31); do
  add --name "acct-$i" --auto-check "$([ $((10#$i % 2)) = 0 ] && echo yes || echo no)" >/dev/null
done
# (bidi controls such as U+202E are refused in names: issue 12 item 19)
IQ_HOSTILE_NAME=$'=HYPERLINK("http://evil/","x") <script>window.pwned=1</script><img src=x> gnp.exe'
export IQ_HOSTILE_NAME
IQ_HOSTILE_ID=$(add --name "$IQ_HOSTILE_NAME")
IQ_INBOX_ID=$(it_sql "SELECT id FROM mail_accounts WHERE name = 'acct-05'")
# one account on the harness's Dovecot (IMAPS) for Test connection and Check now
it_credential alice alice "$INBOXQ_TEST_MAIL_PASS_alice" >/dev/null
IQ_TEST_ID=$(it_sql "SELECT id FROM mail_accounts WHERE name = 'acct-07'")
inboxq account edit "$IQ_TEST_ID" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --credential alice \
  --secure yes --secure-type ssl >/dev/null
export IQ_HOSTILE_ID IQ_INBOX_ID IQ_TEST_ID
# two stored messages for its inbox (a subject with markup, shown as text)
it_sql "INSERT INTO messages (account_id, mailbox, server_id, sha256, subject, from_addr, sent_at, size, raw)
        VALUES ($IQ_INBOX_ID, 'INBOX', '1:1', sha256('a'), 'first', 'a@example.org', now() - interval '1 hour', 10, 'x'),
               ($IQ_INBOX_ID, 'INBOX', '1:2', sha256('b'), '<b>second</b>', 'b@example.org', now(), 20, 'y')" >/dev/null

it_spawn serve inboxq serve --listen "127.0.0.1:$port"
it_wait_for 20 "serve answers /healthz" curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

art=$IT_TMP/artifacts
mkdir -p "$art"
if HOME=$IT_TMP timeout 300 $PY "$IQ_SOURCE_DIR/tests/integration/console_browser.py" \
  "http://127.0.0.1:$port" "$art" >"$IT_TMP/browser.out" 2>&1; then
  pass "console_browser.py: $(tail -n 1 "$IT_TMP/browser.out")"
else
  grep -E '^(FAIL|Traceback|  |selenium|[A-Za-z]*Error)' "$IT_TMP/browser.out" | head -n 40 >&2
  fail "console_browser.py: $(tail -n 1 "$IT_TMP/browser.out")"
fi
for shot in report form inbox; do
  check "screenshot $shot.png saved" test -s "$art/$shot.png"
done
if [ -n "${INBOXQ_TEST_ARTIFACTS:-}" ]; then
  mkdir -p "$INBOXQ_TEST_ARTIFACTS" && cp "$art"/*.png "$INBOXQ_TEST_ARTIFACTS"/
fi
finish
