#!/usr/bin/env python3
"""Backend faults under load (issue 10): bounded wrk runs on loopback through journey-lb while
one server of the pool misbehaves, then again after it heals.

  killed   a journey-backend SIGKILLed mid-run, restarted on its port 1.5 s later
  reset    a server that resets the connection: before answering (retried: the client sees
           200) and in the middle of a body (the client's connection is cut: counted by wrk)
  hang     a server that accepts and never answers: GET/HEAD are never retried after the
           request went out (504 at backend-response-timeout); a POST to it is sent once
  garbage  a server answering bytes that are not HTTP: 502, never forwarded

The misbehaving servers are small Python programs: they ARE the faulty component. Each scenario
prints wrk's figures (requests, non-2xx, socket errors) and checks the LB's access log and
diagnostics name what happened, then heals the fault (a real journey-backend on the same port)
and checks that a second run has no error and reaches the healed server.

usage: backend_faults.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, free_ports, read, recv_all, run_main, start, start_backend,  # noqa: E402
                           start_lb, status_of, stop, wait_port, TMP)
import socket  # noqa: E402

FAULTY = r'''
import socket, sys, struct, threading, time
mode, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(256)
held = []
def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
def serve(c):
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            x = c.recv(65536)
            if not x: c.close(); return
            buf += x
        head = buf.split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
        rid = [h.split(":", 1)[1].strip() for h in head[1:] if h.lower().startswith("x-request-id:")]
        with open(sys.argv[3], "a") as f: f.write(head[0] + " id=" + (rid[0] if rid else "-") + "\n")
        if mode == "reset-before": rst(c)
        elif mode == "reset-mid":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000); time.sleep(0.01); rst(c)
        elif mode == "hang": held.append(c)
        elif mode == "garbage": c.sendall(b"\x00\x01garbage, not HTTP\r\n\r\n"); time.sleep(0.05); c.close()
    except OSError:
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def wrk(port, seconds, conns=8, path="/my-app/data"):
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "3s",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    return parse_wrk(out)


def parse_wrk(out):
    """wrk's figures: requests, non-2xx answers and socket errors (a read error is a connection
    the LB cut)."""
    r = {"requests": 0, "non2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["connect"], r["read"], r["write"], r["timeout"] = map(int, m.groups())
    check(r["requests"] > 0, f"wrk did not run: {out}")
    return r


def fmt(r):
    return (f"requests={r['requests']} non2xx={r['non2xx']} errors: connect={r['connect']} "
            f"read={r['read']} write={r['write']} timeout={r['timeout']}")


def access(lb):
    """The LB's access log once it stops growing: lines are written once per loop iteration, and
    the requests wrk left in flight are logged when their connections close, just after wrk exits."""
    log, deadline = read(lb.outpath), time.time() + 3
    while time.time() < deadline:
        time.sleep(0.1)
        again = read(lb.outpath)
        if again == log:
            break
        log = again
    return log


def count(log, pattern):
    return len(re.findall(pattern, log))


def setup(a, fault_mode=None, *lb_flags):
    """b1 = journey-backend; b2 = journey-backend or a faulty server. Returns (b1, b2, lb, port2)."""
    record = os.path.join(TMP, "b1.record")
    b1 = start_backend(a.backend, "b1", "--no-access-log", "--record", record)
    b1.record = record
    (port2,) = free_ports(1)
    if fault_mode:
        rec = os.path.join(TMP, "faulty.requests")
        b2 = start([sys.executable, "-c", FAULTY, fault_mode, str(port2), rec], "faulty")
        b2.requests = rec
    else:
        b2 = start([a.backend, "--listen", f"127.0.0.1:{port2}", "--name", "b2"], "b2")
    wait_port(port2, b2, "b2")
    # Only the hang case measures the response timeout; elsewhere a short one would turn a
    # backend slowed by a busy (shared CI) machine into 504s the test did not cause.
    response_timeout = "1s" if fault_mode == "hang" else "5s"
    lb = start_lb(a.lb, a.certs, [("b1", b1.port), ("b2", port2)], "--workers", "1",
                  "--backend-connect-timeout", "500ms",
                  "--backend-response-timeout", response_timeout,
                  "--retries", "1",
                  # Passive outlier detection ejects the failing server; a short ejection lets
                  # the tests see traffic return soon after the fault heals.
                  "--outlier-base-ejection-time", "500ms", "--outlier-max-ejection-time", "1s",
                  *lb_flags)
    return b1, b2, lb, port2


def heal(a, lb, faulty, port2):
    """Replaces the faulty server by a real journey-backend on its port; traffic must return."""
    stop(faulty)
    healed = start([a.backend, "--listen", f"127.0.0.1:{port2}", "--name", "b2"], "b2-healed")
    wait_port(port2, healed, "healed b2")
    r = wrk(lb.plain, 2)
    time.sleep(0.2)
    served = count(read(healed.outpath), r"status=200")
    print(f"  after healing: {fmt(r)}; healed server answered {served}")
    check(r["non2xx"] == 0 and r["read"] == 0 and r["timeout"] == 0, f"errors after healing: {fmt(r)}")
    check(served > 0, "no traffic reached the healed server")


def case_killed(a):
    b1, b2, lb, port2 = setup(a)
    proc = subprocess.Popen(["wrk", "-t1", "-c8", "-d4s", "--timeout", "3s",
                             f"http://127.0.0.1:{lb.plain}/my-app/data"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    b2.send_signal(signal.SIGKILL)
    b2.wait()
    time.sleep(1.5)
    restarted = start([a.backend, "--listen", f"127.0.0.1:{port2}", "--name", "b2"], "b2-restarted")
    wait_port(port2, restarted, "restarted b2")
    r = parse_wrk(proc.communicate(timeout=40)[0])
    log = access(lb)
    print(f"killed: {fmt(r)}; LB log: {count(log, r'retries=[1-9]')} retried, "
          f"{count(log, r'status=50[234]')} 5xx")
    # Requests in flight on the killed server saw a reset before any byte: GETs are retried, so
    # no client sees an error status, nor a connection cut or left without an answer.
    check(r["non2xx"] == 0, f"clients saw errors while a backend was killed: {fmt(r)}")
    check(r["connect"] + r["read"] + r["write"] + r["timeout"] == 0,
          f"client connections failed while a backend was killed (a cut instead of a retry?): {fmt(r)}")
    check(count(log, r"retries=[1-9]") > 0, "no retry logged after the kill")
    check("connect to backend b2" in read(lb.errpath) or "backend b2" in read(lb.errpath),
          "the failing backend is not named in the diagnostics")
    time.sleep(0.3)
    r = wrk(lb.plain, 2)
    served = count(read(restarted.outpath), r"status=200")
    print(f"  after restart: {fmt(r)}; restarted server answered {served}")
    check(r["non2xx"] == 0 and r["read"] == 0 and served > 0, "traffic did not return to the restarted backend")


def case_reset(a):
    b1, faulty, lb, port2 = setup(a, "reset-before")
    r = wrk(lb.plain, 2)
    log = access(lb)
    print(f"reset before answering: {fmt(r)}; LB log: {count(log, r'retries=[1-9]')} retried")
    check(r["non2xx"] == 0 and r["read"] == 0, f"a reset before any byte must be retried: {fmt(r)}")
    check(count(log, r"retries=[1-9]") > 0, "no retry logged")
    stop(faulty)
    faulty2 = start([sys.executable, "-c", FAULTY, "reset-mid", str(port2), faulty.requests], "faulty-mid")
    wait_port(port2, faulty2, "faulty")
    r = wrk(lb.plain, 2)
    log = access(lb)
    print(f"reset mid-body: {fmt(r)}; LB log: {count(log, r'term=backend-aborted')} backend-aborted")
    check(r["read"] > 0, f"a body cut by a reset must cut the client's connection (wrk read errors): {fmt(r)}")
    check(count(log, r"term=backend-aborted") > 0, "the access log does not say backend-aborted")
    check("failed mid-response" in read(lb.errpath), "the diagnostics do not say mid-response")
    heal(a, lb, faulty2, port2)


def case_hang(a):
    b1, faulty, lb, port2 = setup(a, "hang")
    r = wrk(lb.plain, 3)
    log = access(lb)
    n504 = count(log, r"status=504")
    print(f"hang: {fmt(r)}; LB log: {n504} x 504 term=backend-timeout")
    # wrk stops with requests in flight: the LB logs those too, so the log may count more.
    check(r["non2xx"] > 0 and n504 >= r["non2xx"], f"requests to a hanging server must end 504: {fmt(r)}")
    check(count(log, r"status=50[023]") == 0, "a hanging server must give 504, nothing else")
    check(count(log, r"status=504.*term=backend-timeout") == n504, "504 without term=backend-timeout")
    # A POST that went out is never sent twice: each POST has its own request id, both servers
    # record what reaches them (b1 every byte, the hanging server each head), and each id must
    # arrive exactly once. A POST that reached the hanging server gets its 504 and is not retried
    # on b1 (which answers it 405); round-robin sends every second one there (the LB may have ejected it after wrk's
    # timeouts: then go on until 4 POSTs went to it, at most 16).
    results = {}
    for i in range(16):
        rid = f"post-once-{i}"
        s = socket.create_connection(("127.0.0.1", lb.plain), 5)
        s.sendall(b"POST /my-app/data HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s\r\nConnection: close\r\n"
                  b"Content-Length: 2\r\n\r\nhi" % rid.encode())
        results[rid] = status_of(recv_all(s, 5))
        s.close()
        if sum(st == 504 for st in results.values()) >= 4:
            break
    time.sleep(0.3)  # a wrong retry would reach b1 right after the 504
    at_hang = re.findall(r"^POST \S+ HTTP/1\.1 id=(\S+)$", read(faulty.requests), re.M)
    at_b1 = re.findall(r"X-Request-Id: (post-once-\d+)\s", read(b1.record))
    print(f"  POSTs through the LB: answers {results}; the hanging server received {at_hang}, b1 {at_b1}")
    for rid, st in results.items():
        n_hang, n_b1 = at_hang.count(rid), at_b1.count(rid)
        check(n_hang + n_b1 == 1, f"POST {rid} arrived {n_hang} times at the hanging server and {n_b1} at b1 "
              "(must be exactly once in all)")
        want = 504 if n_hang else 405  # journey-backend answers a POST to /my-app/data with 405
        check(st == want, f"POST {rid} reached {'the hanging server' if n_hang else 'b1'} and got {st}, not {want}")
    check(sum(st == 504 for st in results.values()) >= 4, f"fewer than 4 POSTs reached the hanging server: {results}")
    heal(a, lb, faulty, port2)


def case_garbage(a):
    b1, faulty, lb, port2 = setup(a, "garbage")
    r = wrk(lb.plain, 2)
    log = access(lb)
    n502 = count(log, r"status=502")
    print(f"garbage: {fmt(r)}; LB log: {n502} x 502")
    check(r["non2xx"] > 0 and n502 >= r["non2xx"], f"garbage from a backend must be a 502: {fmt(r)}")
    check(count(log, r"status=50[034]") == 0, "garbage from a backend must give 502, nothing else")
    check("invalid response" in read(lb.errpath), "the diagnostics do not say invalid response")
    s = socket.create_connection(("127.0.0.1", lb.plain), 5)
    for _ in range(4):  # round-robin: some go to the garbage server
        s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n")
    out = recv_all(s, 2)
    s.close()
    check(b"garbage" not in out, "backend garbage reached the client")
    heal(a, lb, faulty, port2)


if __name__ == "__main__":
    if not shutil.which("wrk"):
        sys.exit("wrk not found: scripts/install-deps.sh --test installs it")
    run_main(globals())
