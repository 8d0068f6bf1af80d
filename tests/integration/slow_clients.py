#!/usr/bin/env python3
"""Slow and abusive clients against journey-lb (issue 10), real processes on loopback.

  slowloris     20 clients send a header byte per second: each gets 408 and is closed at the
                header timeout (2 s) while a normal client is served all along
  tls_slowloris the same with a ClientHello trickled on the HTTPS port: closed at 2 s
  slow_reader   a client that stops reading a 64 MiB response: the LB's memory stays bounded
                (backpressure), then the whole body arrives intact when it reads again
  idle_10k      10 000 idle connections held, memory per connection measured, new clients served
  flood         3x max-connections at once: accept pauses at the limit (logged), nothing
                crashes, the waiting connections are served once others close

usage: slow_clients.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import argparse
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, free_ports, read, recv_all, rss_kib, run_main, start,  # noqa: E402
                           start_backend, start_lb, status_of, wait_port)

REQ = b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\n\r\n"


def one_request(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nConnection: close\r\n\r\n")
    out = recv_all(s, timeout)
    s.close()
    return status_of(out)


def case_slowloris(a):
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "1", "--client-header-timeout", "2s")
    n = 20
    results = [None] * n

    def loris(i):
        s = socket.create_connection(("127.0.0.1", lb.plain), 10)
        s.settimeout(0.05)
        t0 = time.time()
        out = b""
        for byte in REQ[:-2]:  # never finishes the head
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            end = time.time() + 1.0
            while time.time() < end:
                try:
                    x = s.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    x = b""
                if not x:
                    results[i] = (status_of(out), time.time() - t0)
                    s.close()
                    return
                out += x
            if time.time() - t0 > 8:
                break
        results[i] = (status_of(out), None)
        s.close()

    threads = [threading.Thread(target=loris, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    served, worst = 0, 0.0
    deadline = time.time() + 3.5
    while time.time() < deadline:
        t0 = time.time()
        st = one_request(lb.plain)
        worst = max(worst, time.time() - t0)
        check(st == 200, f"a normal client was not served during the slowloris: {st}")
        served += 1
        time.sleep(0.05)
    for t in threads:
        t.join(15)
    print(f"normal requests served during the attack: {served}, slowest {worst * 1000:.1f} ms")
    for i, (st, closed_after) in enumerate(results):
        check(st == 408 and closed_after is not None and 1.8 <= closed_after <= 4.0,
              f"slowloris client {i}: status {st}, closed after {closed_after}")
    print(f"{n} slowloris clients: 408 and closed after "
          f"{min(r[1] for r in results):.2f}..{max(r[1] for r in results):.2f} s")


def case_tls_slowloris(a):
    """The same on the HTTPS port: a ClientHello one byte per second (the handshake shares the
    header timeout), while HTTPS clients are served."""
    import ssl
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "1", "--client-header-timeout", "2s")
    hello = b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03" + bytes(range(32))
    socks = [socket.create_connection(("127.0.0.1", lb.https), 5) for _ in range(20)]
    t0 = time.time()
    closed_at = [None] * len(socks)
    ctx = ssl.create_default_context(cafile=os.path.join(a.certs, "ca.crt"))
    served = 0
    for i in range(len(hello)):
        if all(closed_at) or time.time() - t0 > 6:
            break
        for k, s in enumerate(socks):
            if closed_at[k] is None:
                try:
                    s.sendall(hello[i:i + 1])
                    s.settimeout(0.01)
                    if s.recv(4096) == b"":
                        closed_at[k] = time.time() - t0
                except socket.timeout:
                    pass
                except OSError:
                    closed_at[k] = time.time() - t0
        c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lb.https), 5), server_hostname="www.my-app.com")
        c.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nConnection: close\r\n\r\n")
        check(status_of(recv_all(c, 5)) == 200, "an HTTPS client was not served during the TLS slowloris")
        served += 1
        time.sleep(max(0.0, t0 + i + 1 - time.time()))
    for s in socks:
        s.close()
    print(f"TLS slowloris: 20 clients closed after {min(closed_at or [0]):.2f}..{max(x or 99 for x in closed_at):.2f} s; "
          f"{served} HTTPS requests served meanwhile")
    check(all(x is not None and 1.8 <= x <= 4.0 for x in closed_at), f"closed at {closed_at}")


BIG = 64 * 1024 * 1024

BIG_BACKEND = r'''
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
chunk = b"0123456789abcdef" * 4096
while True:
    c, _ = srv.accept()
    buf = b""
    while b"\r\n\r\n" not in buf:
        x = c.recv(4096)
        if not x: break
        buf += x
    if not buf: c.close(); continue
    n = int(sys.argv[2])
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % n)
    sent = 0
    try:
        while sent < n:
            part = chunk[: min(len(chunk), n - sent)]
            c.sendall(part); sent += len(part)
    except OSError:
        pass
    c.close()
'''


def case_slow_reader(a):
    # journey-backend's answers are small by design (bounded response buffer): the large body
    # comes from a 20-line Python server; the LB is what is under test.
    (port,) = free_ports(1)
    big = start([sys.executable, "-c", BIG_BACKEND, str(port), str(BIG)], "bigbackend")
    wait_port(port, big, "large-body backend")
    lb = start_lb(a.lb, a.certs, [("big", port)], "--workers", "1")
    time.sleep(0.3)
    base = rss_kib(lb.pid)
    s = socket.create_connection(("127.0.0.1", lb.plain), 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(REQ)
    peak = base
    for _ in range(30):  # 3 s of not reading
        time.sleep(0.1)
        peak = max(peak, rss_kib(lb.pid))
    stalled_growth = peak - base
    s.settimeout(10)
    got = 0
    head = b""
    t0 = time.time()
    while True:
        x = s.recv(1 << 20)
        if not x:
            break
        if not head:
            i = x.find(b"\r\n\r\n")
            check(i > 0 and status_of(x) == 200, f"slow reader: {x[:100]!r}")
            head = x[:i]
            x = x[i + 4:]
        got += len(x)
        if got >= BIG:
            break
        peak = max(peak, rss_kib(lb.pid)) if got % (8 << 20) < len(x) else peak
    s.close()
    print(f"LB RSS {base} KiB at rest, +{stalled_growth} KiB while the client did not read for 3 s, "
          f"peak +{peak - base} KiB; {got} body bytes in {time.time() - t0:.2f} s")
    check(got == BIG, f"the body arrived cut short: {got} of {BIG}")
    check(stalled_growth < 8 * 1024, f"the LB buffered {stalled_growth} KiB for a client that does not read")


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def case_idle_10k(a):
    n = 10000
    lim = raise_nofile(n + 2000)  # inherited by journey-lb
    if lim < n + 200:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {lim} is below {n + 200}: cannot run this test")
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "1", "--max-connections", str(n + 1000),
                  "--client-header-timeout", "60s", "--access-log", "off")
    time.sleep(0.3)
    base = rss_kib(lb.pid)
    socks = []
    t0 = time.time()
    for i in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", lb.plain))
        socks.append(s)
    opened = time.time() - t0
    # wait until the LB has accepted them all (its RSS stops growing)
    last, stable = -1, 0
    for _ in range(100):
        cur = rss_kib(lb.pid)
        stable = stable + 1 if cur == last else 0
        last = cur
        if stable >= 3:
            break
        time.sleep(0.1)
    held = rss_kib(lb.pid)
    per_conn = (held - base) * 1024 / n
    t1 = time.time()
    st = one_request(lb.plain)
    latency = (time.time() - t1) * 1000
    # every idle connection is still open (none was dropped): a request on a few of them works
    for s in socks[:: n // 5]:
        s.sendall(REQ)
        out = s.recv(4096)
        check(status_of(out) == 200, f"an idle connection did not answer: {out[:80]!r}")
    for s in socks:
        s.close()
    print(f"{n} idle connections opened in {opened:.2f} s; LB RSS {base} -> {held} KiB: "
          f"{per_conn:.0f} bytes per connection; a new client served in {latency:.1f} ms")
    check(st == 200, f"new client while {n} connections are idle: {st}")
    check(per_conn < 64 * 1024, f"{per_conn:.0f} bytes per idle connection")
    check(lb.poll() is None, "journey-lb died")


def case_flood(a):
    maxc = 100
    raise_nofile(2000)
    b = start_backend(a.backend, "b1")
    lb = start_lb(a.lb, a.certs, [("b1", b.port)], "--workers", "1", "--max-connections", str(maxc),
                  "--client-header-timeout", "30s")
    socks = []
    for _ in range(3 * maxc):
        s = socket.create_connection(("127.0.0.1", lb.plain), 5)  # the kernel's backlog takes them
        socks.append(s)
    time.sleep(0.5)
    check(lb.poll() is None, "journey-lb died under the flood")
    check("accept paused" in read(lb.errpath), "the pause at max-connections is not logged")
    # the first ones are being served
    socks[0].sendall(REQ)
    check(status_of(socks[0].recv(4096)) == 200, "an accepted connection is not served")
    # a waiting one is not accepted yet: its request gets no answer while the limit holds
    late = socks[-1]
    late.sendall(REQ)
    late.settimeout(0.5)
    try:
        early = late.recv(4096)
    except socket.timeout:
        early = b""
    check(early == b"", f"a connection beyond max-connections was served: {early[:60]!r}")
    # close the first 2*max: the waiting ones get their turn
    for s in socks[: 2 * maxc]:
        s.close()
    late.settimeout(10)
    out = late.recv(4096)
    check(status_of(out) == 200, f"a connection waiting at the limit was not served later: {out[:80]!r}")
    for s in socks[2 * maxc:]:
        s.close()
    print(f"{3 * maxc} connections against max-connections {maxc}: accept paused, the last one "
          "served after others closed")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    run_main(CASES, ap)
