#!/usr/bin/env python3
"""A man page and its program's --help must document the same flags, so that neither drifts.

    check_man.py PROGRAM MANPAGE [--require TEXT]...

Flags of --help: every --long-flag, and every -x short flag in the first column of an option
line. Flags of the man page: every flag named in an item's tag
(the line after .TP), after troff escapes are removed. The test fails, naming each flag, when
a flag of --help has no item in the man page, or a man page item names a flag --help does
not list (a removed or renamed flag). --require TEXT: the man page must also contain TEXT
(for an API or a signal that has no flag).
"""
import re
import subprocess
import sys

LONG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*[a-z0-9]")
SHORT = re.compile(r"(?<![\w-])-[A-Za-z0-9](?![\w-])")
# A line of the option list: indented, then a flag ("  -X, --request", "      --fail, -f").
OPTION_LINE = re.compile(r"^\s{1,8}-")


def troff_text(line):
    line = line.replace("\\-", "-").replace("\\(em", "-").replace("\\(en", "-")
    line = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\e", "", line)
    # .B/.BI/.BR/.IR macros: drop the macro name and the quotes that group words
    line = re.sub(r"^\.[A-Z]{1,2}\s+", "", line)
    return line.replace('"', " ")


def help_flags(program):
    r = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    if r.returncode != 0 or not out.strip():
        sys.exit(f"check_man: '{program} --help' exited {r.returncode} with: {out[:300]!r}")
    flags = set(LONG.findall(out))
    for line in out.splitlines():
        if OPTION_LINE.match(line):
            # the option's own column: "-X, --request METHOD", "--fail, -f", "-4, --ipv4, -6"
            head = re.split(r"\s{2,}", line.strip())[0]
            flags.update(SHORT.findall(head))
    return flags, out


def man_flags(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    tagged, text = set(), []
    for i, line in enumerate(lines):
        plain = troff_text(line)
        text.append(plain)
        if line.startswith(".TP") and i + 1 < len(lines):
            tag = troff_text(lines[i + 1])
            tagged.update(LONG.findall(tag))
            tagged.update(SHORT.findall(tag))
    return tagged, "\n".join(text)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    program, page, rest = args[0], args[1], args[2:]
    required = []
    while rest:
        if rest[0] != "--require" or len(rest) < 2:
            sys.exit(f"check_man: unexpected argument {rest[0]!r}")
        required.append(rest[1])
        rest = rest[2:]

    hflags, _ = help_flags(program)
    mflags, mtext = man_flags(page)
    problems = []
    for f in sorted(hflags - mflags):
        problems.append(f"{f}: listed by '{program} --help' but no item (.TP) of {page} names it")
    for f in sorted(mflags - hflags):
        problems.append(f"{f}: an item of {page} but not in '{program} --help' (removed or renamed?)")
    for t in required:
        if t not in mtext:
            problems.append(f"{page} does not mention {t!r}")
    print(f"{page}: {len(mflags)} flags documented, --help lists {len(hflags)}")
    if problems:
        for p in problems:
            print("FAIL:", p)
        print(f"check_man: {len(problems)} problem(s): add each flag to both --help and {page}, "
              "with the same name")
        return 1
    print("check_man: PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
