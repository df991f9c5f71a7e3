#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Verifies deploy/systemd: `systemd-analyze verify` (any warning fails) on copies of the units
# whose ExecStart points at this build's binaries, the hardening every unit must keep, and the
# environment file example against `inboxq config reference`; broken units must fail too.
set -euo pipefail

: "${IQ_SOURCE_DIR:?IQ_SOURCE_DIR must name the source tree (CTest sets it)}"
: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the bin directory of the build (CTest sets it)}"

units_dir="$IQ_SOURCE_DIR/deploy/systemd"
units=(inboxq-migrate.service inboxq-scheduler.service "inboxq-worker@.service")
# Where the units expect the programs (cmake --install with the default prefix).
installed_bin=/usr/local/bin

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd_verify.sh: systemd-analyze is missing; install it: apt-get install systemd" >&2
    exit 1
fi
for prog in inboxq inboxq-scheduler inboxq-worker; do
    if [[ ! -x "$IQ_BIN_DIR/$prog" ]]; then
        echo "systemd_verify.sh: $IQ_BIN_DIR/$prog is missing; build first" >&2
        exit 1
    fi
done
bin_dir=$(cd "$IQ_BIN_DIR" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inboxq-systemd.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0
problem() {
    echo "systemd_verify.sh: $*" >&2
    fail=1
}

# verify DIR UNIT... -> 0 when systemd-analyze exits 0 and prints nothing (it only warns about
# unknown keys or bad values, with exit status 0).
verify() {
    local dir=$1
    shift
    local args=()
    for u in "$@"; do args+=("$dir/$u"); done
    local out
    if ! out=$(cd "$dir" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no "${args[@]}" 2>&1); then
        printf '%s\n' "$out"
        return 1
    fi
    if [[ -n "$out" ]]; then
        printf '%s\n' "$out"
        return 1
    fi
    return 0
}

# 1. The units, with ExecStart rewritten to this build's binaries.
mkdir "$tmp/units"
for u in "${units[@]}"; do
    if [[ ! -f "$units_dir/$u" ]]; then
        problem "$units_dir/$u is missing"
        continue
    fi
    if ! grep -q "^ExecStart=$installed_bin/" "$units_dir/$u"; then
        problem "$u: ExecStart does not start with $installed_bin/ (update this test if that moved)"
    fi
    sed "s#^ExecStart=$installed_bin/#ExecStart=$bin_dir/#" "$units_dir/$u" >"$tmp/units/$u"
done
if ! verify "$tmp/units" "${units[@]}" "inboxq-worker@test.service" >"$tmp/verify.out"; then
    problem "systemd-analyze verify complained:"
    cat "$tmp/verify.out" >&2
else
    echo "ok: systemd-analyze verify is clean for ${units[*]} and inboxq-worker@test.service"
fi

# 2. What every unit must keep (the hardening and the secret handling).
required=(
    "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes"
    "PrivateDevices=yes" "ProtectKernelTunables=yes" "ProtectKernelModules=yes"
    "ProtectControlGroups=yes" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
    "LockPersonality=yes" "MemoryDenyWriteExecute=yes" "SystemCallArchitectures=native"
    "CapabilityBoundingSet=" "LimitCORE=0" "DynamicUser=yes" "User=inboxq"
    "EnvironmentFile=/etc/inboxq/inboxq.env"
)
# Only the workers open the credential vault, so only they get the master key.
key_lines=(
    "LoadCredential=master.key:/etc/inboxq/master.key"
    "Environment=INBOXQ_MASTER_KEY_FILE=%d/master.key"
)
for u in "${units[@]}"; do
    [[ -f "$units_dir/$u" ]] || continue
    for line in "${required[@]}"; do
        grep -qxF "$line" "$units_dir/$u" || problem "$u lacks the line '$line'"
    done
    if [[ $u == inboxq-worker@.service ]]; then
        for line in "${key_lines[@]}"; do
            grep -qxF "$line" "$units_dir/$u" || problem "$u lacks the line '$line'"
        done
    fi
    case "$u" in
    inboxq-migrate.service)
        grep -qx "Type=oneshot" "$units_dir/$u" || problem "$u must be Type=oneshot"
        grep -qx "ExecStart=$installed_bin/inboxq migrate" "$units_dir/$u" ||
            problem "$u must run 'inboxq migrate'"
        ;;
    *)
        grep -qx "Type=simple" "$units_dir/$u" || problem "$u must be Type=simple"
        grep -qx "Restart=on-failure" "$units_dir/$u" || problem "$u must have Restart=on-failure"
        grep -Eq "^Wants=.*\binboxq-migrate\.service\b" "$units_dir/$u" ||
            problem "$u must Want inboxq-migrate.service"
        grep -Eq "^After=.*\binboxq-migrate\.service\b" "$units_dir/$u" ||
            problem "$u must be ordered After inboxq-migrate.service"
        ;;
    esac
    # Every inboxq unit a unit names must be one of ours.
    for ref in $(grep -E '^(Wants|Requires|After|Before|BindsTo|PartOf)=' "$units_dir/$u" |
        cut -d= -f2- | tr ' ' '\n' | grep '^inboxq' || true); do
        [[ -f "$units_dir/$ref" ]] || problem "$u names $ref, which deploy/systemd does not have"
    done
