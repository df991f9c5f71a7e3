#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks deploy/kubernetes without a cluster (no kubectl here): every YAML file parses, the
# kustomization lists existing resources, every ConfigMap/Secret/key/volume reference resolves,
# every environment variable is a setting `inboxq config reference` lists, and the hardening
# holds; broken copies (an unknown variable, a dangling reference...) must fail.
set -euo pipefail

: "${IQ_SOURCE_DIR:?IQ_SOURCE_DIR must name the source tree (CTest sets it)}"
: "${IQ_BIN_DIR:?IQ_BIN_DIR must name the bin directory of the build (CTest sets it)}"

PY=/usr/bin/python3
layout="$IQ_SOURCE_DIR/deploy/kubernetes"
if ! "$PY" -c 'import yaml' 2>/dev/null; then
    echo "kubernetes_check.sh: $PY cannot import yaml; install it: apt-get install python3-yaml" >&2
    exit 1
fi
if [[ ! -x "$IQ_BIN_DIR/inboxq" ]]; then
    echo "kubernetes_check.sh: $IQ_BIN_DIR/inboxq is missing; build first" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/inboxq-k8s.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$IQ_BIN_DIR/inboxq" config reference | awk '{print $2}' | grep -E '^INBOXQ_[A-Z0-9_]+$' \
    >"$tmp/known.txt" || true
if [[ ! -s "$tmp/known.txt" ]]; then
    echo "kubernetes_check.sh: 'inboxq config reference' listed no INBOXQ_ variables" >&2
    exit 1
fi

cat >"$tmp/check.py" <<'PYTHON'
"""Checks one kustomize layout directory; prints every problem and exits 1 if there is any."""
import os
import re
import sys

import yaml

layout, known_file = sys.argv[1], sys.argv[2]
known = set(open(known_file).read().split())
problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        problem(os.path.basename(path), f"does not parse: {e}")
        return None


# 1. Every YAML file parses.
files = sorted(f for f in os.listdir(layout) if f.endswith((".yaml", ".yml")))
docs_by_file = {f: load(os.path.join(layout, f)) for f in files}

# 2. The kustomization and its resources.
kfile = "kustomization.yaml"
kdocs = docs_by_file.get(kfile)
if not kdocs:
    problem(kfile, "missing or empty")
    kust = {}
else:
    kust = kdocs[0]
    if kust.get("kind") != "Kustomization":
        problem(kfile, "kind is not Kustomization")
resources = kust.get("resources") or []
for r in resources:
    if not isinstance(r, str) or "/" in r or not r.endswith((".yaml", ".yml")):
        problem(kfile, f"resource {r!r} is not a file of this directory (this check reads files only)")
    elif r not in docs_by_file:
        problem(kfile, f"lists {r}, which does not exist")
    elif not docs_by_file[r]:
        problem(r, "has no resource in it")
for f in files:
    if f != kfile and f not in resources:
        problem(f, "is not listed in kustomization.yaml resources")
for key in ("configMapGenerator", "secretGenerator", "patches", "patchesStrategicMerge", "components"):
    if kust.get(key):
        problem(kfile, f"uses {key}, which this check does not follow; extend tests/unit/kubernetes_check.sh")

objects = []  # (file, doc)
for r in resources:
    for d in docs_by_file.get(r) or []:
        where = f"{r}"
        if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
            problem(where, "a document without apiVersion and kind")
            continue
        if not (d.get("metadata") or {}).get("name"):
            problem(where, f"{d['kind']} without metadata.name")
            continue
        objects.append((r, d))

seen = set()
for f, d in objects:
    key = (d["kind"], d["metadata"]["name"])
    if key in seen:
        problem(f, f"{key[0]} {key[1]} defined twice")
    seen.add(key)

namespace = kust.get("namespace")
if namespace:
    if ("Namespace", namespace) not in seen:
        problem(kfile, f"namespace {namespace} is not defined by any resource")
    for f, d in objects:
        ns = d["metadata"].get("namespace")
        if ns and ns != namespace:
            problem(f, f"{d['kind']} {d['metadata']['name']} is in namespace {ns}, not {namespace}")

