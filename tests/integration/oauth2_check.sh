#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OAuth2 sign-in end to end, against the harness's authorization server (tests/harness/
# oauth-server) and the Dovecot that accepts only XOAUTH2/OAUTHBEARER and checks every token by
# introspection there: IMAP XOAUTH2 (SASL-IR) and OAUTHBEARER after STARTTLS, POP3 XOAUTH2 with
# tokens longer than a 513-byte line (the two-line form), a client assertion (RS256
# certificate), a Google-style service account (jwt_bearer), refresh-token rotation, a token
# that expires between two checks, a token the server refuses (one fresh token, one retry), a
# revoked refresh token (class oauth, the long back-off, no second request), the endpoint
# down or answering 503 (transient), 20 checks at once sharing one credential (one token
# request), everything through the SOCKS5 connector, `account test`'s token step, and the
# canary: no client secret, refresh token or access token in any output at debug level, in
# the database's clear text, the audit trail, the outbox (Kafka payloads) or Redis.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
: "${INBOXQ_TEST_OAUTH_URL:?the harness runs no OAuth2 server (tests/harness/start oauth)}"
it_fresh_db
it_master_key
export INBOXQ_LOG_LEVEL=debug
OAUTH=$INBOXQ_TEST_OAUTH_URL
run=$$
transcript=$IT_TMP/transcript
: >"$transcript"
adm() { curl -sf --cacert "$INBOXQ_CA_FILE" -X POST -d "$2" "$OAUTH/admin/$1"; }
stat_of() { # requests made by CLIENT
  curl -sf --cacert "$INBOXQ_CA_FILE" "$OAUTH/admin/stats" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["by_client"].get(sys.argv[1], 0))' "$1"
}
# check ID: the JSON result; stderr and result go to the transcript
check_json() {
  local out
  out=$(it_check "$1")
  cat "$IT_TMP/check-$1.err" >>"$transcript"
  printf '%s\n' "$out" | tee -a "$transcript"
}
cli() { inboxq "$@" 2>&1 | tee -a "$transcript"; }
dovecot_log=$INBOXQ_TEST_DIR/log/dovecot-oauth.log
logins() { grep -c "Login: user=<$1>, method=$2" "$dovecot_log" || true; }

secret="cs-$run-$RANDOM$RANDOM"
U1=user031 U2=user032 U3=user033 U4=user034
adm client "{\"client_id\":\"app-$run\",\"secret\":\"$secret\",\"username\":\"$U1\",\"token_bytes\":900}" >/dev/null
printf '%s' "$secret" | cli credential add --type oauth2 --name app --username $U1 --provider generic \
  --token-url "$OAUTH/token" --scope mail --client-id "app-$run" --client-secret-stdin >/dev/null

it_empty_mailbox $U1
it_seed $U1 2
imaps=$(inboxq account add --name imaps --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential app --secure yes --secure-type ssl --keep-copy yes)
before=$(logins $U1 XOAUTH2)
r=$(check_json "$imaps")
check "IMAP XOAUTH2: check ok" test "$(jget outcome <<<"$r")" = ok
check "IMAP XOAUTH2: both messages stored" test "$(it_stored_count "$imaps")" = 2
check "IMAP XOAUTH2: Dovecot logged an XOAUTH2 login" test "$(logins $U1 XOAUTH2)" -gt "$before"
check "one token request so far" test "$(stat_of "app-$run")" = 1

starttls=$(inboxq account add --name starttls --host 127.0.0.1 --port "$INBOXQ_TEST_IMAP_OAUTH_PORT" \
  --protocol imap --credential app --secure yes --secure-type tls --auth oauthbearer)
before=$(logins $U1 OAUTHBEARER)
r=$(check_json "$starttls")
check "IMAP OAUTHBEARER after STARTTLS: ok" test "$(jget outcome <<<"$r")" = ok
check "IMAP OAUTHBEARER: Dovecot logged it" test "$(logins $U1 OAUTHBEARER)" -gt "$before"
check "the cached token served the second account" test "$(stat_of "app-$run")" = 1

pop=$(inboxq account add --name pop --host 127.0.0.1 --port "$INBOXQ_TEST_POP3S_OAUTH_PORT" \
  --protocol pop3 --credential app --secure yes --secure-type ssl --auth xoauth2)
r=$(check_json "$pop")
check "POP3 XOAUTH2 with a 1.2 KiB token (two-line form): ok" test "$(jget outcome <<<"$r")" = ok
check "POP3: the messages stored" test "$(it_stored_count "$pop")" = 2

clear=$(inboxq account add --name clear --host 127.0.0.1 --port "$INBOXQ_TEST_IMAP_OAUTH_PORT" \
  --protocol imap --credential app --secure no)