done
[[ $fail -eq 0 ]] && echo "ok: every unit keeps its hardening and secret handling"

# 3. A broken unit must fail the verification (so this test can fail).
broken_ok=1
mkdir "$tmp/broken"
cp "$tmp/units/"* "$tmp/broken/"
sed '/^\[Service\]$/a NoNewPrivilegs=yes' "$tmp/units/inboxq-scheduler.service" \
    >"$tmp/broken/inboxq-scheduler.service"
verify "$tmp/broken" inboxq-scheduler.service >/dev/null && broken_ok=0
sed '/^\[Service\]$/a Restart=sometimes' "$tmp/units/inboxq-worker@.service" \
    >"$tmp/broken/inboxq-worker@.service"
verify "$tmp/broken" "inboxq-worker@x.service" >/dev/null && broken_ok=0
cp "$tmp/units/inboxq-worker@.service" "$tmp/broken/"
sed "/^\\[Service\\]\$/a ExecStartPre=$bin_dir/inboxq-missing" \
    "$tmp/units/inboxq-migrate.service" >"$tmp/broken/inboxq-migrate.service"
verify "$tmp/broken" inboxq-migrate.service >/dev/null && broken_ok=0
if [[ $broken_ok -eq 1 ]]; then
    echo "ok: broken units (unknown key, bad value, missing binary) fail the verification"
else
    problem "a deliberately broken unit passed the verification"
fi

# 4. The environment file example: known settings only, every setting mentioned, values valid.
example="$units_dir/inboxq.env.example"
"$IQ_BIN_DIR/inboxq" config reference >"$tmp/reference.txt"
awk '{print $2}' "$tmp/reference.txt" | grep -E '^INBOXQ_[A-Z0-9_]+$' | sort -u >"$tmp/known.txt"
if [[ ! -s "$tmp/known.txt" ]]; then
    problem "'inboxq config reference' listed no INBOXQ_ variables"
fi
# Lines "NAME=value" (set) and "#NAME=value" (shown with its default).
grep -E '^INBOXQ_[A-Z0-9_]*=' "$example" >"$tmp/set.env" || true
sed -n 's/^#\(INBOXQ_[A-Z0-9_]*=\)/\1/p' "$example" >"$tmp/commented.env"
cut -d= -f1 "$tmp/set.env" "$tmp/commented.env" | sort >"$tmp/mentioned.txt"
while read -r name; do
    grep -qxF "$name" "$tmp/known.txt" ||
        problem "inboxq.env.example uses $name, which 'inboxq config reference' does not list"
done <"$tmp/mentioned.txt"
dups=$(uniq -d "$tmp/mentioned.txt")
[[ -z "$dups" ]] || problem "inboxq.env.example names these more than once: $dups"
while read -r name; do
    [[ $name == INBOXQ_MASTER_KEY_FILE ]] && continue
    grep -qxF "$name" "$tmp/mentioned.txt" ||
        problem "inboxq.env.example does not mention the setting $name; add it (commented out with its default)"
done <"$tmp/known.txt"
if grep -q '^INBOXQ_MASTER_KEY_FILE=' "$example"; then
    problem "inboxq.env.example sets INBOXQ_MASTER_KEY_FILE, which would override LoadCredential"
fi
for req in INBOXQ_PG_DSN INBOXQ_KAFKA_BROKERS INBOXQ_REDIS_URL; do
    grep -q "^$req=" "$tmp/set.env" || problem "inboxq.env.example must set $req"
done
# The values, as systemd reads them (the rest of the line), must satisfy the programs.
check_values() { # file with NAME=value lines
    local args=()
    while IFS= read -r line; do args+=("$line"); done <"$1"
    env -i PATH="$PATH" "${args[@]}" "$IQ_BIN_DIR/inboxq" config show >/dev/null 2>"$tmp/show.err"
}
if ! check_values "$tmp/set.env"; then
    problem "the settings inboxq.env.example sets are refused: $(cat "$tmp/show.err")"
fi
if ! check_values "$tmp/commented.env"; then
    problem "the defaults inboxq.env.example shows are refused: $(cat "$tmp/show.err")"
fi
echo "INBOXQ_CONCURRENCY=many" >"$tmp/bad.env"
check_values "$tmp/bad.env" && problem "a bad value was not refused by 'inboxq config show'"

if [[ $fail -eq 0 ]]; then
    echo "ok: inboxq.env.example names only known settings, mentions all, and its values are valid"
fi
exit "$fail"
