#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fixed in lib/pop3.c (uidl(), listing_check()): each broken listing is refused as a protocol error.
# POP3 UIDL listings that break RFC 1939 must not lose or duplicate mail, and must not pass as
# a successful check. Before the fix (lib/pop3.c, uidl() and fetch_and_store()):
#  - uidl-dup: two messages under one UIDL: one is stored, both get DELE: message 2 is gone from
#    the server and was never stored (lost);
#  - uidl-dup-num: message 1 listed twice under two UIDLs: it is stored twice;
#  - uidl-bare: a line "2" without a UIDL is skipped silently: message 2 is never fetched and the
#    check reports ok.

source "$(dirname "$0")/lib.sh"
it_fresh_db
it_master_key
cert="$INBOXQ_TEST_CERT_DIR/server.pem"
key="$INBOXQ_TEST_CERT_DIR/server.key"
cred=$(it_credential uidl alice uidl-pass)
# shellcheck source=tests/lib/hostile.bash
source "$IQ_SOURCE_DIR/tests/lib/hostile.bash"
for sc in uidl-dup uidl-dup-num uidl-bare; do
  server "$sc" pop3 "$sc"
  id=$(account "$sc" pop3 --keep-copy no)
  out=$(it_check "$id")
  stop_server
  check "$sc: the server sent the broken listing" deviated "$sc"
  check "$sc: refused as a protocol error ($(jget error_class <<<"$out"): $(jget error <<<"$out"))" \
    test "$(jget error_class <<<"$out")" = protocol
  check "$sc: nothing lost, nothing stored twice" lossless "$id"
done
finish
