#!/usr/bin/env python3
"""TLS abuse against journey-lb's HTTPS listener (issue 10).

  abuse    handshake garbage, ClientHellos truncated at every record boundary and inside them,
           clients vanishing mid-handshake, junk records after a good handshake, a TLS 1.1-only
           client: nothing crashes, the LB keeps serving, and (ASan build) LeakSanitizer finds no
           leak when it exits on SIGTERM
  testssl  testssl.sh (Debian's /usr/bin/testssl) against the listener: no protocol below
           TLS 1.2 offered, no vulnerability found; its runtime is printed (skipped, exit 77,
           when testssl is not installed)

usage: tls_abuse.py --lb PATH --backend PATH --certs DIR --case abuse|testssl
"""
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, recv_all, run_main, start_backend, start_lb, status_of,  # noqa: E402
                           tls11_refusal, TMP)


def client_hello(maxv=ssl.TLSVersion.TLSv1_3):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = maxv
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = ctx.wrap_bio(i, o, server_hostname="www.my-app.com")
    try:
        s.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o.read()


def https_get(a, port):
    ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.crt"))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5), server_hostname="www.my-app.com")
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nConnection: close\r\n\r\n")
    out = recv_all(s, 5)
    s.close()
    return status_of(out)


def send_and_drop(port, data, wait_reply=False):
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        s.sendall(data)
        if wait_reply:
            s.settimeout(2)
            try:
                s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                pass
    except OSError:
        pass
    s.close()


def case_abuse(a):
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "1", "--client-header-timeout", "2s")
    hello = client_hello()
    rng = random.Random(10)
    n = 0
    # 1. garbage that starts like a handshake record, and plain garbage
    for _ in range(40):
        send_and_drop(lb.https, b"\x16\x03\x01" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))),
                      wait_reply=True)
        n += 1
    # 2. the ClientHello truncated: header only, mid-body, all but one byte; then the peer vanishes
    for cut in sorted({1, 3, 5, 6, 20, len(hello) // 2, len(hello) - 1}):
        send_and_drop(lb.https, hello[:cut])
        n += 1
    # 3. a whole ClientHello, then gone before the server's flight is read
    for _ in range(20):
        send_and_drop(lb.https, hello)
        n += 1
    # 4. ClientHello with mutated bytes
    for _ in range(40):
        m = bytearray(hello)
        for _ in range(4):
            m[rng.randrange(5, len(m))] = rng.randrange(256)
        send_and_drop(lb.https, bytes(m), wait_reply=True)
        n += 1
    # 5. a good handshake, then records of junk (bad MAC) and a truncated record
    ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.crt"))
    for junk in (b"\x17\x03\x03\x00\x20" + b"\x00" * 32, b"\x17\x03\x03\x40\x00" + b"x" * 100, b"\x15\x03\x03\x00"):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lb.https), 5), server_hostname="www.my-app.com")
        s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n")
        check(status_of(s.recv(65536)) == 200, "good request before the junk")
        os.write(s.fileno(), junk)  # raw bytes beneath the TLS layer
        time.sleep(0.1)
        s.close()
        n += 1
    # 6. a client that offers only TLS 1.1: refused by the server (its alert, its log line)
    print(tls11_refusal(lb.https, lb.errpath))
    n += 1
    st = https_get(a, lb.https)
    check(st == 200, f"the LB does not serve after the abuse: {st}")
    check(lb.poll() is None, "journey-lb died")
    print(f"{n} abusive TLS connections; the LB still serves (200); leaks are checked at exit")


def case_testssl(a):
    exe = shutil.which("testssl") or shutil.which("testssl.sh")
    if not exe:
        print("SKIP: testssl not installed (Debian package testssl.sh; scripts/install-deps.sh --test)")
        sys.exit(77)
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "2")
    out = os.path.join(TMP, "testssl.json")
    t0 = time.time()
    # -p protocols, -s standard cipher lists, -U vulnerabilities, -S server defaults; the
    # connection goes to 127.0.0.1 only (--ip), with the certificate's name.
    subprocess.run([exe, "--quiet", "--color", "0", "--warnings", "off", "--ip", "127.0.0.1",
                    "--jsonfile", out, "-p", "-s", "-U", f"www.my-app.com:{lb.https}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    took = time.time() - t0
    with open(out) as f:
        res = json.load(f)
    offered = {r["id"]: r["finding"] for r in res if r["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
    bad = [r for r in res if r.get("severity") in ("HIGH", "CRITICAL", "MEDIUM")]
    print(f"testssl: {took:.0f} s; protocols: {offered}")
    for r in bad:
        print(f"  {r['severity']}: {r['id']}: {r['finding']}")
    for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        check(p in offered and offered[p].startswith("not offered"), f"{p}: {offered.get(p)}")
    check(offered.get("TLS1_2", "").startswith("offered") and offered.get("TLS1_3", "").startswith("offered"),
          f"TLS 1.2/1.3: {offered}")
    check(not bad, f"testssl findings of MEDIUM or higher severity: {[(r['id'], r['finding']) for r in bad]}")


if __name__ == "__main__":
    run_main(globals())