configmaps, secrets = {}, {}
for f, d in objects:
    if d["kind"] == "ConfigMap":
        configmaps[d["metadata"]["name"]] = set((d.get("data") or {}).keys()) | set((d.get("binaryData") or {}).keys())
    elif d["kind"] == "Secret":
        secrets[d["metadata"]["name"]] = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())


def known_var(where, name):
    if name not in known:
        problem(where, f"sets {name}, which is not a setting 'inboxq config reference' lists")


def check_ref(where, kind, name, key=None, optional=False):
    table = configmaps if kind == "ConfigMap" else secrets
    if name not in table:
        if not optional:
            problem(where, f"refers to {kind} {name!r}, which the layout does not define")
        return
    if key is not None and key not in table[name]:
        problem(where, f"refers to key {key!r} of {kind} {name}, which it does not have")


def pod_spec_of(d):
    k = d["kind"]
    spec = d.get("spec") or {}
    if k == "Pod":
        return spec
    if k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if k == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def listen_port(cmd):
    """The port of --metrics-listen ADDR:PORT (or --metrics-listen=ADDR:PORT) in cmd, or None."""
    for i, a in enumerate(cmd):
        value = None
        if a == "--metrics-listen" and i + 1 < len(cmd):
            value = cmd[i + 1]
        elif a.startswith("--metrics-listen="):
            value = a.split("=", 1)[1]
        if value is not None:
            m = re.fullmatch(r"(?:\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:.]+\]):(\d+)", value)
            return int(m.group(1)) if m else -1
    return None


