#!/usr/bin/env python3
"""What journey-lb does with responses it must not relay as they came, and whose fault a slow
request is: each case shows what the client got and what the backend received.

  conn_framing  a response whose Connection header names Content-Length (or Transfer-Encoding)
                keeps its framing: a pipelined second request gets its own response, never
                bytes inside the first body; a response without length goes out with
                Connection: close; a Transfer-Encoding other than chunked is a 502
  interim       no 1xx to an HTTP/1.0 client (an HTTP/1.1 client gets them); a 204 loses its
                Content-Length and never carries a body, a 304 keeps its length, no body
  long_url      a 64 KiB request target is 414 (not 431) and nothing reaches the backend
  error_bodies  502/503/504 bodies carry a short reason and the request id, never the server's
                name, address or the parser's error; those are in the log
  slow_upload   clients that stop sending their bodies get 408 at client-body-timeout, logged
                as theirs; the server gets no failure, no ejection, no status in /metrics; a
                client trickling its body more slowly than backend-response-timeout is served
  full_read     a response that fills the LB's read buffer to the last byte in one read, then
                the next request on that pooled connection: answered at once, not at the
                response timeout (the full buffer had stopped reading)

The response cases use a small recording HTTP server written here (journey-backend cannot send
those responses): like journey-backend's --record, it keeps every byte it read, raw.

usage: exchange_integrity.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, free_ports, read, recv_all, run_main, start_backend, start_lb,  # noqa: E402
                           status_of, wait_until, TMP)
from loopback import wait_for  # noqa: E402

A = None

H = b"Host: www.my-app.com\r\n"


class RecordingBackend(threading.Thread):
    """HTTP/1.1 on a loopback socket; canned responses by path; every byte read kept raw."""

    RESPONSES = {
        b"/conn-cl": b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nfirst",
        b"/conn-te": (b"HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding, X-Hop\r\nX-Hop: 1\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n"),
        b"/no-length": b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nuntil-close",
        b"/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n",
        b"/second": b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
        b"/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
        b"/early": (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"),
        b"/204": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Empty: yes\r\n\r\nhello",
        b"/304": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 5\r\n\r\n",
        b"/garbage": b"HTTTP/9 what\r\n\r\n",
    }
    # Exactly the LB's backend read buffer (32 KiB), head included, sent in one write.
    RESPONSES[b"/exact-buffer"] = b"HTTP/1.1 200 OK\r\nContent-Length: 32726\r\n\r\n" + b"x" * 32726
    assert len(RESPONSES[b"/exact-buffer"]) == 32768

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.name = "raw"
        self.received = b""
        self.accepted = 0
        self.lock = threading.Lock()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    x = c.recv(65536)
                    if not x:
                        return
                    with self.lock:
                        self.received += x
                    buf += x
                head, _, buf = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length: *(\d+)", head)
                need = int(m.group(1)) if m else 0
                while len(buf) < need:
                    x = c.recv(65536)
                    if not x:
                        return
                    with self.lock:
                        self.received += x
                    buf += x
                buf = buf[need:]
                path = head.split(b" ")[1]
                c.sendall(self.RESPONSES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
                if path == b"/no-length":
                    return  # the close ends the body
        except OSError:
            return
        finally:
            c.close()

    def requests(self):
        with self.lock:
            return re.findall(rb"(?m)^([A-Z]+) (\S+) HTTP/1\.1\r$", self.received)


def lb_for(servers, *flags, name="lb"):
    return start_lb(A.lb, A.certs, servers, "--workers", "1", "--health-check", "none", *flags,
                    name=name)


def raw_exchange(port, data, timeout=10.0):
    """data in one write on a new connection; everything back until the LB closes (or silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        return recv_all(s, timeout)


def get(path, minor=1, extra=b""):
    return b"GET %s HTTP/1.%d\r\n%s%s\r\n" % (path, minor, H, extra)


def split_response(out):
    """(head, rest) of the first response in out."""
    head, _, rest = out.partition(b"\r\n\r\n")
    return head, rest


# ---------------------------------------------------------------- cases

def case_conn_framing(a):
    global A
    A = a
    be = RecordingBackend()
    be.start()
    lb = lb_for([(be.name, be.port)])
    for first, body in ((b"/conn-cl", b"first"), (b"/conn-te", b"5\r\nfirst\r\n0\r\n\r\n")):
        out = raw_exchange(lb.plain, get(first) + get(b"/second", extra=b"Connection: close\r\n"))
        head, rest = split_response(out)
        print(f"{first.decode()}: client got head {head!r}")
        if first == b"/conn-cl":
            check(re.search(rb"(?im)^content-length: 5\r?$", head), f"Content-Length kept: {head!r}")
        else:
            check(re.search(rb"(?im)^transfer-encoding: chunked\r?$", head) and b"X-Hop" not in head,
                  f"chunked kept, the listed X-Hop dropped: {head!r}")
        check(b"connection: close" not in head.lower(), f"kept alive: {head!r}")
        check(rest.startswith(body + b"HTTP/1.1 200 OK\r\n"), f"the first body ends where its framing says, "
              f"the second response follows: {rest[:200]!r}")
        check(rest.endswith(b"\r\n\r\nsecond"), f"second response intact: {rest[-80:]!r}")
    reqs = be.requests()
    print("backend received:", reqs)
    check(reqs == [(b"GET", b"/conn-cl"), (b"GET", b"/second"), (b"GET", b"/conn-te"), (b"GET", b"/second")],
          f"each request reached the backend once, in order: {reqs}")
    # No length, no chunks: close-delimited to the client, whose pipelined request is not run.
    n = len(be.requests())
    out = raw_exchange(lb.plain, get(b"/no-length") + get(b"/second"))
    head, rest = split_response(out)
    print("no length:", head, rest)
    check(re.search(rb"(?im)^connection: close\r?$", head) and b"content-length" not in head.lower(),
          f"close-delimited: {head!r}")
    check(rest == b"until-close", f"the body is the backend's, nothing after it: {rest!r}")
    check(be.requests()[n:] == [(b"GET", b"/no-length")], f"the pipelined request was not sent: {be.requests()[n:]}")
    # A coding the LB does not decode: 502, the body never relayed.
    out = raw_exchange(lb.plain, get(b"/te-gzip", extra=b"Connection: close\r\n"))
    print("gzip, chunked:", out[:300])
    check(status_of(out) == 502 and b"first" not in out, f"Transfer-Encoding gzip, chunked: {out[:300]!r}")
    check(re.search(r"Transfer-Encoding other than chunked", read(lb.errpath)), "the log names the framing")


def case_interim(a):
    global A
    A = a
    be = RecordingBackend()
    be.start()
    lb = lb_for([(be.name, be.port)])
    for path, word in ((b"/continue", b"100 Continue"), (b"/early", b"103 Early Hints")):
        out = raw_exchange(lb.plain, get(path, minor=0))
        print(f"HTTP/1.0 {path.decode()}: {out[:120]!r}")
        check(out.startswith(b"HTTP/1.1 200 OK\r\n") and word not in out and out.endswith(b"final"),
              f"an HTTP/1.0 client gets no 1xx: {out[:300]!r}")
        out = raw_exchange(lb.plain, get(path, extra=b"Connection: close\r\n"))
        check(out.startswith(b"HTTP/1.1 " + word) and b"\r\n\r\nHTTP/1.1 200 OK\r\n" in out
              and out.endswith(b"final"), f"an HTTP/1.1 client gets the 1xx: {out[:300]!r}")
    # 204: no Content-Length, no body; the next pipelined response is the next one.
    out = raw_exchange(lb.plain, get(b"/204") + get(b"/second", extra=b"Connection: close\r\n"))
    head, rest = split_response(out)
    print("204:", head, rest[:60])
    check(head.startswith(b"HTTP/1.1 204") and b"content-length" not in head.lower() and b"X-Empty: yes" in head,
          f"204 without Content-Length: {head!r}")
    check(rest.startswith(b"HTTP/1.1 200 OK\r\n") and b"hello" not in rest and rest.endswith(b"second"),
          f"no body after a 204: {rest[:200]!r}")
    out = raw_exchange(lb.plain, get(b"/304") + get(b"/second", extra=b"Connection: close\r\n"))
    head, rest = split_response(out)
    check(head.startswith(b"HTTP/1.1 304") and re.search(rb"(?im)^content-length: 5\r?$", head),
          f"304 keeps the length of what a GET would get (RFC 9110 8.6): {head!r}")
    check(rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b"second"), f"no body after a 304: {rest[:200]!r}")
    reqs = be.requests()
    print("backend received:", reqs)
    check(reqs.count((b"GET", b"/204")) == 1 and reqs.count((b"GET", b"/second")) == 2, f"{reqs}")