r=$(check_json "$clear")
check "no TLS: class config, the token not sent" test "$(jget error_class <<<"$r")" = config
check "no TLS: the message says why" grep -q "only sent over TLS" <<<"$(jget error <<<"$r")"

out=$(cli account test "$imaps" --format json)
check "account test: ok" test "$(jget ok <<<"$out")" = True
check "account test: token step endpoint" test "$(jget oauth2.endpoint <<<"$out")" = "127.0.0.1:$INBOXQ_TEST_OAUTH_PORT"
check "account test: grant" test "$(jget oauth2.grant <<<"$out")" = client_credentials
check "account test: scope granted" test "$(jget oauth2.scope <<<"$out")" = mail
check "account test: expiry shown" test -n "$(jget oauth2.expires_at <<<"$out")"

# a token the server refuses (revoked at the server): one fresh token, one retry
adm revoke '{"access_tokens": true}' >/dev/null
n=$(stat_of "app-$run")
r=$(check_json "$imaps")
check "refused token: a fresh one, and the check ok" test "$(jget outcome <<<"$r")" = ok
check "refused token: exactly one more request" test "$(stat_of "app-$run")" = $((n + 1))

# a token expiring between two checks (5 s lifetime)
adm client "{\"client_id\":\"short-$run\",\"secret\":\"$secret\",\"username\":\"$U2\",\"ttl\":5}" >/dev/null
printf '%s' "$secret" | cli credential add --type oauth2 --name short --username $U2 --provider generic \
  --token-url "$OAUTH/token" --client-id "short-$run" --client-secret-stdin >/dev/null
short=$(inboxq account add --name short --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential short --secure yes --secure-type ssl)
r=$(check_json "$short")
check "short-lived token: first check ok" test "$(jget outcome <<<"$r")" = ok
sleep 6
r=$(check_json "$short")
check "short-lived token: second check ok after expiry" test "$(jget outcome <<<"$r")" = ok
check "short-lived token: renewed once" test "$(stat_of "short-$run")" = 2

# client assertion (RFC 7523) with a certificate, and a service account (jwt_bearer)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$IT_TMP/app.key" -out "$IT_TMP/app.crt" \
  -subj /CN=inboxq-test-app -days 2 2>/dev/null
$PY - "$IT_TMP/app.crt" "cert-$run" "$U3" >"$IT_TMP/client.json" <<'PY'
import json, sys
print(json.dumps({"client_id": sys.argv[2], "public_key_pem": open(sys.argv[1]).read(), "username": sys.argv[3]}))
PY
adm client "$(cat "$IT_TMP/client.json")" >/dev/null
cli credential add --type oauth2 --name cert --username $U3 --provider generic \
  --token-url "$OAUTH/token" --client-id "cert-$run" --client-certificate "$IT_TMP/app.crt" \
  --client-key "$IT_TMP/app.key" >/dev/null
certacct=$(inboxq account add --name certacct --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential cert --secure yes --secure-type ssl)
r=$(check_json "$certacct")
check "client assertion (RS256, certificate): ok" test "$(jget outcome <<<"$r")" = ok
sa="sa-$run@proj.iam.gserviceaccount.com"
openssl rsa -in "$IT_TMP/app.key" -pubout -out "$IT_TMP/app.pub" 2>/dev/null
$PY - "$IT_TMP/app.key" "$IT_TMP/app.pub" "$sa" "$IT_TMP/sa.json" "$IT_TMP/sa-client.json" <<'PY'
import json, sys
key, pub, sa = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
json.dump({"type": "service_account", "client_email": sa, "private_key": key,
           "private_key_id": "k1"}, open(sys.argv[4], "w"))
json.dump({"client_id": sa, "public_key_pem": pub}, open(sys.argv[5], "w"))
PY
adm client "$(cat "$IT_TMP/sa-client.json")" >/dev/null
cli credential add --type oauth2 --name gsa --username $U3 --provider google --token-url "$OAUTH/token" \
  --service-account-file "$IT_TMP/sa.json" >/dev/null
gsa=$(inboxq account add --name gsa --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential gsa --secure yes --secure-type ssl)
r=$(check_json "$gsa")
check "service account (jwt_bearer, sub = mailbox): ok" test "$(jget outcome <<<"$r")" = ok

# refresh_token: rotation stored back, then revocation -> oauth, long back-off, no loop
adm client "{\"client_id\":\"deleg-$run\"}" >/dev/null
adm refresh "{\"client_id\":\"deleg-$run\",\"username\":\"$U4\",\"scope\":\"mail\"}" |
  $PY -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' >"$IT_TMP/rt"
