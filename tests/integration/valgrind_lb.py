#!/usr/bin/env python3
"""valgrind memcheck of journey-lb over a bounded request loop (issue 10): plain and TLS
keep-alive requests, hostile requests, a client vanishing mid-handshake, a backend refusing
connections, then SIGTERM. Passes when valgrind reports no error and "definitely lost: 0".

valgrind cannot run an ASan binary, and CI builds everything with ASan: given --build-plain DIR,
this test first builds a plain (no sanitizer) journey-lb and journey-backend from --source into
DIR (about a minute on 2 cores) and checks those, so the check really runs in CI. Given only
--lb/--backend (a plain build tree), it uses them as they are.

usage: valgrind_lb.py --certs DIR (--lb PATH --backend PATH | --source DIR --build-plain DIR)
"""
import argparse
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, free_ports, read, recv_all, run_main, start, start_backend,  # noqa: E402
                           status_of, wait_port)


def build_plain(src, out):
    subprocess.run(["cmake", "-S", src, "-B", out, "-DCMAKE_BUILD_TYPE=Debug", "-DJOURNEY_SANITIZE=OFF",
                    "-DJOURNEY_TESTS=OFF", "-DJOURNEY_FUZZ=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", out, "-j2", "--target", "journey-lb", "journey-backend"], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(out, "lb", "journey-lb"), os.path.join(out, "backend", "journey-backend")


def case_memcheck(a):
    if a.build_plain:
        t0 = time.time()
        lb_bin, be_bin = build_plain(a.source, a.build_plain)
        print(f"plain build for valgrind: {time.time() - t0:.0f} s")
    else:
        lb_bin, be_bin = a.lb, a.backend
    b = start_backend(be_bin, "b1")
    (dead,) = free_ports(1)  # nothing listens there: connect refused, then a retry on b1
    https, plain = free_ports(2)
    vlog = os.path.join(os.path.dirname(b.outpath), "valgrind.log")
    cmd = ["valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite,indirect",
           "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99", f"--log-file={vlog}",
           lb_bin, "--listen", f"https://127.0.0.1:{https}", "--listen", f"http://127.0.0.1:{plain}",
           "--cert", os.path.join(a.certs, "server.crt"), "--key", os.path.join(a.certs, "server.key"),
           "--backend", f"b1=127.0.0.1:{b.port}", "--backend", f"dead=127.0.0.1:{dead}",
           "--workers", "1", "--access-log", "off", "--retries", "1"]
    lb = start(cmd, "lb-valgrind")
    wait_port(plain, lb, "journey-lb under valgrind", timeout=60)
    wait_port(https, lb, "journey-lb under valgrind", timeout=60)
    n_plain = n_tls = n_bad = 0
    t0 = time.time()
    # 1. plain keep-alive: 10 connections x 40 requests
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", plain), 30)
        for _ in range(40):
            s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n")
            buf = b""
            while b"}" not in buf:
                x = s.recv(65536)
                check(x, "connection closed mid-loop")
                buf += x
            check(status_of(buf) == 200, f"plain: {buf[:80]!r}")
            n_plain += 1
        s.close()
    # 2. TLS: 20 handshakes, 5 requests each
    ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.crt"))
    for _ in range(20):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", https), 30), server_hostname="www.my-app.com")
        for _ in range(5):
            s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n")
            buf = b""
            while b"}" not in buf:
                buf += s.recv(65536)
            check(status_of(buf) == 200, f"tls: {buf[:80]!r}")
            n_tls += 1
        s.close()
    # 3. hostile requests and a client vanishing mid-handshake / mid-request
    for bad in (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", b"\x00\x01\x02garbage\r\n\r\n",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                b"POST /my-app/data HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        s = socket.create_connection(("127.0.0.1", plain), 30)
        s.sendall(bad)
        out = recv_all(s, 20)
        check(status_of(out) in (400, 501, 505), f"hostile: {out[:80]!r}")
        s.close()
        n_bad += 1
    for data in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"\x16\x03\x01", b""):
        s = socket.create_connection(("127.0.0.1", https), 30)
        s.sendall(data)
        s.close()
    s = socket.create_connection(("127.0.0.1", plain), 30)
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n")
    s.close()
    time.sleep(1)
    elapsed = time.time() - t0
    lb.send_signal(15)
    rc = lb.wait(120)
    log = read(vlog)
    m = re.search(r"definitely lost: ([\d,]+) bytes", log)
    definitely = m.group(1) if m else "0 (no leak summary: every block freed)"
    errors = re.search(r"ERROR SUMMARY: (\d+) errors", log)
    print(f"valgrind: {n_plain} plain + {n_tls} TLS requests, {n_bad} hostile, 3 aborted handshakes in "
          f"{elapsed:.1f} s; exit {rc}; definitely lost: {definitely}; "
          f"errors: {errors.group(1) if errors else '?'}")
    check(rc == 0, f"journey-lb under valgrind exited {rc}:\n{log[-3000:]}")
    check(errors and errors.group(1) == "0", f"valgrind errors:\n{log[-3000:]}")
    check(not m or m.group(1) == "0", f"leak:\n{log[-3000:]}")
    check("All heap blocks were freed" in log or (m and m.group(1) == "0"), log[-2000:])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb")
    ap.add_argument("--backend")
    ap.add_argument("--certs", required=True)
    ap.add_argument("--source")
    ap.add_argument("--build-plain")
    ap.add_argument("--case", default="memcheck")
    run_main({"case_memcheck": case_memcheck}, ap)