def case_long_url(a):
    global A
    A = a
    rec = os.path.join(TMP, "long-url.requests")
    b1 = start_backend(A.backend, "b1", "--record", rec)
    lb = lb_for([("b1", b1.port)])
    out = raw_exchange(lb.plain, get(b"/my-app/data", extra=b"Connection: close\r\n"))
    check(status_of(out) == 200, f"control request: {out[:100]!r}")
    wait_until(lambda: os.path.exists(rec) and os.path.getsize(rec) > 0, 5)
    before = os.path.getsize(rec)
    for n in (20 * 1024, 64 * 1024):
        out = raw_exchange(lb.plain, get(b"/my-app/data?q=" + b"a" * n))
        print(f"{n}-byte target:", out.split(b"\r\n")[0])
        check(status_of(out) == 414 and b"request target longer" in out, f"{n}-byte target: {out[:200]!r}")
    # A head too large because of its fields stays 431.
    out = raw_exchange(lb.plain, get(b"/my-app/data", extra=b"X-Big: " + b"b" * 40000 + b"\r\n"))
    check(status_of(out) == 431, f"large fields: {out[:200]!r}")
    time.sleep(0.3)
    check(os.path.getsize(rec) == before, "nothing of the refused requests reached the backend")
    check(re.search(r"status=414 .*term=header-too-large", read(lb.outpath)), "access log: 414")


