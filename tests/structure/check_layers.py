#!/usr/bin/env python3
"""The shape of journey-lb, checked: arrows between lb/'s files point one way.

Modules are files without their extension (x.c and x.h are one module). Layers, bottom to top:
core (core/balancer included), net, http, proxy, control, then main.c. Two graphs are checked:
  - includes: every `#include "lb/..."` of every file under lb/;
  - calls (with --objects DIR): from the object files of the build (nm), a module that uses a
    symbol another module defines depends on it.
Either graph fails the check when an arrow goes up a layer (a back-arrow) or when modules form a
circle. Run by ctest as structure.lb_layers; prints every offending arrow or circle."""
import argparse
import os
import re
import subprocess
import sys

LAYERS = ["core", "net", "http", "proxy", "control", "main"]


def layer_of(module):  # "lb/proxy/exchange" -> "proxy"; "lb/main" -> "main"
    parts = module.split("/")
    return parts[1] if len(parts) > 2 else "main"


def include_graph(src):
    graph = {}
    for root, _, files in os.walk(os.path.join(src, "lb")):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            mod = os.path.relpath(path, src)[:-2]
            deps = graph.setdefault(mod, set())
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    m = re.match(r'\s*#\s*include\s+"(lb/[^"]+)\.[ch]"', line)
                    if m and m.group(1) != mod:
                        deps.add(m.group(1))
    return graph


def nm(path):
    out = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        if f[1] == "U":
            undefined.add(f[0])
        elif f[1] in "TDBRCV":
            defined.add(f[0])
    return defined, undefined


def call_graph(objdir, src):
    objs = {}
    for root, _, files in os.walk(objdir):
        for f in files:
            m = re.search(r"\.dir/(.+)\.c\.o$", os.path.join(root, f))
            # only objects of sources that exist now (a build tree keeps those of removed files)
            if m and f.endswith(".c.o") and os.path.exists(os.path.join(src, "lb", m.group(1) + ".c")):
                objs["lb/" + m.group(1)] = os.path.join(root, f)
    owner, uses = {}, {}
    for mod, path in objs.items():
        d, u = nm(path)
        for sym in d:
            owner[sym] = mod
        uses[mod] = u
    return {mod: {owner[s] for s in u if s in owner and owner[s] != mod} for mod, u in uses.items()}


def circles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = n[0]
        n[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = n[0]
                    n[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def check(name, graph):
    bad = 0
    for mod in sorted(graph):
        for dep in sorted(graph[mod]):
            if LAYERS.index(layer_of(dep)) > LAYERS.index(layer_of(mod)):
                print(f"{name}: back-arrow {mod} -> {dep} ({layer_of(mod)} must not use "
                      f"{layer_of(dep)})")
                bad += 1
    for comp in circles(graph):
        print(f"{name}: circle among {', '.join(comp)}")
        bad += 1
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help="the source tree")
    ap.add_argument("--objects", help="a build's lb/ directory (object files) for the call graph")
    a = ap.parse_args()
    bad = check("includes", include_graph(a.source))
    if a.objects:
        g = call_graph(a.objects, a.source)
        if not g:
            print(f"calls: no object files under {a.objects}: build first")
            return 1
        bad += check("calls", g)
    if bad:
        print(f"{bad} problem(s): move the function or type to the layer that owns its job, or "
              "pass the upper layer's callbacks down (an ops table) instead of calling up")
        return 1
    print("lb/: every include and call points down a layer, no circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
