#!/usr/bin/env python3
"""The end of a test run in a few lines: what passed, what failed, what skipped and why.

Reads ctest's JUnit file (ctest --output-junit) and, optionally, more results of the same run
(tests/fuzz/run.sh's targets, .ci/run's deployment checks) as tab-separated lines
`name<TAB>pass|fail|skip<TAB>reason`. A skipped test's reason is the last line of its output
that says SKIP (else its last line). Prints, for each failed ctest test, the tail of its output
(--tail lines) under a header naming it, then the skipped tests with their reasons, the failed
ones each with the line of its output that says why (an exception, FAIL, error), then one line
`N passed, N failed, N skipped` (last, alone on its line): whoever reads only the end of a CI
log sees which test failed, why, and its log just above.

With --ci (or CI=true in the environment) a skip counts as a failure unless the file given by
--expected lists it: lines `NAME-GLOB: REASON-SUBSTRING` (# comments). CI's machine can run
everything, so that list is meant to stay short, ideally empty. --min-tests FILE: a number; in
CI, fewer ctest tests than that is a failure (tests that stopped being registered).

Exit 0 when nothing failed, 1 otherwise.

usage: summary.py --junit FILE [--results FILE] [--expected FILE] [--min-tests FILE] [--ci]
                  [--label TEXT] [--tail N]
"""
import argparse
import fnmatch
import os
import re
import sys
import xml.etree.ElementTree as ET


def skip_reason(output):
    lines = [x.strip() for x in (output or "").splitlines() if x.strip()]
    said = [x for x in lines if re.search(r"\bSKIP", x, re.I)]
    return (said or lines or ["(no reason printed)"])[-1][:300]


def failure_line(output):
    """The line of a failed test's output that says why: the last exception (AssertionError:
    ..., as the Python tests raise), else the last line naming a failure or an error, else ""."""
    lines = [x.strip() for x in (output or "").splitlines() if x.strip()]
    for pattern in (r"^[\w.]*(Error|Exception)\b.*:", r"\b(FAIL|FAILED|[Ff]ailed|[Ee]rror)\b"):
        said = [x for x in lines if re.search(pattern, x) and x not in ("FAILED", "ok")]
        if said:
            return said[-1][:300]
    return ""


def read_junit(path, outputs=None):
    """[(name, 'pass'|'fail'|'skip', reason)] from ctest's JUnit file; a failed test's output
    goes to outputs[name] when a dict is given."""
    rows = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        name, status = tc.get("name"), tc.get("status")
        out = tc.findtext("system-out") or ""
        skipped = tc.find("skipped")
        if status == "run":
            rows.append((name, "pass", ""))
        elif status == "notrun" and skipped is not None and (
                skipped.get("message", "").startswith(("SKIP_RETURN_CODE", "SKIP_REGULAR_EXPRESSION"))):
            rows.append((name, "skip", skip_reason(out)))
        elif status == "disabled":
            rows.append((name, "skip", "disabled (the test's DISABLED property)"))
        elif status == "fail":
            failure = tc.find("failure")
            message = failure.get("message", "") if failure is not None else ""
            why = failure_line(out)
            rows.append((name, "fail", f"{message}: {why}" if message and why else message or why))
            if outputs is not None:
                outputs[name] = out
        else:  # not run for another reason (a missing program, a failed fixture): a failure
            rows.append((name, "fail", f"not run: {skipped.get('message', '') if skipped is not None else status}"))
    return rows


def read_results(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1] in ("pass", "fail", "skip"):
                rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    return rows


def read_expected(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if ":" in line:
                    glob, reason = line.split(":", 1)
                    out.append((glob.strip(), reason.strip()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--junit", required=True)
    ap.add_argument("--results")
    ap.add_argument("--expected")
    ap.add_argument("--min-tests")
    ap.add_argument("--ci", action="store_true", default=os.environ.get("CI") == "true")
    ap.add_argument("--label", default="")
    ap.add_argument("--tail", type=int, default=40, help="lines of each failed test's output shown")
    a = ap.parse_args()

    rows, problems, outputs = [], [], {}
    if os.path.exists(a.junit):
        rows += read_junit(a.junit, outputs)
        n_ctest = len(rows)
    else:
        n_ctest = 0
        rows.append(("ctest", "fail", f"no results ({a.junit} is missing): the configure or the build "
                                      "failed, see above"))
    if a.results and os.path.exists(a.results):
        rows += read_results(a.results)
    if a.ci and a.min_tests and os.path.exists(a.min_tests) and n_ctest:
        with open(a.min_tests) as f:
            floor = int(next(x for x in (line.split("#", 1)[0].strip() for line in f) if x))
        if n_ctest < floor:
            problems.append(f"only {n_ctest} ctest tests registered, CI expects at least {floor} "
                            f"({a.min_tests}): a test stopped being registered")
    expected = read_expected(a.expected)

    passed = [r for r in rows if r[1] == "pass"]
    failed = [r for r in rows if r[1] == "fail"]
    skipped = []
    for name, _, why in (r for r in rows if r[1] == "skip"):
        ok = any(fnmatch.fnmatch(name, g) and sub in why for g, sub in expected)
        if a.ci and not ok:
            failed.append((name, "fail", f"skipped in CI, and not listed in {a.expected}: {why}"))
        else:
            skipped.append((name, "skip", why))

    head = f"{a.label}: " if a.label else ""
    for name, out in outputs.items():
        lines = out.rstrip().splitlines()[-a.tail:] if a.tail > 0 else []
        print(f"{head}---- {name} FAILED; the last {len(lines)} lines of its output:")
        for line in lines:
            print(f"  | {line}")
        print(f"{head}---- end of {name}")
    if skipped:
        print(f"{head}skipped ({len(skipped)}):")
        for name, _, why in skipped:
            print(f"  {name}: {why}")
    if failed:
        print(f"{head}failed ({len(failed)}):")
        for name, _, why in failed:
            print(f"  {name}" + (f": {why}" if why else ""))
    for p in problems:
        print(f"{head}{p}")
    print(f"{head}{len(passed)} passed, {len(failed) + len(problems)} failed, {len(skipped)} skipped")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
