#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A rekey with a rolling restart (hardening item 24): a worker restarted with the new key in
# master_key_file and the old one in master_key_previous_file (a key ring) opens secrets sealed
# with either, so it keeps checking before and after 'inboxq credential rekey'; a program with
# only one of the keys fails with config, naming the keys, as every worker did before the ring.
source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
old=$INBOXQ_MASTER_KEY_FILE
new=$IT_TMP/new.key
inboxq keygen --output "$new" >/dev/null
user=user009 # only read (keep copy): other scripts may use the mailbox meanwhile
cred=$(it_credential ring $user "$INBOXQ_TEST_MAIL_PASS_BULK")
id=$(inboxq account add --name ring --host 127.0.0.1 --port "$INBOXQ_TEST_IMAPS_PORT" --protocol imap \
  --credential "$cred" --secure yes --secure-type ssl --keep-copy yes --auto-check no)

# the worker after its rolling restart: the new key seals, the old one still opens
it_private_kafka
it_spawn worker env INBOXQ_MASTER_KEY_FILE="$new" INBOXQ_MASTER_KEY_PREVIOUS_FILE=" $old ," inboxq-worker
check "before the rekey: the ring worker checks (the secret is sealed with the old key)" \
  inboxq check "$id" --wait --timeout 60
out=$(it_check "$id" INBOXQ_MASTER_KEY_FILE="$new")
check "before the rekey: the new key alone is config" test "$(jget error_class <<<"$out")" = config

check "rekey to the new key" inboxq credential rekey --new-key-file "$new"
check "after the rekey: the same worker keeps checking, no restart" \
  inboxq check "$id" --wait --timeout 60
out=$(it_check "$id")
check "after the rekey: the old key alone is config" test "$(jget error_class <<<"$out")" = config
check "...naming the key it was sealed with" grep -q "sealed with master key" <<<"$(jget error <<<"$out")"
check "every run of the ring worker ok" \
  test "$(it_sql "SELECT count(*) FILTER (WHERE outcome = 'ok') || '/' || count(*) FROM check_runs WHERE account_id = $id AND worker LIKE 'worker:%'")" = 2/2

# a bad previous key is a configuration error at start, naming the setting
rc=0
INBOXQ_MASTER_KEY_PREVIOUS_FILE="$IT_TMP/missing.key" inboxq check "$id" --direct >/dev/null 2>"$IT_TMP/prev.err" || rc=$?
check "a missing previous key: exit 78 ($rc) naming master_key_previous_file" \
  test "$rc" = 78 -a -n "$(grep "master_key_previous_file" "$IT_TMP/prev.err")"
finish
