#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Integration test on the harness's PostgreSQL of the credential vault, Network Connectors,
# accounts and the audit trail through the CLI: every field round-trips through add/edit/show,
# stale edits and in-use deletes are refused, invalid input exits 65 naming the field, the
# audit rows hold old/new values, and a random canary password appears nowhere: not in any
# output, not in stderr, not in a pg_dump of the database.
set -euo pipefail

: "${INBOXQ_TEST_DIR:?INBOXQ_TEST_DIR is not set; start the harness with tests/harness/start}"
# shellcheck disable=SC1091
source "$INBOXQ_TEST_DIR/env"
: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the directory holding the inboxq binary}"
: "${INBOXQ_PG_DSN:?the harness env has no PostgreSQL (start it with: tests/harness/start pg)}"
: "${INBOXQ_PG_ADMIN_DSN:?the harness env has no INBOXQ_PG_ADMIN_DSN}"
BIN=$IQ_BIN_DIR/inboxq
command -v jq >/dev/null || { echo "accounts.sh: jq is required" >&2; exit 1; }

work=$(mktemp -d /tmp/iq-accounts.XXXXXX)
db=iq_accounts_$$_$RANDOM
checks=0
cleanup() {
	local rc=$?
	psql "$INBOXQ_PG_ADMIN_DSN" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	if ((rc == 0)); then rm -rf "$work"; else echo "accounts.sh: kept $work for inspection" >&2; fi
}
trap cleanup EXIT

fail() { echo "accounts.sh: FAIL: $*" >&2; exit 1; }
ok() { checks=$((checks + 1)); }

