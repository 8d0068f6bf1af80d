"""Helpers shared by the integration test scripts (one copy, imported by every script):
loopback ports that stay free, processes started here and stopped by their PID, waiting for a
port or a condition, the development certificate's paths, journey-lb started on two listeners,
and the sanitizer check of what the processes wrote."""
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time

# One scratch folder and one list of started processes per test script (each runs as a process).
TMP = tempfile.mkdtemp(prefix="journey-it-")
PROCS = []


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports on host, picked below the kernel's ephemeral range: on a busy
    machine the outgoing connections of other programs cannot take them between this check and
    the bind by the process under test."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    ports = []
    while len(ports) < n:
        port = random.randrange(20000, min(ephemeral_low, 32768))
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        ports.append(port)
    return ports


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def read_head(sock):
    """Bytes from sock until the end of an HTTP head (CRLF CRLF) or EOF; what followed the head
    in the same reads is included."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = sock.recv(65536)
        if not d:
            break
        data += d
    return data


def read(path):
    """A file's text ("" when it does not exist yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def start(cmd, name, env=None):
    """Starts cmd with stdout and stderr in TMP/name.out and TMP/name.err (p.outpath, p.errpath)."""
    out = os.path.join(TMP, name + ".out")
    err = os.path.join(TMP, name + ".err")
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, env=env)
    p.outpath, p.errpath, p.name = out, err, name
    PROCS.append(p)
    return p


def wait_port(port, proc=None, what="server", host="127.0.0.1", timeout=60):
    """Until something accepts on host:port; fails at once if proc exits first. The bound is
    generous: an ASan build starting on a loaded 2-core machine can take many seconds, and a
    process that fails to start is seen at once through proc."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited early ({proc.returncode}): {read(proc.errpath)}")
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.03)
    raise AssertionError(f"{what} does not listen on {host}:{port} after {timeout}s")


def wait_until(cond, timeout, step=0.02):
    """Polls cond() until true (True) or the timeout (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def wait_for(what, cond, timeout, step=0.05):
    """wait_until, failing with `what` at the timeout; returns the seconds it took."""
    t0 = time.monotonic()
    if not wait_until(cond, timeout, step):
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
    return time.monotonic() - t0


def stop(p, sig=signal.SIGTERM, timeout=15, must=True):
    """Signals p (by its PID), waits; after timeout SIGKILLs it and fails (a program that does
    not stop on SIGTERM is a bug) unless must=False. Returns the exit code."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            if must:
                raise AssertionError(f"{p.name} did not stop on {sig}")
    return p.returncode


def stop_all(timeout=15):
    """SIGTERM to every process still running, all at once, then waits for each (SIGKILL after
    timeout: the clean-up of a test that already failed must not fail again)."""
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in PROCS:
        stop(p, timeout=timeout, must=False)


def sanitizer_reports(procs=None):
    """ASan/LSan/UBSan reports in the stderr of the processes started here, one string each."""
    bad = []
    for p in PROCS if procs is None else procs:
        err = read(p.errpath)
        if re.search(r"ERROR: AddressSanitizer|LeakSanitizer|runtime error:", err):
            bad.append(f"{p.name}: {err[-3000:]}")
    return bad


def case_args(cases, certs=True, **more):
    """The flags every integration script takes: --lb, --backend, --certs (required unless
    certs=False: then optional, "" by default), --case (one of `cases`), and the script's own
    flags `more` as name=default (name_with_underscores -> --name-with-underscores)."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    if certs:
        ap.add_argument("--certs", required=True)
    else:
        ap.add_argument("--certs", default="")
    for name, default in more.items():
        ap.add_argument("--" + name.replace("_", "-"), default=default)
    ap.add_argument("--case", required=True, choices=sorted(cases))
    return ap.parse_args()


def run_case(fn, *args, tail=3000):
    """Runs one test case fn(*args), then stops every process started; fails (exit 1) on an
    exception or a sanitizer report, printing the processes' stderr tails and keeping TMP; exits 0
    otherwise, TMP removed."""
    import sys
    ok = False
    try:
        fn(*args)
        ok = True
    finally:
        stop_all()
        for report in sanitizer_reports():
            ok = False
            print(f"--- sanitizer report of {report}")
        if not ok:
            for p in PROCS:
                print(f"--- {p.name} (exit {p.returncode}) stderr (tail):\n{read(p.errpath)[-tail:]}")
    if ok:  # a passing case leaves nothing behind; a failing one keeps its logs to read
        import shutil
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print(f"--- logs kept in {TMP}")
    print("ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


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


def tls11_refusal(port, errpath):
    """Offers TLS 1.1 for real (at security level 0 OpenSSL 3 still has ciphers for it; without
    it the client gives up with NO_CIPHERS_AVAILABLE before sending a byte) and checks that the
    server refused it: its protocol_version alert reached the client and its stderr (errpath)
    logged the handshake failure. Returns a line describing the refusal; raises AssertionError
    when the handshake completed or failed on the client's side."""
    import ssl
    import warnings
    before = len(read(errpath))
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 is deprecated: that is the point
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    try:
        s = old.wrap_socket(socket.create_connection(("127.0.0.1", port), 5), server_hostname="www.my-app.com")
        version = s.version()
        s.close()
        raise AssertionError(f"a TLS 1.1-only client completed a handshake ({version})")
    except ssl.SSLError as e:
        err = e
    check(err.reason == "TLSV1_ALERT_PROTOCOL_VERSION",
          f"TLS 1.1 must be refused by the server's protocol_version alert, the client saw: {err}")
    logged = wait_until(lambda: "unsupported protocol" in read(errpath)[before:], 5)
    check(logged, "the server did not log the refused TLS 1.1 handshake (unsupported protocol): "
          f"{read(errpath)[before:][-600:]!r}")
    return f"TLS 1.1 refused by the server: client saw {err.reason}, server logged unsupported protocol"


def relay(a, b):
    """Copies a to b until a ends, then shuts both down and closes a (a proxy's tunnel: each
    socket is the source of exactly one relay)."""
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        a.close()


def cert_paths(certs):
    """(certificate chain, key, CA) of the development certificate made by certs/make-certs.sh."""
    return (os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"),
            os.path.join(certs, "ca.crt"))


def start_lb(binary, certs, servers, *flags, name="lb"):
    """journey-lb on two free loopback ports (p.https, p.plain) in front of servers [(name, port)]."""
    https, plain = free_ports(2)
    crt, key, _ = cert_paths(certs)
    cmd = [binary, "--listen", f"https://127.0.0.1:{https}", "--listen", f"http://127.0.0.1:{plain}",
           "--cert", crt, "--key", key]
    for n, port in servers:
        cmd += ["--backend", f"{n}=127.0.0.1:{port}"]
    cmd += list(flags)
    p = start(cmd, name)
    wait_port(https, p, "journey-lb")
    wait_port(plain, p, "journey-lb")
    p.https, p.plain = https, plain
    return p
