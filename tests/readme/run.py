#!/usr/bin/env python3
"""README extract-and-run test: every command the README marks as running on loopback is executed,
so that the README cannot rot.

The rule (also written at the end of README.md): a fenced ```sh block directly preceded by the line
    <!-- tested: runs on loopback -->
is run, except the line `make test` (it is what runs this test). The marked blocks of the file are joined, in order, into one bash script run with
`set -euo pipefail` from the top of the source tree, so a block can use what an earlier one started
(a server left running, `$!`). Each command is echoed with its README line number first; the test
fails on the first command that exits non-zero and names its line.

  run.py --source-dir DIR --build-dir DIR [--readme FILE] [--list]

The README says `build/...`; the test runs the tree under test instead (every `build/` that starts
a path becomes that directory, and make and scripts/demo.sh get BUILD_DIR and its build type).
As root the script runs in a network namespace of its own (unshare --net, loopback up), so the
README's usual ports are free whatever else runs on the machine and nothing leaves loopback.
Not root: exit 77 (skip). --list prints the extracted script and runs nothing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARK = "<!-- tested: runs on loopback -->"
BUILD_PATH = re.compile(r"(?<![\w./$-])build/")


def extract(readme):
    """[(first line number of the block's body, [lines])] of the marked ```sh blocks."""
    lines = open(readme, encoding="utf-8").read().split("\n")
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == MARK:
            j = i + 1
            if j >= len(lines) or not lines[j].startswith("```sh"):
                sys.exit(f"README line {i + 1}: the mark must be directly followed by a ```sh block")
            body, k = [], j + 1
            while k < len(lines) and not lines[k].startswith("```"):
                # `make test` runs this very test: kept as an empty line so line numbers hold.
                body.append("" if lines[k].split("#")[0].strip() == "make test" else lines[k])
                k += 1
            if k >= len(lines):
                sys.exit(f"README line {j + 1}: the marked block is not closed")
            blocks.append((j + 2, body))
            i = k
        i += 1
    return blocks


def script_for(blocks, build_dir):
    out = ["set -euo pipefail", "export PS4='+ README.md line $((LINENO + readme_offset)): '"]
    for first, body in blocks:
        # LINENO of the block's first line is len(out) + 2 once the offset line is added.
        out.append(f"readme_offset={first - (len(out) + 2)}; set -x")
        out.extend(BUILD_PATH.sub(lambda _: build_dir.rstrip("/") + "/", line) for line in body)
        out.append("{ set +x; } 2>/dev/null")
    return "\n".join(out) + "\n"


def build_type(build_dir):
    try:
        for line in open(os.path.join(build_dir, "CMakeCache.txt")):
            if line.startswith("CMAKE_BUILD_TYPE:"):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def stop_leftovers():
    """Stops what a README command left running: every process in this test's own network
    namespace except this one (the namespace was made for the test, so they are all its own)."""
    import signal
    import time
    me = os.readlink("/proc/self/ns/net")
    left, names = [], []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if int(pid) != os.getpid() and os.readlink(f"/proc/{pid}/ns/net") == me:
                name = open(f"/proc/{pid}/comm").read().strip()
                os.kill(int(pid), signal.SIGTERM)
                left.append(int(pid))
                names.append(f"{name} ({pid})")
        except OSError:
            pass
    for _ in range(50):
        if not any(os.path.exists(f"/proc/{p}") for p in left):
            break
        time.sleep(0.1)
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if left:
        print(f"readme test: stopped what the README's commands left running: {', '.join(names)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--readme")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    src, build = os.path.abspath(a.source_dir), os.path.abspath(a.build_dir)
    readme = a.readme or os.path.join(src, "README.md")
    blocks = extract(readme)
    if not blocks:
        sys.exit(f"{readme}: no block marked '{MARK}': nothing would be tested")
    script = script_for(blocks, build)
    if a.list:
        sys.stdout.write(script)
        return 0
    if not a.in_netns:
        if os.geteuid() != 0 or not shutil.which("unshare"):
            print("readme test: SKIP: needs root for a network namespace of its own "
                  "(the README's ports on a shared machine)", file=sys.stderr)
            return 77
        return subprocess.run(["unshare", "--net", "--", sys.executable, os.path.abspath(__file__),
                               "--in-netns"] + sys.argv[1:]).returncode
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    n = sum(len(b) for _, b in blocks)
    print(f"readme test: {len(blocks)} marked blocks, {n} lines, from {readme}; build tree {build}")
    with tempfile.TemporaryDirectory(prefix="journey-readme.") as tmp:
        env = dict(os.environ, BUILD_DIR=build, XDG_CACHE_HOME=os.path.join(tmp, "cache"), NO_COLOR="1")
        # A user's shell, not a child of `make test`: the outer make's jobserver is not ours.
        for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
            env.pop(k, None)
        bt = build_type(build)
        if bt:
            env["BUILD_TYPE"] = bt
        path = os.path.join(tmp, "readme.sh")
        with open(path, "w") as f:
            f.write(script)
        # Whatever the README leaves running is stopped at the end (by the PIDs demo.sh recorded);
        # the namespace goes away with its last process.
        rc = subprocess.run(["bash", path], cwd=src, env=env, stdin=subprocess.DEVNULL).returncode
        subprocess.run([os.path.join(src, "scripts", "demo.sh"), "--stop"], cwd=src, env=env,
                       stdout=subprocess.DEVNULL)
        stop_leftovers()
    if rc != 0:
        print(f"readme test: FAIL: the command above (its README line is on the '+' line) exited {rc}",
              file=sys.stderr)
        return 1
    print(f"readme test: PASS: every marked command of {os.path.basename(readme)} ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
