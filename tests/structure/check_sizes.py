#!/usr/bin/env python3
"""No source file in lb/ client/ backend/ common/ over 700 lines (a file that needs more is a sign
that a job has no home yet). The files in over_700.txt are the known exceptions, each with the
length it must not exceed: they may only shrink, and once one is under the limit its line must
go (the check says so), so the list can only get shorter. Run by ctest as structure.file_lines."""
import argparse
import os
import sys

LIMIT = 700
DIRS = ("lb", "client", "backend", "common")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    allowed = {}
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "over_700.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                allowed[line[0]] = int(line[1])
    bad = 0
    for d in DIRS:
        for root, _, files in os.walk(os.path.join(a.source, d)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                rel = os.path.relpath(path, a.source)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    n = sum(1 for _ in fh)
                cap = allowed.pop(rel, None)
                if cap is None and n > LIMIT:
                    print(f"{rel}: {n} lines (limit {LIMIT}): split it by job")
                    bad += 1
                elif cap is not None and n > cap:
                    print(f"{rel}: {n} lines, more than its recorded {cap} (limit {LIMIT}): "
                          "split it instead of growing it")
                    bad += 1
                elif cap is not None and n <= LIMIT:
                    print(f"{rel}: {n} lines, under the limit now: remove it from over_700.txt")
                    bad += 1
    for rel in allowed:
        print(f"{rel}: listed in over_700.txt but not found: remove the line")
        bad += 1
    if bad:
        return 1
    print(f"every source file in {', '.join(DIRS)} is within {LIMIT} lines or its recorded size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