def case_error_bodies(a):
    global A
    A = a
    be = RecordingBackend()
    be.start()
    hang = socket.socket()  # accepts (the kernel's backlog), never answers
    hang.bind(("127.0.0.1", 0))
    hang.listen(16)
    dead = free_ports(1)[0]  # nobody listens
    addr = re.escape("127.0.0.1:")
    lb = lb_for([(be.name, be.port)], "--backend-response-timeout", "400ms")
    lb_hang = lb_for([("hangs", hang.getsockname()[1])], "--backend-response-timeout", "400ms", name="lb-hang")
    lb_dead = lb_for([("dead", dead)], "--retries", "0", name="lb-dead")
    cases = [(lb, b"/garbage", 502, b"invalid response from the backend server", r"HPE_|invalid"),
             (lb_hang, b"/my-app/data", 504, b"backend response timeout", r"response timeout"),
             (lb_dead, b"/my-app/data", 503, b"no backend server available", r"refused")]
    for p, path, status, reason, detail in cases:
        out = raw_exchange(p.plain, get(path, extra=b"X-Request-Id: err-%d\r\nConnection: close\r\n" % status))
        head, body = split_response(out)
        print(f"{status}: {body!r}")
        check(status_of(out) == status, f"{path}: {out[:200]!r}")
        check(body == reason + b" (request id err-%d)\n" % status, f"short reason and request id: {body!r}")
        check(b"127.0.0.1" not in out and b"HPE" not in out and b"raw" not in body and b"hangs" not in body
              and b"dead" not in body, f"no server, address or parser error: {out!r}")
        wait_for(f"the log has the details of {status}",
                 lambda: re.search(rf"request err-{status} answered {status}: .*({detail}).*{addr}", read(p.errpath)), 5)
    hang.close()


