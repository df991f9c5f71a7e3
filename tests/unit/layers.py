#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The layer rules of lib/ (README, "Architecture"), read from the #include lines.

Fails on: an include of a layer a folder may not use (up a layer, or a sibling it was not
given); an include of another folder's internal header (NAME_int.h, or one listed in
INTERNAL); a third-party header outside the layers that own that library; an include cycle
between headers; and a cycle between modules (a module is NAME.c with NAME.h and NAME_int.h;
it depends on the modules whose headers it includes, or whose functions its object calls when
a build directory is given with --objects).

  layers.py [--root DIR] [--objects BUILD_DIR] [--probe]
"""
import os
import re
import subprocess
import sys

# What each folder may include, besides itself.
LAYERS = {
    "core": [],
    "net": ["core"],
    "store": ["core"],
    "bus": ["core"],
    "obs": ["core"],
    "domain": ["core", "store"],
    "report": ["core", "store", "bus"],
    "mail": ["core", "net", "store", "domain", "bus"],
    "app": ["core", "store", "bus"],
}
PROGRAMS = {
    "producer": ["core", "net", "store", "bus", "obs", "domain", "report", "mail", "app"],
    "worker": ["core", "net", "store", "bus", "obs", "domain", "report", "mail", "app"],
    "scheduler": ["core", "store", "bus", "obs", "app"],
}
# Third-party libraries, by header, and the folders whose own code may call them.
THIRD_PARTY = [
    (re.compile(r"^openssl/"), "openssl", {"net", "bus", "domain", "mail", "producer"}),
    (re.compile(r"^libpq-fe\.h$"), "libpq", {"store", "domain", "mail", "report", "app",
                                             "producer", "worker", "scheduler"}),
    (re.compile(r"^jansson\.h$"), "jansson", {"store", "bus", "domain", "mail", "report",
                                              "producer", "worker", "scheduler"}),
    # the worker's consumer loop holds rd_kafka_message_t, which bus/kafka.h hands out
    (re.compile(r"^librdkafka/"), "librdkafka", {"bus", "worker"}),
    (re.compile(r"^hiredis/"), "hiredis", {"bus"}),
    (re.compile(r"^libetpan/"), "libetpan", {"mail"}),
    (re.compile(r"^cairo"), "cairo", {"report"}),
    # the PDF's text layout (font fallback, shaping, right-to-left) over cairo
    (re.compile(r"^pango/"), "pango", {"report"}),
    # terminal column widths (East Asian Width) have one home, core/utf8
    (re.compile(r"^utf8proc\.h$"), "utf8proc", {"core"}),
    # the HTTP server (metrics endpoints, `inboxq serve`) has one home, obs/httpd
    (re.compile(r"^microhttpd\.h$"), "libmicrohttpd", {"obs"}),
    # operators' password hashes (argon2id) and session tokens of `inboxq serve`
    (re.compile(r"^sodium(\.h|/)"), "libsodium", {"domain"}),
    # the OAuth2 token endpoint's HTTPS (net/http)
    (re.compile(r"^curl/"), "libcurl", {"net"}),
]
# Headers internal to their folder that do not follow the NAME_int.h convention.
INTERNAL = {"session.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def sources(root):
    out = []
    for top in ["lib", "producer", "worker", "scheduler"]:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def folder_of(path):
    parts = path.split("/")
    return parts[1] if parts[0] == "lib" else parts[0]


def module_of(path):
    base = os.path.splitext(os.path.basename(path))[0]
    if base.endswith("_int"):
        base = base[:-4]
    return (os.path.dirname(path), base)


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def check(root, objects):
    errors = []
    files = sources(root)
    by_name = {}
    for f in files:
        if f.endswith(".h"):
            by_name.setdefault(os.path.basename(f), []).append(f)
    header_graph, module_graph = {}, {}
    for f in files:
        src_folder = folder_of(f)
        allowed = LAYERS.get(src_folder, PROGRAMS.get(src_folder))
        if allowed is None:
            errors.append(f"{f}: folder '{src_folder}' is not a known layer or program")
            continue
        with open(os.path.join(root, f), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        for no, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.groups()
            where = f"{f}:{no}"
            if kind == "<":
                for rx, lib, owners in THIRD_PARTY:
                    if rx.search(name) and src_folder not in owners:
                        errors.append(f"{where}: {lib} ({name}) is not for '{src_folder}'; "
                                      f"only {', '.join(sorted(owners))} call it")
                continue
            local = os.path.join(os.path.dirname(f), name)
            if local in files:
                targets = [local]
            else:
                targets = by_name.get(os.path.basename(name), [])
            if not targets:
                continue  # generated (version.h) or a test-only header
            if len(targets) > 1:
                errors.append(f"{where}: '{name}' names more than one header: {targets}")
                continue
            t = targets[0]
            dst_folder = folder_of(t)
            if dst_folder != src_folder:
                if dst_folder not in allowed:
                    errors.append(f"{where}: '{src_folder}' may not include '{dst_folder}' "
                                  f"({t}); it may use {', '.join(allowed) or 'nothing else'}")
                base = os.path.basename(t)
                if base.endswith("_int.h") or base in INTERNAL:
                    errors.append(f"{where}: {t} is internal to '{dst_folder}'")
            if f.endswith(".h"):
                header_graph.setdefault(f, set()).add(t)
            a, b = module_of(f), module_of(t)
            if a != b:
                module_graph.setdefault(a, set()).add(b)
    for comp in cycles(header_graph):
        errors.append("include cycle between headers: " + " -> ".join(comp))
    if objects:
        add_object_edges(root, objects, files, module_graph, errors)
    for comp in cycles(module_graph):
        errors.append("dependency cycle between modules: " +
                      ", ".join(f"{d}/{n}" for d, n in comp))
    return errors


def add_object_edges(root, build, files, graph, errors):
    """Module edges from symbol references between the objects of our sources."""
    objs = {}
    # only the targets of the current configuration (a stale object would add stale edges)
    with open(os.path.join(build, "CMakeFiles", "TargetDirectories.txt")) as fh:
        live = {line.strip() + "/" for line in fh if line.strip()}
    for d, _, fs in os.walk(build):
        if not any((d + "/").startswith(t) for t in live):
            continue
        for f in fs:
            if f.endswith(".c.o"):
                src = None
                # CMake names objects after the source path below the target's source dir
                p = os.path.join(d, f)
                rel = p.split(".dir/", 1)[-1][:-2]  # drop ".o"
                for cand in files:
                    if cand.endswith("/" + rel) or cand == rel:
                        src = cand
                        break
                if src:
                    objs[p] = src
    if not objs:
        errors.append(f"--objects {build}: no object files of our sources found")
        return
    defined, undefined = {}, {}
    for p, src in objs.items():
        out = subprocess.run(["nm", "-P", p], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, typ = parts[0], parts[1]
            if typ == "U":
                undefined.setdefault(src, set()).add(sym)
            elif typ in "TDBRC" and typ.isupper():
                defined.setdefault(sym, src)
    for src, syms in undefined.items():
        for s in syms:
            d = defined.get(s)
            if d and module_of(d) != module_of(src):
                graph.setdefault(module_of(src), set()).add(module_of(d))


def main():
    args = sys.argv[1:]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    objects = None
    if "--root" in args:
        root = args[args.index("--root") + 1]
    if "--objects" in args:
        objects = args[args.index("--objects") + 1]
    errors = check(root, objects)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