pod_templates = []  # (where, labels, {port name: number})
for f, d in objects:
    spec = pod_spec_of(d)
    if spec is None:
        continue
    name = d["metadata"]["name"]
    where = f"{f} {d['kind']} {name}"
    if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        sel = ((d.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        labels = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problem(where, "selector.matchLabels does not match the pod template's labels")
    labels = ((((d.get("spec") or {}).get("template") or {}).get("metadata")) or {}).get("labels") or {}
    pod_sc = spec.get("securityContext") or {}
    volumes = {}
    for v in spec.get("volumes") or []:
        volumes[v.get("name")] = v
        if "secret" in v:
            s = v["secret"]
            for it in s.get("items") or [{"key": None}]:
                check_ref(f"{where} volume {v['name']}", "Secret", s.get("secretName"), it.get("key"), s.get("optional", False))
        if "configMap" in v:
            c = v["configMap"]
            for it in c.get("items") or [{"key": None}]:
                check_ref(f"{where} volume {v['name']}", "ConfigMap", c.get("name"), it.get("key"), c.get("optional", False))
        for src in (v.get("projected") or {}).get("sources") or []:
            for kind, field in (("Secret", "secret"), ("ConfigMap", "configMap")):
                if field in src:
                    s = src[field]
                    for it in s.get("items") or [{"key": None}]:
                        check_ref(f"{where} volume {v['name']}", kind, s.get("name"), it.get("key"), s.get("optional", False))
    ports = {}
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    if not spec.get("containers"):
        problem(where, "has no containers")
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        if not c.get("image"):
            problem(cw, "has no image")
        for p in c.get("ports") or []:
            if p.get("name"):
                ports[p["name"]] = p.get("containerPort")
        env_values = {}
        for ef in c.get("envFrom") or []:
            prefix = ef.get("prefix", "")
            if "configMapRef" in ef:
                ref = ef["configMapRef"]
                check_ref(cw, "ConfigMap", ref.get("name"), None, ref.get("optional", False))
                for k in sorted(configmaps.get(ref.get("name"), ())):
                    known_var(f"{cw} (from ConfigMap {ref.get('name')})", prefix + k)
            if "secretRef" in ef:
                ref = ef["secretRef"]
                check_ref(cw, "Secret", ref.get("name"), None, ref.get("optional", False))
                for k in sorted(secrets.get(ref.get("name"), ())):
                    known_var(f"{cw} (from Secret {ref.get('name')})", prefix + k)
        for e in c.get("env") or []:
            known_var(cw, e.get("name"))
            vf = e.get("valueFrom")
            if vf is not None and "value" in e:
                problem(cw, f"{e.get('name')} has both value and valueFrom")
            if vf:
                if "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    check_ref(cw, "ConfigMap", r.get("name"), r.get("key"), r.get("optional", False))
                if "secretKeyRef" in vf:
                    r = vf["secretKeyRef"]
                    check_ref(cw, "Secret", r.get("name"), r.get("key"), r.get("optional", False))
            else:
                env_values[e.get("name")] = e.get("value")
        mounts = {}
        for vm in c.get("volumeMounts") or []:
            if vm.get("name") not in volumes:
                problem(cw, f"mounts volume {vm.get('name')!r}, which the pod does not define")
            else:
                mounts[vm.get("mountPath", "").rstrip("/")] = volumes[vm["name"]]
        key_file = env_values.get("INBOXQ_MASTER_KEY_FILE")
        if key_file:
            d_, base = os.path.split(key_file)
            v = mounts.get(d_)
            items = [it.get("path") for it in ((v or {}).get("secret") or {}).get("items") or []]
            if v is None or "secret" not in v or base not in items:
                problem(cw, f"INBOXQ_MASTER_KEY_FILE={key_file} is not a file of a mounted Secret volume")
        # Hardening.
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            problem(cw, "runAsNonRoot is not true")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(cw, "readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(cw, "allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problem(cw, "does not drop ALL capabilities")
        res = c.get("resources") or {}
        if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
            problem(cw, "has no memory request and limit")
        # Probes talk to the metrics listener the command line opens.
        cmd = [str(x) for x in (c.get("command") or []) + (c.get("args") or [])]
        lp = listen_port(cmd)
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            hg = (c.get(probe) or {}).get("httpGet")
            if not hg:
                continue
            port = hg.get("port")
            number = ports.get(port) if isinstance(port, str) else port
            if number is None:
                problem(cw, f"{probe} uses port {port!r}, which the container does not declare")
            elif lp != number:
                problem(cw, f"{probe} probes port {number}, but --metrics-listen opens {lp}")
        if d["kind"] != "Job" and c in (spec.get("containers") or []):
            if ((c.get("readinessProbe") or {}).get("httpGet") or {}).get("path") != "/readyz":
                problem(cw, "has no readiness probe on /readyz")
            if ((c.get("livenessProbe") or {}).get("httpGet") or {}).get("path") != "/healthz":
                problem(cw, "has no liveness probe on /healthz")
    pod_templates.append((where, labels, ports))

# Services select pods that have the port they target.
for f, d in objects:
    if d["kind"] != "Service":
        continue
    where = f"{f} Service {d['metadata']['name']}"
    sel = (d.get("spec") or {}).get("selector") or {}
    matched = [p for p in pod_templates if sel and all(p[1].get(k) == v for k, v in sel.items())]
    if not matched:
        problem(where, f"selector {sel} matches no pod template")
    for sp in (d.get("spec") or {}).get("ports") or []:
        tp = sp.get("targetPort", sp.get("port"))
        for pw, _, ports in matched:
            if isinstance(tp, str) and tp not in ports:
                problem(where, f"targets port {tp!r}, which {pw} does not declare")

# What the issue asks of this layout in particular.
by_name = {(d["kind"], d["metadata"]["name"]): d for f, d in objects}
sched = by_name.get(("Deployment", "inboxq-scheduler"))
if sched is None or (sched.get("spec") or {}).get("replicas") != 2:
    problem("scheduler-deployment.yaml", "the scheduler Deployment must exist with 2 replicas")
if ("Deployment", "inboxq-worker") not in by_name:
    problem("worker-deployment.yaml", "the worker Deployment inboxq-worker is missing")
job = by_name.get(("Job", "inboxq-migrate"))
if job is None or [x for x in pod_spec_of(job)["containers"][0].get("command", [])][-1:] != ["migrate"]:
    problem("migrate-job.yaml", "the Job inboxq-migrate must run 'inboxq migrate'")

# The literal values (ConfigMap data, env values), for the programs to validate.
if len(sys.argv) > 3:
    with open(sys.argv[3], "w") as out:
        for f, d in objects:
            if d["kind"] == "ConfigMap":
                for k, v in sorted((d.get("data") or {}).items()):
                    out.write(f"{k}={v}\n")
        for f, d in objects:
            spec = pod_spec_of(d)
            for c in (spec or {}).get("containers") or []:
                for e in c.get("env") or []:
                    if "value" in e:
                        out.write(f"{e['name']}={e['value']}\n")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PYTHON

if ! "$PY" "$tmp/check.py" "$layout" "$tmp/known.txt" "$tmp/values.env"; then
    echo "kubernetes_check.sh: deploy/kubernetes has the problems above" >&2
    exit 1
fi
# The values must satisfy the programs' own validation (the key file need not exist for that).
args=()
while IFS= read -r line; do args+=("$line"); done <"$tmp/values.env"
if ! env -i PATH="$PATH" "${args[@]}" "$IQ_BIN_DIR/inboxq" config show >/dev/null 2>"$tmp/show.err"; then
    echo "kubernetes_check.sh: a value in deploy/kubernetes is refused: $(cat "$tmp/show.err")" >&2
    exit 1
fi
echo "ok: deploy/kubernetes parses, its references resolve, and it sets only known settings"

# Broken copies must fail (so this test can fail).
"$PY" - "$layout" "$tmp" <<'PYTHON'
import os
import shutil
import sys

import yaml

layout, tmp = sys.argv[1], sys.argv[2]


def variant(name, file, mutate):
    d = os.path.join(tmp, "broken-" + name)
    shutil.copytree(layout, d)
    path = os.path.join(d, file)
    if mutate is None:
        os.remove(path)
        return
    with open(path) as f:
        docs = list(yaml.safe_load_all(f))
    mutate(docs[0])
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f)


def worker(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


variant("unknown_env", "worker-deployment.yaml",
        lambda d: worker(d)["env"].append({"name": "INBOXQ_NOT_A_SETTING", "value": "1"}))
variant("unknown_configmap_key", "configmap.yaml",
        lambda d: d["data"].__setitem__("INBOXQ_CONCURENCY", "8"))
variant("dangling_secret_key", "worker-deployment.yaml",
        lambda d: worker(d)["env"][0]["valueFrom"]["secretKeyRef"].__setitem__("key", "pg_dsn"))
variant("dangling_configmap", "scheduler-deployment.yaml",
        lambda d: worker(d)["envFrom"][0]["configMapRef"].__setitem__("name", "inboxq-settings"))
variant("dangling_volume", "worker-deployment.yaml",
        lambda d: d["spec"]["template"]["spec"]["volumes"][0]["secret"].__setitem__("secretName", "nope"))
variant("missing_resource", "service-metrics.yaml", None)
variant("privileged", "worker-deployment.yaml",
        lambda d: worker(d)["securityContext"].__setitem__("allowPrivilegeEscalation", True))
variant("probe_port", "worker-deployment.yaml",
        lambda d: worker(d).__setitem__("command", ["inboxq-worker", "--metrics-listen", "0.0.0.0:9200"]))
PYTHON

bad=0
for d in "$tmp"/broken-*; do
    name=${d##*/broken-}
    if "$PY" "$tmp/check.py" "$d" "$tmp/known.txt" 2>"$d.err"; then
        echo "kubernetes_check.sh: the broken variant $name passed the check" >&2
        bad=1
    else
        echo "ok: $name refused ($(head -n 1 "$d.err"))"
    fi
done
exit "$bad"