def metrics(lb):
    out = raw_exchange(lb.admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    return split_response(out)[1].decode()


def case_slow_upload(a):
    global A
    A = a
    rec = os.path.join(TMP, "slow-upload.requests")
    (adm,) = free_ports(1)
    b1 = start_backend(A.backend, "b1", "--record", rec)
    # The response timeout is shorter than the uploads take: before, it fired while the LB was
    # waiting for the client and made a 504, a failure and an ejection count of b1.
    lb = lb_for([("b1", b1.port)], "--backend-response-timeout", "500ms", "--client-body-timeout", "1500ms",
                "--outlier-consecutive-connect-failures", "1", "--outlier-consecutive-5xx", "1",
                "--admin", f"127.0.0.1:{adm}")
    lb.admin = adm
    n = 20
    results = {}

    def upload(i, trickle):
        s = socket.create_connection(("127.0.0.1", lb.plain), 10)
        try:
            s.sendall(b"POST /my-app/data HTTP/1.1\r\n" + H + b"X-Request-Id: up-%d\r\nConnection: close\r\nContent-Length: 100\r\n\r\n" % i
                      + b"x" * 10)
            if trickle:  # 90 bytes, one every 50 ms: 4.5 s in all, each gap far below the timeout
                for _ in range(90):
                    time.sleep(0.05)
                    s.sendall(b"z")
            results[i] = recv_all(s, 20)
        finally:
            s.close()
    ts = [threading.Thread(target=upload, args=(i, i == 0)) for i in range(n)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    took = time.time() - t0
    st = {i: status_of(r) for i, r in results.items()}
    print(f"{n} uploads in {took:.1f}s: {st}")
    # journey-backend answers a POST to /my-app/data with 405: the request reached it whole.
    check(st.get(0) == 405, f"the trickling client was served by the backend: {results.get(0, b'')[:200]!r}")
    check(all(st.get(i) == 408 for i in range(1, n)), f"stalled uploads get 408: {st}")
    check(all(b"request body not received in time" in results[i] for i in range(1, n)), "408 says why")
    log = read(lb.outpath)
    n408 = len(re.findall(r"status=408 .*backend=\"?\"? .*term=client-body-timeout", log))
    check(n408 == n - 1, f"access log: {n408} lines with 408 term=client-body-timeout")
    check("status=504" not in log and "backend-timeout" not in log, "no 504 at all")
    m = metrics(lb)
    print("\n".join(l for l in m.splitlines() if l.startswith(("journey_backend_failures_total",
                                                                "journey_backend_ejections_total",
                                                                "journey_backend_up", "journey_requests_total"))))
    check(re.search(r'journey_backend_failures_total\{[^}]*server="b1"[^}]*\} 0\b', m), "b1 failures stay 0")
    check(re.search(r'journey_backend_ejections_total\{[^}]*server="b1"[^}]*\} 0\b', m), "b1 never ejected")
    check(re.search(r'journey_backend_up\{[^}]*server="b1"[^}]*\} 1\b', m), "b1 stays up")
    check(not re.search(r'journey_requests_total\{[^}]*code="(408|504)"', m), "no 408/504 counted for b1")
    check(re.search(r'journey_requests_total\{[^}]*server="b1"[^}]*code="405"\} 1\b', m), "the served upload counted")
    with open(rec, "rb") as f:
        seen = f.read()
    heads = re.findall(rb"X-Request-Id: (up-\d+)", seen)
    print(f"backend received {len(heads)} heads; {seen.count(b'z')} trickled bytes")
    check(sorted(heads) == sorted(b"up-%d" % i for i in range(n)), f"every head reached the backend once: {heads}")
    # (one byte per write: other connections' bytes may sit between them in the record)
    check(seen.count(b"z") == 90, "the trickled body reached the backend whole")
    check(re.search(r"request up-\d+: the client sent no body bytes for 1500 ms: 408", read(lb.errpath)),
          "the log says whose fault it was")


def case_full_read(a):
    global A
    A = a
    be = RecordingBackend()
    be.start()
    lb = lb_for([(be.name, be.port)], "--backend-response-timeout", "4000")
    body = be.RESPONSES[b"/exact-buffer"].partition(b"\r\n\r\n")[2]
    for i in range(3):
        t0 = time.monotonic()
        out = raw_exchange(lb.plain, get(b"/exact-buffer", extra=b"Connection: close\r\n"))
        head, rest = split_response(out)
        check(status_of(out) == 200 and rest == body, f"/exact-buffer #{i + 1}: {head!r}, {len(rest)} bytes")
        out = raw_exchange(lb.plain, get(b"/second", extra=b"Connection: close\r\n"))
        took = time.monotonic() - t0
        print(f"round {i + 1}: /exact-buffer then /second: {status_of(out)} in {took:.3f} s")
        check(status_of(out) == 200 and out.endswith(b"\r\n\r\nsecond"),
              f"the request after a response that filled the read buffer: {out[:200]!r}")
        check(took < 3, f"answered at once, not at the 4 s response timeout: {took:.3f} s")
    check(be.accepted == 1, f"every request went on the one pooled connection: {be.accepted} accepted")
    check(be.requests() == [(b"GET", b"/exact-buffer"), (b"GET", b"/second")] * 3,
          f"each request reached the backend once: {be.requests()}")


def main():
    run_main(globals())


if __name__ == "__main__":
    main()
