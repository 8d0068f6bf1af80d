"""Shared harness of the hardening tests (issue 10): start journey-backend / journey-lb / small
faulty servers on free loopback ports, stop only what was started (by PID), and fail on any
sanitizer report in their stderr."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The generic helpers live in loopback.py; the hardening scripts import them from here too.
from loopback import (PROCS, TMP, case_args, check, free_ports, read, recv_all, run_case,  # noqa: E402,F401
                      sanitizer_reports, start, start_lb, stop, stop_all, tls11_refusal, wait_port,
                      wait_until)


def start_backend(binary, name="b1", *flags):
    (port,) = free_ports(1)
    p = start([binary, "--listen", f"127.0.0.1:{port}", "--name", name, *flags], name)
    wait_port(port, p, f"backend {name}")
    p.port = port
    return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def run_main(module_globals, parser=None):
    """Runs the case named by --case among the script's case_* functions; stops every process;
    fails on sanitizer reports. `parser`: a script's own arguments (default: --lb, --backend,
    --certs, --case)."""
    cases = {k[5:]: v for k, v in module_globals.items() if k.startswith("case_")}
    a = case_args(cases) if parser is None else parser.parse_args()
    run_case(cases[a.case], a, tail=2500)