cli credential add --type oauth2 --name deleg --username $U4 --provider generic --token-url "$OAUTH/token" \
  --client-id "deleg-$run" --grant refresh_token --refresh-token-file "$IT_TMP/rt" >/dev/null
deleg=$(inboxq account add --name deleg --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential deleg --secure yes --secure-type ssl)
v1=$(it_sql "SELECT version FROM credentials WHERE name = 'deleg'")
r=$(check_json "$deleg")
check "refresh_token grant: ok" test "$(jget outcome <<<"$r")" = ok
check "rotated refresh token stored back (credential version grew)" \
  test "$(it_sql "SELECT version FROM credentials WHERE name = 'deleg'")" -gt "$v1"
check "rotation audited without the token" \
  test "$(it_sql "SELECT count(*) FROM audit_log WHERE entity = 'credential' AND changes::text LIKE '%refresh_token%changed%'")" -ge 1
adm revoke "{\"username\":\"$U4\",\"access_tokens\":true}" >/dev/null
it_sql "DELETE FROM oauth_tokens WHERE credential_id = (SELECT id FROM credentials WHERE name = 'deleg')" >/dev/null
n=$(stat_of "deleg-$run")
r=$(check_json "$deleg")
check "revoked refresh token: class oauth" test "$(jget error_class <<<"$r")" = oauth
check "revoked refresh token: tells the operator to authorize again" \
  grep -q "credential authorize deleg" <<<"$(jget error <<<"$r")"
check "revoked refresh token: one request" test "$(stat_of "deleg-$run")" = $((n + 1))
check "revoked refresh token: the long back-off (next check > 8 min away)" \
  test "$(it_sql "SELECT next_check_at > now() + interval '8 minutes' FROM mail_accounts WHERE id = $deleg")" = t
r=$(check_json "$deleg")
check "again at once: still oauth" test "$(jget error_class <<<"$r")" = oauth
check "again at once: no second request (no loop)" test "$(stat_of "deleg-$run")" = $((n + 1))

# the endpoint down (a closed port), then answering 503: transient
printf '%s' "$secret" | cli credential add --type oauth2 --name down --username $U1 --provider generic \
  --token-url "https://127.0.0.1:$((INBOXQ_TEST_OAUTH_PORT + 9))/token" --client-id "app-$run" \
  --client-secret-stdin >/dev/null
down=$(inboxq account add --name down --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential down --secure yes --secure-type ssl)
r=$(check_json "$down")
check "endpoint down: class connect (transient)" test "$(jget error_class <<<"$r")" = connect
check "endpoint down: the message names the token endpoint" grep -q "token endpoint" <<<"$(jget error <<<"$r")"
check "endpoint down: a quick retry is scheduled (within 5 min)" \
  test "$(it_sql "SELECT next_check_at < now() + interval '5 minutes' FROM mail_accounts WHERE id = $down")" = t
adm client "{\"client_id\":\"busy-$run\",\"secret\":\"$secret\",\"username\":\"$U2\"}" >/dev/null
printf '%s' "$secret" | cli credential add --type oauth2 --name busy --username $U2 --provider generic \
  --token-url "$OAUTH/token" --client-id "busy-$run" --client-secret-stdin >/dev/null
busy=$(inboxq account add --name busy --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential busy --secure yes --secure-type ssl)
adm mode '{"mode":"5xx"}' >/dev/null
r=$(check_json "$busy")
adm mode '{"mode":"ok"}' >/dev/null
check "endpoint 503: class connect (transient)" test "$(jget error_class <<<"$r")" = connect
check "endpoint 503: the status named" grep -q "HTTP 503" <<<"$(jget error <<<"$r")"

# 20 checks at once need one token: the others wait for the refresher and use its token
adm client "{\"client_id\":\"many-$run\",\"secret\":\"$secret\",\"username\":\"$U2\"}" >/dev/null
printf '%s' "$secret" | cli credential add --type oauth2 --name many --username $U2 --provider generic \
  --token-url "$OAUTH/token" --client-id "many-$run" --client-secret-stdin >/dev/null
ids=()
for i in $(seq 1 20); do
  ids+=("$(inboxq account add --name "many$i" --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
    --protocol imap --credential many --secure yes --secure-type ssl)")
done
adm mode '{"mode":"slow","delay":1}' >/dev/null
for id in "${ids[@]}"; do check_json "$id" >"$IT_TMP/many-$id.json" & done
wait
adm mode '{"mode":"ok"}' >/dev/null
okc=0
for id in "${ids[@]}"; do [ "$(jget outcome <"$IT_TMP/many-$id.json")" = ok ] && okc=$((okc + 1)); done
check "20 checks at once: all ok" test "$okc" = 20
check "20 checks at once: one token request" test "$(stat_of "many-$run")" = 1

