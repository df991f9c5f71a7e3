#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks that README.md's configuration table (between the config-reference:begin/end markers)
# is exactly `inboxq config reference --markdown`; with --update, rewrites that block in place.
set -euo pipefail

usage() {
    echo "usage: $0 [--update]" >&2
    echo "  checks README.md's configuration reference against 'inboxq config reference --markdown';" >&2
    echo "  --update rewrites the block between the markers. IQ_BIN_DIR names the build's bin" >&2
    echo "  directory (default: build/bin of the source tree)." >&2
    exit 64
}

update=0
case "${1:-}" in
"") ;;
--update) update=1 ;;
*) usage ;;
esac
[[ $# -le 1 ]] || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${IQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
bin=${IQ_BIN_DIR:-$src/build/bin}
readme="$src/README.md"
begin='<!-- config-reference:begin -->'
end='<!-- config-reference:end -->'

if [[ ! -x "$bin/inboxq" ]]; then
    echo "config_reference.sh: $bin/inboxq is missing; build first, or set IQ_BIN_DIR to the build's bin directory" >&2
    exit 66
fi
if [[ ! -f "$readme" ]]; then
    echo "config_reference.sh: $readme is missing" >&2
    exit 66
fi
nbegin=$(grep -cxF -- "$begin" "$readme" || true)
nend=$(grep -cxF -- "$end" "$readme" || true)
lbegin=$(grep -nxF -- "$begin" "$readme" | head -n 1 | cut -d: -f1 || true)
lend=$(grep -nxF -- "$end" "$readme" | head -n 1 | cut -d: -f1 || true)
if [[ $nbegin -ne 1 || $nend -ne 1 || ${lbegin:-0} -ge ${lend:-0} ]]; then
    echo "config_reference.sh: README.md must hold the configuration reference between one line" >&2
    echo "  $begin" >&2
    echo "and, after it, one line" >&2
    echo "  $end" >&2
    echo "(found $nbegin begin and $nend end markers); add them to the Configuration section, then run" >&2
    echo "  tests/unit/config_reference.sh --update" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inboxq-confref.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ! "$bin/inboxq" config reference --markdown >"$tmp/generated.md" 2>"$tmp/err"; then
    echo "config_reference.sh: 'inboxq config reference --markdown' failed: $(cat "$tmp/err")" >&2
    exit 1
fi
if [[ ! -s "$tmp/generated.md" ]]; then
    echo "config_reference.sh: 'inboxq config reference --markdown' printed nothing" >&2
    exit 1
fi
sed -n "$((lbegin + 1)),$((lend - 1))p" "$readme" >"$tmp/readme.md"

if [[ $update -eq 1 ]]; then
    if cmp -s "$tmp/generated.md" "$tmp/readme.md"; then
        echo "config_reference.sh: README.md is already up to date"
        exit 0
    fi
    {
        head -n "$lbegin" "$readme"
        cat "$tmp/generated.md"
        tail -n "+$lend" "$readme"
    } >"$tmp/README.md"
    # Same directory, then rename: README.md is never half written; keep its mode.
    out=$(mktemp "$src/.README.md.XXXXXX")
    cat "$tmp/README.md" >"$out"
    chmod --reference="$readme" "$out"
    mv -f "$out" "$readme"
    echo "config_reference.sh: updated the configuration reference in $readme"
    exit 0
fi

if ! diff -u --label "README.md (between the markers)" --label "inboxq config reference --markdown" \
    "$tmp/readme.md" "$tmp/generated.md" >"$tmp/diff"; then
    cat "$tmp/diff" >&2
    echo "config_reference.sh: README.md's configuration reference differs from 'inboxq config reference --markdown';" >&2
    echo "  run tests/unit/config_reference.sh --update (with IQ_BIN_DIR=<build>/bin) and commit README.md" >&2
    exit 1
fi
echo "ok: README.md's configuration reference matches 'inboxq config reference --markdown' ($(wc -l <"$tmp/generated.md") lines)"
