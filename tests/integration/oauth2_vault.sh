#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OAuth2 credentials in the vault, through the CLI on the harness's PostgreSQL: the provider
# presets (Microsoft 365 app-only with a client secret or a client certificate, Google service
# account, Outlook.com, generic), errors that name the flag and exit 64/65 writing nothing,
# `credential show` and `list` without secrets, set-secret refused on OAuth2, account --auth,
# and canary secrets found nowhere: not in any output, not in a pg_dump.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
out=$IT_TMP/out
err=$IT_TMP/err
transcript=$IT_TMP/transcript
# runs inboxq, expecting exit status WANT: run WANT [--stdin TEXT] ARGS...
run() {
  local want=$1 rc=0 input=""
  shift
  if [ "$1" = --stdin ]; then input=$2; shift 2; fi
  printf '%s' "$input" | inboxq "$@" >"$out" 2>"$err" || rc=$?
  cat "$out" "$err" >>"$transcript"
  if [ "$rc" != "$want" ]; then
    fail "inboxq $*: exit $rc, expected $want: $(cat "$out" "$err")"
    return 1
  fi
  pass "inboxq ${*:1:4}... exits $want"
}

canary_secret="cs-canary-$RANDOM$RANDOM$RANDOM"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$IT_TMP/app.key" -out "$IT_TMP/app.crt" \
  -subj /CN=inboxq-app -days 2 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$IT_TMP/other.key" -out "$IT_TMP/other.crt" \
  -subj /CN=other -days 2 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$IT_TMP/ed.key" 2>/dev/null
$PY - "$IT_TMP/app.key" "$IT_TMP/sa.json" <<'PY'
import json, sys
key = open(sys.argv[1]).read()
json.dump({"type": "service_account", "client_email": "reader@proj.iam.gserviceaccount.com",
           "private_key_id": "kid123", "private_key": key, "client_id": "1234",
           "token_uri": "https://oauth2.googleapis.com/token"}, open(sys.argv[2], "w"))
PY
key_line=$(sed -n 2p "$IT_TMP/app.key" | tr -cd 'A-Za-z0-9' | cut -c1-24)

M365=(credential add --type oauth2 --username shared@contoso.example --provider microsoft365)
run 0 --stdin "$canary_secret" "${M365[@]}" --name m365 --tenant contoso.onmicrosoft.com \
  --client-id 11111111-2222-3333-4444-555555555555 --client-secret-stdin
m365=$(cat "$out")
run 0 credential show m365 --format json
check "m365 preset: token endpoint of the tenant" \
  test "$(jget oauth.token_url <"$out")" = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
check "m365 preset: app-only scope" test "$(jget oauth.scope <"$out")" = "https://outlook.office365.com/.default"
check "m365 preset: client_credentials grant" test "$(jget oauth.grant <"$out")" = client_credentials
check "type oauth2" test "$(jget type <"$out")" = oauth2
check "client auth: secret" test "$(jget oauth.client_auth <"$out")" = secret

run 0 "${M365[@]}" --name m365cert --tenant 0b4f3c2e-1d2a-4b5c-8d9e-0f1a2b3c4d5e \
  --client-id app --client-certificate "$IT_TMP/app.crt" --client-key "$IT_TMP/app.key"
run 0 credential show m365cert --format json
check "certificate: client_credentials grant" test "$(jget oauth.grant <"$out")" = client_credentials
check "certificate: x5t thumbprint kept" test -n "$(jget oauth.assertion_kid <"$out")"
check "certificate: client auth" test "$(jget oauth.client_auth <"$out")" = certificate

run 0 credential add --type oauth2 --name gsa --username user@example.org --provider google \
  --service-account-file "$IT_TMP/sa.json"
run 0 credential show gsa --format json
check "google: jwt_bearer" test "$(jget oauth.grant <"$out")" = jwt_bearer
check "google: issuer is the service account" test "$(jget oauth.assertion_iss <"$out")" = reader@proj.iam.gserviceaccount.com
check "google: scope" test "$(jget oauth.scope <"$out")" = "https://mail.google.com/"

run 0 credential add --type oauth2 --name personal --username me@outlook.example --provider outlook \
  --client-id 9e5f94bc-e8a4-4e73-b8be-63364c29d753
run 0 credential show personal
check "outlook: refresh_token grant by default" grep -q '^Grant: *refresh_token' "$out"
check "outlook: consumers tenant" grep -q 'login.microsoftonline.com/consumers/oauth2/v2.0/token' "$out"
check "outlook: device endpoint" grep -q 'consumers/oauth2/v2.0/devicecode' "$out"
check "show: no token yet" grep -q '^Token: *none cached' "$out"

run 0 --stdin "$canary_secret" credential add --type oauth2 --name kc --username u1 \
  --provider generic --token-url https://idp.example:8443/token --scope "imap pop" \
  --client-id inboxq --client-secret-stdin
run 0 credential list --format json
run 0 credential list
check "list table: a TYPE column" grep -qE '^ID +NAME +TYPE +USERNAME' "$out"
check "list table: oauth2 rows" test "$(grep -c ' oauth2 ' "$out")" = 5
run 0 credential list --format json
check "list: types" test "$($PY -c 'import json,sys; print(",".join(c["type"] for c in json.load(sys.stdin)))' <"$out")" = "oauth2,oauth2,oauth2,oauth2,oauth2"