# through the SOCKS5 connector: the token endpoint and the mail server
cli connector add --name socks --type socks5 --host 127.0.0.1 --port "$INBOXQ_TEST_SOCKS_PORT" >/dev/null
adm client "{\"client_id\":\"px-$run\",\"secret\":\"$secret\",\"username\":\"$U3\"}" >/dev/null
printf '%s' "$secret" | cli credential add --type oauth2 --name px --username $U3 --provider generic \
  --token-url "$OAUTH/token" --client-id "px-$run" --client-secret-stdin >/dev/null
px=$(inboxq account add --name px --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential px --secure yes --secure-type ssl --connector socks)
r=$(check_json "$px")
check "through SOCKS5: ok" test "$(jget outcome <<<"$r")" = ok
check "through SOCKS5: the token came through it" test "$(stat_of "px-$run")" = 1
cli connector edit socks --port "$((INBOXQ_TEST_OAUTH_PORT + 9))" >/dev/null
it_sql "DELETE FROM oauth_tokens" >/dev/null
r=$(check_json "$px")
check "a dead connector fails the token step too (proxy)" test "$(jget error_class <<<"$r")" = proxy

# the device flow (RFC 8628): authorize prints the URL and code, waits, stores the refresh token
adm client "{\"client_id\":\"dev-$run\"}" >/dev/null
cli credential add --type oauth2 --name devflow --username $U4 --provider generic \
  --token-url "$OAUTH/token" --device-url "$OAUTH/device" --client-id "dev-$run" --scope mail \
  --grant refresh_token >/dev/null
devacct=$(inboxq account add --name devacct --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_OAUTH_PORT" \
  --protocol imap --credential devflow --secure yes --secure-type ssl)
r=$(check_json "$devacct")
check "before authorize: class oauth, naming the command" grep -q "credential authorize devflow" <<<"$(jget error <<<"$r")"
inboxq credential authorize devflow --timeout 60s >"$IT_TMP/authorize.out" 2>&1 &
apid=$!
code=
for _ in $(seq 1 100); do
  code=$(sed -n 's/.*enter the code \([A-Z0-9]*\).*/\1/p' "$IT_TMP/authorize.out")
  [ -n "$code" ] && break
  sleep 0.1
done
check "authorize prints the verification URL" grep -q "open $OAUTH/device/verify" "$IT_TMP/authorize.out"
adm approve "{\"user_code\":\"$code\",\"username\":\"$U4\"}" >/dev/null
arc=0
wait "$apid" || arc=$?
cat "$IT_TMP/authorize.out" >>"$transcript"
check "authorize exits 0 once approved" test "$arc" = 0
check "authorize says it stored the token" grep -q "authorized" "$IT_TMP/authorize.out"
r=$(check_json "$devacct")
check "after authorize: the check signs in" test "$(jget outcome <<<"$r")" = ok

check "authorize refuses a client_credentials credential" \
  grep -q "only refresh_token credentials" <<<"$(inboxq credential authorize app 2>&1 || true)"

# the canary: no secret anywhere
cli credential show app >/dev/null
cli credential show deleg --format json >/dev/null
pg_dump "$INBOXQ_PG_DSN" >"$IT_TMP/dump.sql"
redis-cli -u "$INBOXQ_REDIS_URL" --scan --pattern "$INBOXQ_REDIS_KEY_PREFIX*" 2>/dev/null |
  while read -r k; do redis-cli -u "$INBOXQ_REDIS_URL" --raw dump "$k" 2>/dev/null; done >"$IT_TMP/redis.txt" || true
curl -sf --cacert "$INBOXQ_CA_FILE" -X POST -d '{}' "$OAUTH/admin/secrets" >"$IT_TMP/secrets.json"
$PY - "$IT_TMP/secrets.json" "$run" >"$IT_TMP/canaries" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["access_tokens"] + s["refresh_tokens"]:
    print(t[:40])
PY
echo "$secret" >>"$IT_TMP/canaries"
check "canaries collected" test "$(wc -l <"$IT_TMP/canaries")" -gt 10
check "debug output captured" grep -q . "$transcript"
leaks=0
for f in "$transcript" "$IT_TMP/dump.sql" "$IT_TMP/redis.txt"; do
  if grep -F -f "$IT_TMP/canaries" "$f" >/dev/null; then
    leaks=$((leaks + 1))
    echo "canary found in $f: $(grep -F -o -f "$IT_TMP/canaries" "$f" | head -1 | cut -c1-12)..." >&2
  fi
done
check "no client secret, refresh or access token in output, database, audit, outbox or Redis" test "$leaks" = 0
finish
