#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the registry's exposition (test_metrics --dump-sample) with `promtool check metrics`
# (Debian package prometheus) plus a structure check promtool skips (contiguous families,
# cumulative histograms ending in +Inf == _count), and shows that broken variants fail both.
set -euo pipefail

: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the bin directory of the build (CTest sets it)}"

PY=/usr/bin/python3
if ! command -v promtool >/dev/null 2>&1; then
    echo "metrics_promtool.sh: promtool is missing; install it: apt-get install prometheus" >&2
    exit 1
fi
if [[ ! -x "$IQ_BIN_DIR/test_metrics" ]]; then
    echo "metrics_promtool.sh: $IQ_BIN_DIR/test_metrics is missing; build the tests first" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inboxq-promtool.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$IQ_BIN_DIR/test_metrics" --dump-sample >"$tmp/sample.prom"

# The structure checker: reads one exposition on stdin, exits 1 naming the first problem.
cat >"$tmp/structure.py" <<'PYTHON'
import math
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def fail(n, why):
    print(f"line {n}: {why}", file=sys.stderr)
    sys.exit(1)


def labels_of(text, n):
    out, pos = [], 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if m is None:
            fail(n, f"bad label set {{{text}}}")
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def number(text, n):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(text)
    except ValueError:
        fail(n, f"bad value {text}")


types, current, seen_done = {}, None, set()
hist = {}  # (family, labels without le) -> list of (le, count), sum, count
for n, line in enumerate(sys.stdin.read().split("\n")[:-1], 1):
    if line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ", 3)
        if name in types:
            fail(n, f"second TYPE for {name}")
        if current is not None:
            seen_done.add(current)
        types[name], current = typ, name
        continue
    if line.startswith("#"):
        continue
    m = SAMPLE.match(line)
    if m is None:
        fail(n, "not a sample line")
    name, labels, value = m.group(1), labels_of(m.group(3) or "", n), number(m.group(4), n)
    family = name
    if current is not None and types[current] == "histogram":
        for suffix in ("_bucket", "_sum", "_count"):
            if name == current + suffix:
                family = current
    if family != current:
        fail(n, f"sample {name} outside its family {current} (families must be contiguous)")
    if types[family] == "counter" and not (value >= 0):
        fail(n, "counter below zero")
    if types[family] == "histogram":
        key = (family, tuple(l for l in labels if l[0] != "le"))
        h = hist.setdefault(key, {"buckets": [], "count": None})
        if name.endswith("_bucket"):
            le = [v for k, v in labels if k == "le"]
            if len(le) != 1:
                fail(n, "bucket without le")
            bound = number(le[0], n)
            if math.isnan(bound) or (h["buckets"] and bound <= h["buckets"][-1][0]):
                fail(n, "bucket bounds not increasing")
            if h["buckets"] and value < h["buckets"][-1][1]:
                fail(n, "bucket counts not cumulative")
            h["buckets"].append((bound, value))
        elif name.endswith("_count"):
            h["count"] = value
for (family, labels), h in hist.items():
    if not h["buckets"] or h["buckets"][-1][0] != math.inf:
        fail(0, f"{family}{dict(labels)} has no +Inf bucket")
    if h["count"] != h["buckets"][-1][1]:
        fail(0, f"{family}{dict(labels)}: _count differs from the +Inf bucket")
PYTHON

check() { # file -> 0 when both promtool and the structure check accept it
    promtool check metrics <"$1" >"$1.promtool" 2>&1 && "$PY" "$tmp/structure.py" <"$1" 2>"$1.structure"
}

if ! check "$tmp/sample.prom"; then
    echo "metrics_promtool.sh: the registry's exposition was refused:" >&2
    cat "$tmp/sample.prom.promtool" "$tmp/sample.prom.structure" >&2 || true
    exit 1
fi
echo "ok: the sample exposition ($(wc -l <"$tmp/sample.prom") lines) passes promtool and the structure check"

# Broken variants: each must be refused, so this test can fail.
"$PY" - "$tmp" <<'PYTHON'
import os
import sys

d = sys.argv[1]
s = open(os.path.join(d, "sample.prom"), encoding="utf-8").read()
variants = {
    # refused by promtool's parser or linter
    "unescaped_quote": s.replace('quote \\" backslash', 'quote " backslash'),
    "raw_newline": s.replace("newline \\n end", "newline \n end"),
    "second_type": s.replace("# TYPE inboxq_jobs_in_flight gauge\n",
                             "# TYPE inboxq_jobs_in_flight gauge\n# TYPE inboxq_jobs_in_flight counter\n"),
    "bad_value": s.replace("inboxq_jobs_in_flight 3", "inboxq_jobs_in_flight three"),
    "bad_type": s.replace("# TYPE inboxq_jobs_in_flight gauge", "# TYPE inboxq_jobs_in_flight gaugee"),
    "counter_without_total": s.replace("inboxq_fetched_bytes_total", "inboxq_fetched_bytes"),
    # refused by the structure check
    "no_inf_bucket": s.replace('inboxq_check_duration_seconds_bucket{protocol="pop3",le="+Inf"} 1\n', ""),
    "not_cumulative": s.replace('inboxq_check_duration_seconds_bucket{protocol="imap",le="30"} 2',
                                'inboxq_check_duration_seconds_bucket{protocol="imap",le="30"} 0'),
    "interleaved": s.replace("# HELP inboxq_outbox_pending",
                             "inboxq_jobs_in_flight 4\n# HELP inboxq_outbox_pending"),
}
for name, text in variants.items():
    if text == s:
        sys.exit(f"variant {name} did not change the sample: update this test")
    with open(os.path.join(d, f"broken-{name}.prom"), "w", encoding="utf-8") as f:
        f.write(text)
# Not UTF-8.
with open(os.path.join(d, "broken-not_utf8.prom"), "wb") as f:
    f.write(s.replace("quote", "qu\udcffote").encode("utf-8", "surrogateescape"))
PYTHON

bad=0
for f in "$tmp"/broken-*.prom; do
    name=$(basename "$f" .prom)
    if check "$f"; then
        echo "metrics_promtool.sh: $name was accepted but must be refused" >&2
        bad=1
    else
        echo "ok: $name refused"
    fi
done
exit "$bad"
