"""Shared harness of the hardening tests (issue 10): start journey-backend / journey-lb / small
faulty servers on free loopback ports, stop only what was started (by PID), and fail on any
sanitizer report in their stderr."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

TMP = tempfile.mkdtemp(prefix="harden-")
PROCS = []


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def start(cmd, name, env=None):
    out = os.path.join(TMP, name + ".out")
    err = os.path.join(TMP, name + ".err")
    p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=open(err, "w"), env=env)
    p.outpath, p.errpath, p.name = out, err, name
    PROCS.append(p)
    return p


def wait_port(port, proc, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early with {proc.returncode}: {read(proc.errpath)}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} does not listen on {port} after {timeout}s")


def start_backend(binary, name="b1", *flags):
    (port,) = free_ports(1)
    p = start([binary, "--listen", f"127.0.0.1:{port}", "--name", name, *flags], name)
    wait_port(port, p, f"backend {name}")
    p.port = port
    return p


def start_lb(binary, certs, servers, *flags, name="lb"):
    """servers: [(name, port)]. Listens on a plain and a TLS port."""
    https, plain = free_ports(2)
    cmd = [binary, "--listen", f"https://127.0.0.1:{https}", "--listen", f"http://127.0.0.1:{plain}",
           "--cert", os.path.join(certs, "server.crt"), "--key", os.path.join(certs, "server.key")]
    for n, port in servers:
        cmd += ["--backend", f"{n}=127.0.0.1:{port}"]
    cmd += list(flags)
    p = start(cmd, name)
    wait_port(https, p, "journey-lb")
    wait_port(plain, p, "journey-lb")
    p.https, p.plain = https, plain
    return p


def stop(p, timeout=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        stop(p)


def sanitizer_reports():
    bad = []
    for p in PROCS:
        err = read(p.errpath)
        if re.search(r"ERROR: AddressSanitizer|LeakSanitizer|runtime error:", err):
            bad.append(f"{p.name}: {err[-3000:]}")
    return bad


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def recv_all(s, timeout=5.0):
    """Reads until the peer closes or `timeout` passes in silence."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            x = s.recv(65536)
            if not x:
                break
            out += x
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run_main(module_globals, parser=None):
    """Runs the case named by --case among the script's case_* functions; stops every process;
    fails on sanitizer reports. `parser`: a script's own arguments (default: --lb, --backend,
    --certs, --case)."""
    import argparse
    import sys
    cases = {k[5:]: v for k, v in module_globals.items() if k.startswith("case_")}
    ap = parser
    if ap is None:
        ap = argparse.ArgumentParser()
        ap.add_argument("--lb", required=True)
        ap.add_argument("--backend", required=True)
        ap.add_argument("--certs", required=True)
        ap.add_argument("--case", required=True, choices=sorted(cases))
    a = ap.parse_args()
    ok = False
    try:
        cases[a.case](a)
        ok = True
    finally:
        stop_all()
        bad = sanitizer_reports()
        if bad:
            print("\n".join(bad))
            ok = False
        if not ok:
            for p in PROCS:
                print(f"--- {p.name} stderr (tail) ---\n" + read(p.errpath)[-2500:])
    sys.exit(0 if ok else 1)