# errors name the flag, write nothing
before=$(it_sql "SELECT count(*) FROM credentials")
run 65 --stdin "$canary_secret" "${M365[@]}" --name bad1 --client-id x --client-secret-stdin
check "missing --tenant named" grep -q -- '--tenant' "$err"
run 64 credential add --type oauth2 --name bad2 --username u
check "missing --provider named" grep -q -- '--provider' "$err"
run 65 credential add --type oauth2 --name bad3 --username u --provider yahoo --client-id x
check "bad --provider named" grep -q -- '--provider: give microsoft365' "$err"
run 65 --stdin "$canary_secret" credential add --type oauth2 --name bad4 --username u \
  --provider generic --client-id x --token-url http://idp.example/token --client-secret-stdin
check "http token URL refused" grep -q -- '--token-url: give an https' "$err"
run 65 credential add --type oauth2 --name bad5 --username u --provider generic --client-id x \
  --token-url https://idp.example/token --grant magic
check "bad --grant named" grep -q -- '--grant:' "$err"
run 65 "${M365[@]}" --name bad6 --tenant t --client-id x --grant client_credentials
check "client_credentials without a secret names the flag" grep -q -- '--client-secret-stdin' "$err"
run 65 "${M365[@]}" --name bad7 --tenant t --client-id x --client-certificate "$IT_TMP/app.crt" \
  --client-key "$IT_TMP/other.key"
check "key of another certificate refused" grep -q -- '--client-key: does not belong' "$err"
run 65 "${M365[@]}" --name bad8 --tenant t --client-id x --client-certificate "$IT_TMP/app.crt"
check "certificate without key refused" grep -q -- '--client-key' "$err"
run 65 "${M365[@]}" --name bad9 --tenant t --client-id x --client-certificate "$IT_TMP/app.crt" \
  --client-key "$IT_TMP/ed.key"
check "non-RSA key refused" grep -q -- 'RSA' "$err"
run 66 credential add --type oauth2 --name bad10 --username u --provider google \
  --service-account-file "$IT_TMP/missing.json"
echo '{"type": "authorized_user"}' >"$IT_TMP/notsa.json"
run 65 credential add --type oauth2 --name bad11 --username u --provider google \
  --service-account-file "$IT_TMP/notsa.json"
check "not a service account named" grep -q -- '--service-account-file' "$err"
run 64 --stdin x credential add --name bad12 --username u --provider google --password-stdin
check "oauth flags need --type oauth2" grep -q -- '--type oauth2' "$err"
run 64 credential add --type magic --name bad13 --username u
check "bad --type named" grep -q -- '--type' "$err"
check "nothing written by the refused adds" test "$(it_sql "SELECT count(*) FROM credentials")" = "$before"

# set-secret would replace the sealed OAuth2 secrets with a password: refused
run 65 --stdin newpass credential set-secret m365 --password-stdin
check "set-secret on oauth2 refused" grep -q 'OAuth2 credential' "$err"
run 0 credential verify m365
check "verify opens the sealed OAuth2 secrets" grep -q 'opens with key' "$out"

# accounts: --auth
run 0 account add --name acct1 --host outlook.office365.com --protocol imap --credential m365 --auth xoauth2
run 0 account show acct1 --format json
check "account auth stored" test "$(jget auth <"$out")" = xoauth2
run 0 account edit acct1 --auth oauthbearer
run 0 account show acct1
check "account show: sign-in" grep -q '^Sign-in: *oauthbearer' "$out"
run 65 account edit acct1 --auth kerberos
check "bad --auth named" grep -q -- '--auth' "$err"
run 0 account add --name acct2 --host h.example --protocol pop3 --credential kc
run 0 account show acct2 --format json
check "auth defaults to auto" test "$(jget auth <"$out")" = auto
run 0 account add --name m365box --provider microsoft365 --credential m365
run 0 account show m365box --format json
check "--provider microsoft365 fills the host" test "$(jget host <"$out")" = outlook.office365.com
check "--provider: implicit TLS, port 993" test "$(jget secure_type <"$out"):$(jget port <"$out")" = ssl:993
run 0 account add --name gpop --provider google --protocol pop3 --credential gsa
run 0 account show gpop --format json
check "--provider google, pop3: pop.gmail.com:995" test "$(jget host <"$out"):$(jget port <"$out")" = pop.gmail.com:995
run 64 account add --name bad --provider yahoo --credential gsa
check "bad account --provider named" grep -q -- '--provider' "$err"
check "audit row of the credential has no secret" \
  test "$(it_sql "SELECT count(*) FROM audit_log WHERE changes::text LIKE '%$canary_secret%'")" = 0

# the canary: no secret in any output, nor in the database's clear text
pg_dump "$INBOXQ_PG_DSN" >"$IT_TMP/dump.sql" 2>/dev/null
check "dump taken" test -s "$IT_TMP/dump.sql"
absent "client secret in CLI output" "$canary_secret" "$transcript"
absent "client secret in pg_dump" "$canary_secret" "$IT_TMP/dump.sql"
absent "private key in CLI output" "$key_line" "$transcript"
absent "private key in pg_dump" "$key_line" "$IT_TMP/dump.sql"
finish
