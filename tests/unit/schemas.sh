#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Validates the messages the code builds (test_messages --emit-samples) against schemas/json with
# python3-jsonschema, and checks that broken variants of them fail, so this test can fail.
set -euo pipefail

: "${IQ_SOURCE_DIR:?IQ_SOURCE_DIR must name the source tree (CTest sets it)}"
: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the bin directory of the build (CTest sets it)}"

PY=/usr/bin/python3
if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
    echo "schemas.sh: $PY cannot import jsonschema; install it: apt-get install python3-jsonschema" >&2
    exit 1
fi
if [[ ! -x "$IQ_BIN_DIR/test_messages" ]]; then
    echo "schemas.sh: $IQ_BIN_DIR/test_messages is missing; build the tests first" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inboxq-schemas.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$IQ_BIN_DIR/test_messages" --emit-samples "$tmp"

"$PY" - "$IQ_SOURCE_DIR/schemas/json" "$tmp" <<'PYTHON'
import copy
import json
import os
import sys

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

schema_dir, sample_dir = sys.argv[1], sys.argv[2]
KINDS = {
    "check_job": "job_id",
    "report_job": "job_id",
    "new_mail": "event_id",
    "dead_letter": "job_id",
}
# Per kind: extra (field, value) pairs a valid message must not accept.
SPECIFIC = {
    "check_job": [("account_id", 0), ("reason", "urgent"), ("attempt", 0),
                  ("requested_by", ""), ("requested_by", "a\nb"), ("not_before", None)],
    "report_job": [("report_id", 0), ("format", "docx"), ("lang", "fr"),
                   ("filters", {"owner": "x"}), ("filters", {"secure": "yes"}),
                   ("filters", {"name": ""}), ("schedule_id", 0), ("schedule_id", "3")],
    "new_mail": [("sha256", "A" * 64), ("sha256", "0" * 63), ("size", -1),
                 ("account_id", 0), ("message_row_id", 0), ("job_id", None),
                 ("subject", "x" * 4097), ("date", "2026-11-28T18:02:01+01:00")],
    "dead_letter": [("original_value_encoding", "hex"), ("original_offset", -1),
                    ("original_partition", -1), ("error_class", "Invalid JSON"),
                    ("original_value_truncated", False), ("original_value", None),
                    ("worker", "")],
}
BAD_TIMES = ["2026-11-28 18:02:01Z", "2026-11-28T18:02:01", "1969-12-31T23:59:59Z",
             "2026-13-01T00:00:00Z", "2026-11-28T18:02:01.Z"]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


for kind, id_field in KINDS.items():
    with open(os.path.join(schema_dir, kind + ".v1.json"), encoding="utf-8") as f:
        schema = json.load(f)
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        fail(f"{kind}.v1.json is not a valid draft 2020-12 schema: {e.message}")
        continue
    v = Draft202012Validator(schema, format_checker=FormatChecker())
    props = schema["properties"]

    # Every property is typed and described; extra properties are refused.
    if schema.get("additionalProperties") is not False:
        fail(f"{kind}: additionalProperties is not false")
    for name, p in props.items():
        if "description" not in p:
            fail(f"{kind}.{name}: no description")
        if not ({"type", "$ref", "anyOf"} & p.keys()):
            fail(f"{kind}.{name}: no type")
    if props["schema"].get("const") != f"inboxq.{kind}.v1":
        fail(f"{kind}: schema const is not inboxq.{kind}.v1")

    path = os.path.join(sample_dir, kind + ".jsonl")
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line]
    if len(lines) < 2:
        fail(f"{kind}: expected several samples in {path}, got {len(lines)}")
        continue

    samples = []
    invalid = 0
    for i, line in enumerate(lines, 1):
        def no_constants(c):
            raise ValueError(f"non-standard JSON constant {c}")
        try:
            msg = json.loads(line, parse_constant=no_constants)
        except ValueError as e:
            fail(f"{kind} sample {i}: not JSON: {e}")
            continue
        errors = sorted(v.iter_errors(msg), key=lambda e: list(e.path))
        invalid += bool(errors)
        for e in errors:
            fail(f"{kind} sample {i}: {'/'.join(map(str, e.path)) or '(root)'}: {e.message}")
        samples.append(msg)
    if not samples:
        continue
    print(f"{kind}: {len(samples) - invalid} of {len(lines)} samples valid")

    # The samples exercise every property, and null wherever the schema allows it.
    seen = set().union(*(s.keys() for s in samples))
    for name in props:
        if name not in seen:
            fail(f"{kind}: no sample has {name}")
    base = samples[0]
    for name in props:
        if name not in base:
            continue
        probe = copy.deepcopy(base)
        probe[name] = None
        if v.is_valid(probe) and not any(s.get(name, 0) is None for s in samples):
            fail(f"{kind}: {name} may be null but no sample has null")

    # Broken variants must fail, or this test proves nothing.
    broken = []
    extra = copy.deepcopy(base)
    extra["unexpected"] = 1
    broken.append(("an extra property", extra))
    for bad_id in ["not-a-uuid", base[id_field].upper(), base[id_field] + "0", ""]:
        m = copy.deepcopy(base)
        m[id_field] = bad_id
        broken.append((f"{id_field}={bad_id!r}", m))
    for bad_schema in [f"inboxq.{kind}.v2", "inboxq.other.v1", None]:
        m = copy.deepcopy(base)
        m["schema"] = bad_schema
        broken.append((f"schema={bad_schema!r}", m))
    for name in schema["required"]:
        m = copy.deepcopy(base)
        del m[name]
        broken.append((f"without {name}", m))
    for name in base:
        m = copy.deepcopy(base)
        m[name] = [base[name]]
        broken.append((f"{name} as an array", m))
    for name, p in props.items():
        if p.get("$ref") == "#/$defs/timestamp" and name in base:
            for t in BAD_TIMES:
                m = copy.deepcopy(base)
                m[name] = t
                broken.append((f"{name}={t!r}", m))
    for name, value in SPECIFIC[kind]:
        m = copy.deepcopy(base)
        m[name] = value
        broken.append((f"{name}={value!r}"[:80], m))
    broken.append(("an array of messages", [base]))
    broken.append(("a string", json.dumps(base)))
    for what, m in broken:
        if v.is_valid(m):
            fail(f"{kind}: a message with {what} passed validation")
    print(f"{kind}: {len(broken)} broken variants rejected")

if failures:
    print(f"schemas.sh: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("schemas.sh: all produced messages match schemas/json")
PYTHON
