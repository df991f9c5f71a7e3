#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The functions our style bans (unbounded copies and formats, unchecked number parsing, strerror's
# buffer shared by every thread) appear nowhere in the C sources; use snprintf, iq_buf,
# iq_parse_*, iq_strerror / IQ_STRERROR instead (strerror_r and gai_strerror are not banned).
# Comments and string
# literals are blanked first (line numbers kept), so a call after a '*' such as "*n = atoi(s);"
# counts, and a mention in a comment does not.
set -euo pipefail
cd "${IQ_SOURCE_DIR:-$(dirname "$0")/../..}"
pattern='\b(strcpy|strcat|sprintf|vsprintf|atoi|atol|atoll|sscanf|strtok|gets|strerror)[[:space:]]*\('
dirs=(lib producer worker scheduler deploy/devbroker tests/unit tests/integration tests/fuzz)

# code_only FILE...: each file's lines as FILE:LINE:TEXT with comments and literals blanked
code_only() {
  /usr/bin/python3 - "$@" <<'PY'
import re, sys
token = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
def blank(m):
    t = m.group(0)
    if t[0] in "\"'":
        return t[0] + re.sub(r"[^\n]", " ", t[1:-1]) + t[-1]
    return re.sub(r"[^\n]", " ", t)
for path in sys.argv[1:]:
    text = token.sub(blank, open(path, encoding="utf-8", errors="replace").read())
    for n, line in enumerate(text.split("\n"), 1):
        print(f"{path}:{n}:{line}")
PY
}

mapfile -t files < <(find "${dirs[@]}" \( -name '*.c' -o -name '*.h' \) | sort)
# the scan must cover the tree: every directory has C files in it
for d in lib producer worker scheduler; do
  grep -q "^$d/" < <(printf '%s\n' "${files[@]}") || { echo "no C files found under $d/"; echo "0 passed, 1 failed"; exit 1; }
done
hits=$(code_only "${files[@]}" | grep -E "^[^:]+:[0-9]+:.*$pattern" || true)
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "ok - no banned function in ${#files[@]} files"

# the check itself must be able to fail, and must not fail on comments and strings
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' 'int f(const char *s, int *n)' '{' '    *n = atoi(s);' \
  '    char b[4];' '    return sprintf(b, "x");' '}' >"$tmp/bad.c"
printf '%s\n' '/* atoi(s) is banned,' ' * sprintf(b, "x") too' ' */' '// strcpy(a, b)' \
  'const char *m = "use snprintf, not sprintf(";' "char c = '(';" >"$tmp/good.c"
found=$(code_only "$tmp/bad.c" | grep -cE "^[^:]+:[0-9]+:.*$pattern" || true)
[ "$found" = 2 ] || { echo "the scan found $found of 2 banned calls (\"*n = atoi(s);\" and sprintf) in a probe"; exit 1; }
found=$(code_only "$tmp/good.c" | grep -cE "^[^:]+:[0-9]+:.*$pattern" || true)
[ "$found" = 0 ] || { echo "the scan flagged $found comment or string lines in a probe"; exit 1; }
echo "ok - the scan finds '*n = atoi(s);' and sprintf in a probe, and ignores comments and strings"
echo "2 passed, 0 failed"