# A fresh database per script, owned by the harness's inboxq role.
[[ $INBOXQ_PG_DSN == postgresql://*/* && $INBOXQ_PG_DSN != *\?* ]] ||
	fail "unexpected INBOXQ_PG_DSN form (want postgresql://user:pass@host:port/db)"
psql "$INBOXQ_PG_ADMIN_DSN" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db OWNER inboxq" >/dev/null
export INBOXQ_PG_DSN="${INBOXQ_PG_DSN%/*}/$db"
unset INBOXQ_MASTER_KEY_FILE

# Every CLI run goes through here: stdout in $OUT, stderr in $ERR, both in the transcript.
# run RC ARGS...     expects exit code RC
# run_in INPUT RC ARGS...   the same, with INPUT on stdin
run_in() {
	local input=$1 want=$2 rc=0
	shift 2
	printf '%s' "$input" | "$BIN" "$@" >"$work/out" 2>"$work/err" || rc=$?
	cat "$work/out" "$work/err" >>"$work/transcript"
	OUT=$(cat "$work/out")
	ERR=$(cat "$work/err")
	[[ $rc == "$want" ]] || fail "inboxq $*: exit $rc, expected $want; stdout: $OUT; stderr: $ERR"
	ok
}
run() {
	local want=$1 rc=0
	shift
	"$BIN" "$@" </dev/null >"$work/out" 2>"$work/err" || rc=$?
	cat "$work/out" "$work/err" >>"$work/transcript"
	OUT=$(cat "$work/out")
	ERR=$(cat "$work/err")
	[[ $rc == "$want" ]] || fail "inboxq $*: exit $rc, expected $want; stdout: $OUT; stderr: $ERR"
	ok
}
# Errors are one line, "inboxq: ...", and name what is wrong.
err_has() {
	[[ $ERR == inboxq:* ]] || fail "stderr does not start with 'inboxq:': $ERR"
	(($(printf '%s\n' "$ERR" | wc -l) == 1)) || fail "stderr is not one line: $ERR"
	[[ $ERR == *"$1"* ]] || fail "stderr lacks '$1': $ERR"
	ok
}
# jv JSON FILTER EXPECTED: jq -c FILTER on JSON must print EXPECTED.
jv() {
	local got
	got=$(jq -c "$2" <<<"$1") || fail "jq $2 failed on: $1"
	[[ $got == "$3" ]] || fail "$2 is $got, expected $3"
	ok
}
sql() { psql "$INBOXQ_PG_DSN" -Atq -v ON_ERROR_STOP=1 -c "$1"; }

canary="canary-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
canary2="canary2-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
canary3="canary3-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

# Before 'inboxq migrate': a clear configuration error, not a crash.
run 78 credential list
err_has "inboxq migrate"
run 78 account add --name early --host h --protocol imap --credential 1
err_has "inboxq migrate"
run 0 migrate

# ---- keygen and the master key ----
run 0 keygen --output "$work/key1"
[[ $OUT =~ ^[0-9a-f]{16}$ ]] || fail "keygen printed '$OUT', not a key id"
key1_id=$OUT
[[ $(stat -c %a "$work/key1") == 600 && $(stat -c %s "$work/key1") == 32 ]] ||
	fail "key1 is not 32 bytes of mode 600"
cp "$work/key1" "$work/key1.bak"
run 73 keygen --output "$work/key1"
err_has "refusing to overwrite"
cmp -s "$work/key1" "$work/key1.bak" || fail "keygen changed an existing key"
run 64 keygen
run 0 keygen --help

# No key configured, a missing key, a too open key: one clear line, exit 78.
run_in "$canary" 78 credential add --name nokey --username u --password-stdin
err_has "master_key_file"
export INBOXQ_MASTER_KEY_FILE=$work/missing.key
run_in "$canary" 78 credential add --name nokey --username u --password-stdin
err_has "missing.key"
cp "$work/key1" "$work/open.key"
chmod 644 "$work/open.key"
export INBOXQ_MASTER_KEY_FILE=$work/open.key
run_in "$canary" 78 credential add --name nokey --username u --password-stdin
err_has "chmod 600"
head -c 31 "$work/key1" >"$work/short.key"
chmod 600 "$work/short.key"
export INBOXQ_MASTER_KEY_FILE=$work/short.key
run_in "$canary" 78 credential add --name nokey --username u --password-stdin
err_has "exactly 32"
export INBOXQ_MASTER_KEY_FILE=$work/key1
[[ $(sql "SELECT count(*) FROM credentials") == 0 ]] || fail "a refused add wrote a row"

# ---- credentials ----
run_in "$canary"$'\n' 0 --log-level debug credential add --name alice --username alice@example.com \
	--password-stdin
[[ $OUT =~ ^[0-9]+$ ]] || fail "credential add printed '$OUT', not an id alone"
cred_alice=$OUT
printf '%s\r\n' "$canary2" >"$work/pw"
run 0 credential add --name bob --username bob --password-file "$work/pw"
cred_bob=$OUT
rm -f "$work/pw"
run_in "$canary3" 0 credential add --name spare --username spare --password-stdin
cred_spare=$OUT
run_in "$canary" 0 credential verify alice --password-stdin
run_in "$canary2" 0 credential verify "$cred_bob" --password-stdin
run_in "$canary" 1 credential verify bob --password-stdin
run 0 credential verify spare

run_in x 65 credential add --name ALICE --username u --password-stdin
err_has "name:"
run_in x 65 credential add --name 123 --username u --password-stdin
err_has "name:"
run_in "" 65 credential add --name empty --username u --password-stdin
err_has "secret:"
run_in $'two\nlines' 65 credential add --name twolines --username u --password-stdin
err_has "secret:"
run_in x 65 credential add --name nouser --username "" --password-stdin
err_has "username:"
run 64 credential add --name nosecret --username u
head -c 70000 /dev/zero | tr '\0' a >"$work/huge"
run 65 credential add --name huge --username u --password-file "$work/huge"
err_has "secret:"
run 66 credential add --name nofile --username u --password-file "$work/nonexistent"

run 0 credential show alice --format json
jv "$OUT" '[.id, .name, .username, .key_id, .accounts, .connectors]' \
	"[$cred_alice,\"alice\",\"alice@example.com\",\"$key1_id\",0,0]"
jv "$OUT" 'has("secret") or has("secret_ct")' false
run 0 credential show "$cred_alice"
[[ $OUT == *"never shown"* ]] || fail "credential show text lacks the secret notice"
run 0 credential list --format json
jv "$OUT" 'map(.name)' '["alice","bob","spare"]'
run 0 credential list
# one time format for people in every table (issue 12, item 26)
[[ $OUT =~ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}\ UTC ]] || fail "credential list's UPDATED is not YYYY-MM-DD HH:MM UTC: $OUT"
[[ $OUT != *T[0-9][0-9]:* ]] || fail "credential list still shows an RFC 3339 time: $OUT"
run 66 credential show nobody
err_has "nobody"

# ---- connectors ----
run 0 connector add --name sock --type socks5 --host 127.0.0.1 --port 1080 --credential bob
conn_sock=$OUT
[[ $conn_sock =~ ^[0-9]+$ ]] || fail "connector add printed '$conn_sock'"
run 0 connector add --name web --type http --host proxy.internal.example --port 3128
conn_web=$OUT
run 0 connector show sock --format json
jv "$OUT" '[.name, .type, .host, .port, .credential_id, .credential, .active]' \
	"[\"sock\",\"socks5\",\"127.0.0.1\",1080,$cred_bob,\"bob\",true]"
run 0 connector edit web --type socks5 --host '[2001:db8::9]' --port 1081 --credential spare \
	--active no
run 0 connector show "$conn_web" --format json
jv "$OUT" '[.name, .type, .host, .port, .credential, .active, .version]' \
	'["web","socks5","2001:db8::9",1081,"spare",false,2]'
run 0 connector edit web --credential '' --type http --active yes
run 0 connector show web --format json
jv "$OUT" '[.type, .credential_id, .active]' '["http",null,true]'
run 65 connector add --name bad --type socks4 --host h --port 1
err_has "type:"
run 65 connector add --name bad --type http --host 'h h' --port 1
err_has "host:"
run 65 connector add --name bad --type http --host h --port 0
err_has "port:"
run 65 connector add --name SOCK --type http --host h --port 1
err_has "name:"
run 65 connector add --name bad --type http --host h --port 1 --credential nobody
err_has "credential:"
run 0 connector list

# ---- accounts: add with defaults, and with every field ----
run 0 account add --name "Conta Suporte" --host imap.example.com --protocol imap --credential alice
[[ $OUT =~ ^[0-9]+$ ]] || fail "account add printed '$OUT', not a code alone"
acct_a=$OUT
run 0 account show "$acct_a" --format json
jv "$OUT" '[.id, .name, .host, .port, .port_is_default, .protocol, .secure, .secure_type]' \
	"[$acct_a,\"Conta Suporte\",\"imap.example.com\",993,true,\"imap\",true,\"ssl\"]"
jv "$OUT" '[.keep_copy, .auto_check, .active, .ignore_certificate, .use_connector, .connector_id]' \
	'[true,true,true,false,false,null]'
jv "$OUT" '[.credential_id, .credential, .folder, .apop, .check_interval_s, .check_interval, .version]' \
	"[$cred_alice,\"alice\",\"INBOX\",false,300,\"5m\",1]"

run 0 account add --name "Pop Full" --host '[2001:db8::25]' --port 2110 --protocol pop3 \
	--credential "$cred_bob" --secure yes --secure-type tls --ignore-certificate yes \
	--keep-copy no --auto-check no --active no --connector sock \
	--check-interval 1h --apop yes
acct_b=$OUT
run 0 account show "Pop Full" --format json
full=$OUT
jv "$full" '[.name, .host, .port, .port_is_default, .protocol, .secure, .secure_type]' \
	'["Pop Full","2001:db8::25",2110,false,"pop3",true,"tls"]'
jv "$full" '[.keep_copy, .auto_check, .active, .ignore_certificate, .use_connector]' \
	'[false,false,false,true,true]'
jv "$full" '[.connector_id, .connector, .credential_id, .credential, .folder, .apop]' \
	"[$conn_sock,\"sock\",$cred_bob,\"bob\",\"INBOX\",true]"
jv "$full" '[.check_interval_s, .check_interval]' '[3600,"1h"]'
jv "$full" '[.push, .pushed_by, .pushed_since]' '["auto",null,null]'

# ---- push (IMAP IDLE): auto by default, idle|off, POP3 never idle, shown in list JSON ----
run 0 account add --name "Push Acct" --host imap.example.com --protocol imap --credential alice
acct_p=$OUT
run 0 account show "$acct_p" --format json
jv "$OUT" '[.push, .pushed_by]' '["auto",null]'
run 0 account edit "$acct_p" --push idle
run 0 account show "$acct_p" --format json
jv "$OUT" '.push' '"idle"'
run 65 account edit "$acct_p" --push sometimes
err_has "push:"
err_has "auto, idle or off"
run 65 account edit "$acct_b" --push idle
err_has "POP3 has no push"
run 0 account edit "$acct_p" --push OFF
run 0 account list --format json
jv "$OUT" "[.accounts[] | select(.id == $acct_p) | .push]" '["off"]'
jv "$OUT" "[.accounts[] | select(.id == $acct_b) | .push]" '["auto"]'
run 0 account show "$acct_p"
[[ $OUT == *"Push (IMAP IDLE):        off"* && $OUT == *"Pushed now:              no"* ]] ||
	fail "account show text lacks the push lines: $OUT"
run 0 account delete "$acct_p"

run 0 account show "$acct_b"
for label in "Code:" "Account name:" "Keep copy on server:" "Automatic check:" "Active:" \
	"Address:" "Port:" "Protocol:" "Use Network Connector:" "Network Connector:" "Credential:" \
	"Ignore certificate:" "Use secure connection:" "Secure connection type:"; do
	[[ $OUT == *"$label"* ]] || fail "account show lacks the label '$label'"
done
[[ $OUT == *"Protocol:                POP3"* && $OUT == *"TLS (STARTTLS"* ]] ||
	fail "account show text: $OUT"

run 0 account add --name "Caixa São Paulo – ação" --host mail.example.com.br --protocol imap \
	--credential alice --auto-check no
run 0 account show "caixa são paulo – ação" --format json
jv "$OUT" '[.name, .auto_check]' '["Caixa São Paulo – ação",false]'
run 0 account delete "Caixa São Paulo – ação"

# Standard ports for each protocol and security.
i=0
for combo in "imap yes ssl 993" "imap yes tls 143" "imap no - 143" "pop3 yes ssl 995" \
	"pop3 yes tls 110" "pop3 no - 110"; do
	read -r proto sec stype want <<<"$combo"
	args=(--name "port$i" --host "mail$i.example" --protocol "$proto" --credential spare --secure "$sec")
	[[ $stype == - ]] || args+=(--secure-type "$stype")
	run 0 account add "${args[@]}"
	run 0 account show "$OUT" --format json
	jv "$OUT" '[.port, .port_is_default]' "[$want,true]"
	i=$((i + 1))
done

# ---- edit: only what is given ----
run 0 account show "$acct_a" --format json
before=$OUT
run 0 account edit "$acct_a" --port 1993 --keep-copy no
[[ $OUT == *updated* ]] || fail "edit said '$OUT'"
run 0 account show "$acct_a" --format json
after=$OUT
jv "$after" '[.port, .port_is_default, .keep_copy, .version]' '[1993,false,false,2]'
strip='del(.port, .port_is_default, .keep_copy, .version, .updated_at, .next_check_at)'
[[ $(jq -S "$strip" <<<"$before") == "$(jq -S "$strip" <<<"$after")" ]] ||
	fail "edit changed fields it was not given"
ok
# Every field through edit (folder and ignore-certificate while IMAP over TLS: the next edit
# makes them meaningless, and they go back to their defaults, INBOX and no).
run 0 account edit "Conta Suporte" --folder Sent --ignore-certificate yes
run 0 account edit "Conta Suporte" --name "Conta Editada" --host 192.0.2.10 --port '' \
	--protocol pop3 --credential spare --secure no --keep-copy yes \
	--auto-check no --active no --use-connector yes --connector web \
	--check-interval 30s --apop yes
run 0 account show "$acct_a" --format json
jv "$OUT" '[.name, .host, .port, .port_is_default, .protocol, .secure, .secure_type]' \
	'["Conta Editada","192.0.2.10",110,true,"pop3",false,null]'
jv "$OUT" '[.ignore_certificate, .keep_copy, .auto_check, .active, .use_connector, .connector]' \
	'[false,true,false,false,true,"web"]'
jv "$OUT" '[.credential, .folder, .check_interval_s, .apop, .version]' '["spare","INBOX",30,true,4]'
run 0 account edit "$acct_a" --secure yes --use-connector no --check-interval 1d
run 0 account show "$acct_a" --format json
jv "$OUT" '[.secure, .secure_type, .port, .use_connector, .connector_id, .check_interval_s]' \
	'[true,"ssl",995,false,null,86400]'
run 0 account edit "$acct_a" --check-interval 1d
[[ $OUT == *"no change"* ]] || fail "an edit to the same value said '$OUT'"
run 0 account edit "$acct_a" --name "Conta Suporte" --credential alice --auto-check yes --active yes
run 64 account edit "$acct_a"
run 66 account edit 999999 --port 1
run 66 account show "no such account"

# ---- one account resolver: every command that takes an account takes its code or its name,
# and an unknown one is the same message and exit 66 everywhere (hardening item 16) ----
nosuch="no account has the code or name"
for ref in "Nope Account" 999999; do
	for cmd in "account show" "account edit @ --port 1" "account delete" "account enable" \
		"account disable" "account test" "check" "check @ --direct" "inbox" "runs" "audit --account"; do
		# a deleted account's trail is still found by its code
		[[ $cmd == audit* && $ref == 999999 ]] && continue
		read -r -a words <<<"$cmd"
		args=()
		placed=0
		for w in "${words[@]}"; do
			if [[ $w == @ ]]; then args+=("$ref"); placed=1; else args+=("$w"); fi
		done
		((placed)) || args+=("$ref")
		run 66 "${args[@]}"
		err_has "${words[0]}"
		err_has "$nosuch '$ref'; see 'inboxq account list'"
	done
done
# several unknown at once: one message naming them all, nothing published
run 66 check "$acct_a" "Nope Account" 999999
err_has "check: $nosuch 'Nope Account', '999999'"
# names work where only numbers did
run 0 runs "conta suporte"
[[ $OUT == *"Conta Suporte"* ]] || fail "runs by name: $OUT"
run 0 runs "$acct_a" --format json
jv "$OUT" '.account_id' "$acct_a"
run 0 inbox "Conta Suporte" --format json
run 0 audit --account "Conta Suporte"

# ---- stale edits ----
run 0 account show "$acct_a" --format json
v=$(jq .version <<<"$OUT")
run 0 account edit "$acct_a" --check-interval 10m --expect-version "$v"
run 75 account edit "$acct_a" --check-interval 20m --expect-version "$v"
err_has "version"
# A real race: another session changes the row between this edit's read and its write.
psql "$INBOXQ_PG_DSN" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL &
BEGIN;
UPDATE mail_accounts SET folder = 'Raced', version = version + 1 WHERE id = $acct_a;
SELECT pg_sleep(3);
COMMIT;
SQL
racer=$!
for _ in $(seq 100); do
	[[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND state = 'active' AND pid <> pg_backend_pid()") == 1 ]] && break
	sleep 0.05
done
run 75 account edit "$acct_a" --check-interval 40m
err_has "run the edit again"
wait "$racer"
run 0 account show "$acct_a" --format json
jv "$OUT" '.folder' '"Raced"'

# ---- enable / disable ----
run 0 account disable "$acct_a"
[[ $OUT == *"now inactive"* ]] || fail "disable said '$OUT'"
run 0 account disable "Conta Suporte"
[[ $OUT == *"already inactive"* ]] || fail "disable twice said '$OUT'"
run 0 account enable "$acct_a"
run 0 account show "$acct_a" --format json
jv "$OUT" '.active' true

# ---- invalid input: exit 65, the field named, nothing written ----
nacc=$(sql "SELECT count(*) FROM mail_accounts")
base=(--host imap.example.com --protocol imap --credential alice)
bad() { # FIELD ARGS...
	local field=$1
	shift
	run 65 account add "$@"
	err_has "$field:"
	err_has "(--$field)" # the library names the field, the CLI its option
	case $ERR in *"give --"* | *"; drop --"*) fail "the library spoke of options: $ERR" ;; esac
}
bad name --host h --protocol imap --credential alice
bad host --name n1 --protocol imap --credential alice
bad protocol --name n1 --host h --credential alice
bad credential --name n1 --host h --protocol imap
bad name --name "conta suporte" "${base[@]}"
bad name --name 4711 "${base[@]}"
bad host --name n1 --host 'bad host' --protocol imap --credential alice
bad host --name n1 --host 1.2.3.999 --protocol imap --credential alice
bad port --name n1 "${base[@]}" --port 0
bad port --name n1 "${base[@]}" --port 65536
bad port --name n1 "${base[@]}" --port abc
bad protocol --name n1 --host h --protocol smtp --credential alice
bad secure-type --name n1 "${base[@]}" --secure no --secure-type tls
bad secure-type --name n1 "${base[@]}" --secure-type starttls
bad connector --name n1 "${base[@]}" --use-connector no --connector sock
bad connector --name n1 "${base[@]}" --use-connector yes
bad connector --name n1 "${base[@]}" --connector nosuch
bad credential --name n1 --host h --protocol imap --credential nosuch
run 0 connector add --name sleepy --type socks5 --host 127.0.0.1 --port 1080 --active no
bad connector --name n1 "${base[@]}" --connector sleepy
err_has "is inactive"
run 0 connector delete sleepy
bad check-interval --name n1 "${base[@]}" --check-interval 4s
bad check-interval --name n1 "${base[@]}" --check-interval 8d
bad check-interval --name n1 "${base[@]}" --check-interval soon
bad keep-copy --name n1 "${base[@]}" --keep-copy maybe
bad folder --name n1 "${base[@]}" --folder ''
# names: no invisible or direction-changing characters; stored NFC; unique ignoring case and
# width (item 19)
bad name --name $'RTL \u202Eevil' "${base[@]}"
err_has "U+202E"
bad name --name $'Zero\u200DWidth' "${base[@]}"
err_has "U+200D"
bad name --name "ＣＯＮＴＡ　ＳＵＰＯＲＴＥ" "${base[@]}" # full-width: the same name
err_has "ignoring case and character width"
run 0 account add --name $'Sa\u0303o Paulo' "${base[@]}" # decomposed
nfc_id=$OUT
[[ $(sql "SELECT name = U&'S\00E3o Paulo' FROM mail_accounts WHERE id = $nfc_id") == t ]] ||
	fail "the decomposed name was not stored composed (NFC)"
run 0 account show "SÃO PAULO" --format json # and found by its composed, upper-case form
jv "$OUT" '.id' "$nfc_id"
run 65 account add --name "são paulo" "${base[@]}"
run 0 account delete "$nfc_id"
run_in x 65 credential add --name "ＡＬＩＣＥ" --username u --password-stdin
err_has "name:"
run_in x 65 credential add --name $'al\u200Bice2' --username u --password-stdin
err_has "U+200B"
run 65 connector add --name $'\u2066web\u2069' --type http --host h --port 1
err_has "U+2066"
# and the database refuses a width-insensitive duplicate even without the program's check
sql "INSERT INTO mail_accounts (name, host, port, protocol, credential_id)
     VALUES ('ｃｏｎｔａ ｓｕｐｏｒｔｅ', 'h', 993, 'imap', $cred_alice)" >/dev/null 2>&1 &&
	fail "the unique index took a full-width duplicate"
ok
# flag combinations that mean nothing (one rule table, add and edit alike; item 21)
bad apop --name n1 "${base[@]}" --apop yes
err_has "only applies to POP3 accounts; leave it out, or set protocol to pop3 (--apop)"
bad folder --name n1 --host h --protocol pop3 --credential alice --folder Sent
err_has "only applies to IMAP accounts"
bad ignore-certificate --name n1 "${base[@]}" --secure no --ignore-certificate yes
err_has "only applies to a secure connection"
run 0 account add --name n1 "${base[@]}" --secure no --ignore-certificate no --apop no
run 0 account delete n1
[[ $(sql "SELECT count(*) FROM mail_accounts") == "$nacc" ]] || fail "a refused add wrote a row"
run 0 account show "$acct_a" --format json
v=$(jq .version <<<"$OUT")
run 65 account edit "$acct_a" --port 99999
err_has "port:"
run 65 account edit "$acct_a" --name "Pop Full"
err_has "name:"
run 65 account edit "$acct_a" --secure no --secure-type ssl
err_has "secure-type:"
run 65 account edit "Pop Full" --folder Sent
err_has "folder: 'Sent' only applies to IMAP accounts"
run 65 account edit "Pop Full" --protocol imap --apop yes
err_has "(--apop)"
run 65 account edit "Pop Full" --secure no --ignore-certificate yes
err_has "ignore-certificate:"
run 0 account show "$acct_a" --format json
jv "$OUT" '.version' "$v"

# ---- deletes refused while in use ----
run 65 credential delete alice
err_has "Conta Suporte"
run 65 credential delete bob
err_has "connector $conn_sock 'sock'"
[[ $ERR == *"account $acct_b 'Pop Full'"* ]] || fail "credential delete does not name the account: $ERR"
run 65 connector delete sock
err_has "Pop Full"
[[ $(sql "SELECT count(*) FROM credentials") == 3 && $(sql "SELECT count(*) FROM network_connectors") == 2 ]] ||
	fail "a refused delete removed something"

# ---- the secret: set-secret, a moved ciphertext, rekey ----
run_in "$canary3"$'\n' 0 credential set-secret spare --password-stdin --username spare2
run_in "$canary3" 0 credential verify spare --password-stdin
run 0 credential show spare --format json
jv "$OUT" '[.username, .version]' '["spare2",2]'
# Copying alice's sealed secret into bob's row must not decrypt there.
sql "UPDATE credentials d SET secret_nonce = s.secret_nonce, secret_tag = s.secret_tag,
     secret_ct = s.secret_ct FROM credentials s WHERE s.id = $cred_alice AND d.id = $cred_bob" >/dev/null
run 65 credential verify bob
err_has "does not authenticate"
run_in "$canary" 0 credential verify alice --password-stdin
run_in "$canary2" 0 credential set-secret bob --password-stdin
run_in "$canary2" 0 credential verify bob --password-stdin

run 0 keygen --output "$work/key2"
key2_id=$OUT
run 65 credential rekey --new-key-file "$work/key1"
err_has "current master key"
chmod 660 "$work/key2"
run 78 credential rekey --new-key-file "$work/key2"
err_has "chmod 600"
chmod 600 "$work/key2"
# A row sealed with a third key: refused, nothing changes.
sql "UPDATE credentials SET key_id = 'deadbeefdeadbeef' WHERE id = $cred_spare" >/dev/null
run 78 credential rekey --new-key-file "$work/key2"
err_has "deadbeefdeadbeef"
[[ $(sql "SELECT count(*) FROM credentials WHERE key_id = '$key1_id'") == 2 ]] ||
	fail "a refused rekey changed rows"
sql "UPDATE credentials SET key_id = '$key1_id' WHERE id = $cred_spare" >/dev/null
run 0 credential rekey --new-key-file "$work/key2"
[[ $OUT == *"re-encrypted 3 credential"* ]] || fail "rekey said '$OUT'"
[[ $(sql "SELECT count(DISTINCT key_id) || ':' || min(key_id) FROM credentials") == "1:$key2_id" ]] ||
	fail "rekey left rows under the old key"
run 78 credential verify alice
err_has "$key2_id"
export INBOXQ_MASTER_KEY_FILE=$work/key2
run_in "$canary" 0 credential verify alice --password-stdin
run_in "$canary2" 0 credential verify bob --password-stdin
run_in "$canary3" 0 credential verify spare --password-stdin
run 0 credential rekey --new-key-file "$work/key1"
export INBOXQ_MASTER_KEY_FILE=$work/key1
run_in "$canary" 0 credential verify alice --password-stdin

# ---- deletes once unused ----
run 0 account delete "$acct_b"
run 66 account show "$acct_b"
run 0 connector delete sock
run 0 credential delete bob
run 66 credential show bob

# ---- the audit trail ----
run 0 audit --account "$acct_a" --format json
trail=$OUT
jv "$trail" '[.[] | .entity] | unique' '["account"]'
jv "$trail" "[.[] | select(.entity_id != $acct_a)] | length" 0
jv "$trail" '[.[] | select(.action == "create")] | length' 1
jv "$trail" '[.[] | select(.action == "create")][0].changes | [.name.old, .name.new, .port.new, .credential_id.new]' \
	"[null,\"Conta Suporte\",993,$cred_alice]"
jv "$trail" '[.[] | select(.action == "update" and .changes.port.new == 1993)][0].changes |
	[.port.old, .port.new, .keep_copy.old, .keep_copy.new, (keys | sort)]' \
	'[993,1993,true,false,["keep_copy","port","port_is_default"]]'
jv "$trail" '[.[] | select(.action == "update" and .changes.active != null)] | map(.changes.active.new)' \
	'[true,false,true,false]'
jv "$trail" '[.[] | .actor | length > 0] | all' true
# One operator identity (item 22): "cli:" and the OS user name (from the uid when $USER is
# unset), the same in the audit rows and in the check runs.
me=$(id -un)
idrun() { env -u USER -u SUDO_USER "$BIN" "$@" </dev/null >"$work/out" 2>"$work/err"; }
idrun account add --name idcheck --host 127.0.0.1 --port 1 --protocol imap --credential alice \
	--secure no || fail "account add without \$USER: $(cat "$work/err")"
idc=$(cat "$work/out")
rc=0
idrun check idcheck --direct || rc=$?
((rc == 1)) || fail "check --direct of a closed port exited $rc: $(cat "$work/err")"
[[ $(sql "SELECT actor FROM audit_log WHERE entity = 'account' AND entity_id = $idc") == "cli:$me" ]] ||
	fail "audit actor without \$USER: $(sql "SELECT actor FROM audit_log WHERE entity_id = $idc")"
[[ $(sql "SELECT requested_by FROM check_runs WHERE account_id = $idc") == "cli:$me" ]] ||
	fail "check run requested_by: $(sql "SELECT requested_by, worker FROM check_runs WHERE account_id = $idc")"
USER=alice SUDO_USER='' run 0 account disable idcheck
[[ $(sql "SELECT actor FROM audit_log WHERE entity_id = $idc ORDER BY id DESC LIMIT 1") == cli:alice ]] ||
	fail "audit actor with USER=alice"
# account delete says what it removes, and with stored messages needs --yes off a terminal
# (item 25)
sql "INSERT INTO messages (account_id, mailbox, server_id, sha256, size, raw)
     VALUES ($idc, 'INBOX', '1:1', decode(repeat('ab', 32), 'hex'), 2048, 'hello')" >/dev/null
run 64 account delete idcheck
err_has "1 stored message that are deleted with it; give --yes"
[[ $OUT == *"'idcheck' is deleted with 1 stored message (2.0 KiB), its mailbox state and 1 check run"* ]] ||
	fail "account delete did not say what it removes: $OUT"
[[ $(sql "SELECT count(*) FROM messages WHERE account_id = $idc") == 1 ]] || fail "a refused delete removed mail"
run 0 account delete idcheck --yes
[[ $OUT == *"deleted"* ]] || fail "account delete --yes: $OUT"
[[ $(sql "SELECT count(*) FROM messages WHERE account_id = $idc") == 0 ]] || fail "messages left"
ok
# one machine time format (RFC 3339 UTC, seconds) and one for people (item 26)
run 0 audit --entity account --limit 3 --format json
jv "$OUT" '[.[] | .at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")] | all' true
run 0 audit --entity account --limit 3
[[ $(sed -n 2p <<<"$OUT") =~ ^20[0-9]{2}-[01][0-9]-[0-3][0-9]\ [0-2][0-9]:[0-5][0-9]\ UTC\  ]] ||
	fail "audit table time: $(sed -n 2p <<<"$OUT")"
run 0 account show "$acct_a"
[[ $OUT =~ Created:\ +20[0-9]{2}-[01][0-9]-[0-3][0-9]\ [0-2][0-9]:[0-5][0-9]\ UTC$'\n' ]] ||
	fail "account show time: $(grep Created <<<"$OUT")"
run 0 account show "$acct_a" --format json
jv "$OUT" '.created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")' true
run 0 credential show alice
[[ $OUT =~ Created:\ +20[0-9]{2}-[01][0-9]-[0-3][0-9]\ [0-2][0-9]:[0-5][0-9]\ UTC ]] ||
	fail "credential show time: $(grep Created <<<"$OUT")"
run 0 audit --entity account --id "$acct_b" --format json
jv "$OUT" 'map(.action)' '["delete","create"]'
jv "$OUT" '.[0].changes | [.name.old, .name.new, .connector_id.old]' "[\"Pop Full\",null,$conn_sock]"
run 0 audit --entity credential --format json
creds=$OUT
jv "$creds" "[.[] | select(.entity_id == $cred_alice and .action == \"create\")][0].changes.secret" \
	'{"changed":true}'
jv "$creds" "[.[] | select(.entity_id == $cred_spare and (.changes.secret != null) and .action == \"update\")][0].changes |
	[.secret, .username.old, .username.new]" '[{"changed":true},"spare","spare2"]'
jv "$creds" "[.[] | select(.changes.key_id.new == \"$key2_id\")] | length" 3
jv "$creds" "[.[] | select(.entity_id == $cred_bob and .action == \"delete\")][0].changes.name.old" '"bob"'
run 0 audit --entity connector --format json
jv "$OUT" 'map(.action) | sort' '["create","create","create","delete","delete","update","update"]' # with the inactive 'sleepy'
jv "$OUT" "[.[] | select(.entity_id == $conn_web and .action == \"update\")][-1].changes |
	[.type.old, .type.new, .port.old, .port.new]" '["http","socks5",3128,1081]'
run 0 audit --limit 3
(($(wc -l <<<"$OUT") == 4)) || fail "audit --limit 3 printed: $OUT"
run 0 audit --account "$acct_b" --format json # a deleted account's trail, by code
jv "$OUT" 'length' 2
run 66 audit --account "no such name"
run 64 audit --entity users

# ---- wide names line up: every table measures terminal columns (CJK and emoji take two) ----
# aligned HEADER: in $OUT, every line below the first has a cell that starts at the terminal
# column where HEADER starts on the first line (widths from Python's Unicode tables, not ours).
aligned() {
	python3 - "$1" "$OUT" <<'EOF' || fail "column $1 is not aligned in: $OUT"
import sys
import unicodedata

head, text = sys.argv[1], sys.argv[2]


def cols(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


lines = text.split("\n")
at = cols(lines[0][:lines[0].index(head)])
for line in lines[1:lines.index("") if "" in lines else len(lines)]:  # to the footer
    w = i = 0
    while i < len(line) and w < at:
        w += cols(line[i])
        i += 1
    if w != at or i >= len(line) or line[i - 1] != " " or line[i] == " ":
        sys.exit(f"{head} starts at column {at}, a cell of this line does not: {line!r}")
EOF
	ok
}
wide='日本の代理サーバー' emoji='😀 proxy' # 18 and 8 columns, 9 and 7 characters
USER='山田太郎' SUDO_USER='' run 0 connector add --name "$wide" --type http --host wide.example --port 8080
run 0 connector add --name "$emoji" --type http --host emoji.example --port 8081
run 0 connector list
[[ $OUT == *"$wide"* && $OUT == *"$emoji"* ]] || fail "connector list lacks the wide names: $OUT"
aligned TYPE
run 0 audit --entity connector --limit 3 # the second row's actor is wide
[[ $OUT == *'山田太郎'* ]] || fail "audit lacks the wide actor: $OUT"
aligned ACTION
run 0 account add --name "$wide" --host imap.example.com --protocol imap --credential alice
run 0 account add --name "$emoji" --host imap.example.com --protocol imap --credential alice
COLUMNS=200 run 0 account list
# shown whole: the name column is as wide as the widest name in columns (18), not in
# characters (13, "Conta Suporte")
[[ $OUT == *"$wide"* && $OUT == *"$emoji"* ]] || fail "account list cut the wide names: $OUT"
aligned Secure

# ---- --help everywhere ----
for cmd in "keygen" "credential" "credential add" "credential list" "credential show" \
	"credential set-secret" "credential delete" "credential rekey" "credential verify" \
	"connector" "connector add" "connector list" "connector show" "connector edit" \
	"connector delete" "account" "account add" "account edit" "account show" \
	"account delete" "account enable" "account disable" "audit"; do
	read -r -a words <<<"$cmd"
	run 0 "${words[@]}" --help
	[[ $OUT == usage:* ]] || fail "inboxq $cmd --help printed: $OUT"
done

# ---- the canary: nowhere in any output, nor in the database dump ----
pg_dump --no-owner "$INBOXQ_PG_DSN" >"$work/dump.sql"
grep -q "CREATE TABLE public.credentials" "$work/dump.sql" || fail "pg_dump produced no schema"
for c in "$canary" "$canary2" "$canary3"; do
	hex=$(printf '%s' "$c" | od -An -tx1 | tr -d ' \n')
	for f in "$work/transcript" "$work/dump.sql"; do
		grep -qF -- "$c" "$f" && fail "a canary password appears in $(basename "$f")"
		grep -qiF -- "$hex" "$f" && fail "a canary password appears hex-encoded in $(basename "$f")"
	done
done
ok

echo "accounts.sh: ok ($checks checks)"
