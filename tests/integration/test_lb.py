#!/usr/bin/env python3
"""journey-lb integration tests: real journey-backend processes and journey-lb on loopback.

usage: test_lb.py --lb PATH --backend PATH --certs DIR --case NAME
Each case starts its own backends and load balancer on free loopback ports and stops them.
"""
import http.client, json, os, re, signal, socket, ssl, subprocess, sys
import threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (PROCS as procs, TMP as tmpdir, case_args, cert_paths, check, free_ports,  # noqa: E402
                      read, recv_all, run_case, start, stop, stop_all, wait_for, wait_port,
                      wait_until)
import loopback  # noqa: E402

A = None


def start_backends(n=3, extra=None):
    ports = free_ports(n)
    bs = []
    for i, port in enumerate(ports, 1):
        cmd = [A.backend, "--listen", f"127.0.0.1:{port}", "--name", f"b{i}"]
        cmd += (extra or {}).get(f"b{i}", [])
        p = start(cmd, f"b{i}")
        wait_port(port, p, f"backend b{i}")
        p.port = port
        bs.append(p)
    return bs


def start_lb(backends, *flags):
    """journey-lb (two workers) on an https and an http port in front of the given backends."""
    return loopback.start_lb(A.lb, A.certs, [(b.name, b.port) for b in backends], "--workers", "2",
                             *flags)


def tls_ctx():
    return ssl.create_default_context(cafile=cert_paths(A.certs)[2])


class TLSConn(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with SNI and certificate check for www.my-app.com (like curl --resolve)."""

    def __init__(self, port):
        super().__init__("www.my-app.com", port, context=tls_ctx(), timeout=10)
        self._port = port

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self._port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname="www.my-app.com")


def get(conn, path="/my-app/data", headers=None):
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    return r, r.read()


def raw(port, data, timeout=5.0):
    """Sends data on a new connection; what comes back until the LB closes or timeout of silence."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.sendall(data)
        return recv_all(s, timeout)


# ---------------------------------------------------------------- cases

def case_tls_curl():
    bs = start_backends()
    lb = start_lb(bs)
    seen = set()
    for _ in range(3):
        r = subprocess.run(["curl", "-sS", "-i", "--http1.1", "--cacert", os.path.join(A.certs, "ca.crt"),
                            "--resolve", f"www.my-app.com:{lb.https}:127.0.0.1",
                            f"https://www.my-app.com:{lb.https}/my-app/data"],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, f"curl failed (certificate verified for www.my-app.com?): {r.stderr}")
        head, body = r.stdout.replace("\r\n", "\n").split("\n\n", 1)
        check(head.startswith("HTTP/1.1 200"), f"status: {head.splitlines()[0]}")
        check(re.search(r"(?im)^server-timing: .*tls;dur=[\d.]+.*total;dur=[\d.]+", head), "Server-Timing missing")
        m = re.search(r"(?im)^x-served-by: (b\d)", head)
        check(m, "X-Served-By missing")
        check(re.search(r"(?im)^x-request-id: [0-9a-f-]{36}", head), "X-Request-Id missing")
        data = json.loads(body)
        check(data["backend"] == m.group(1), f"X-Served-By {m.group(1)} but body says {data['backend']}")
        check(data["x_forwarded_for"] == "127.0.0.1", f"X-Forwarded-For seen by backend: {data}")
        seen.add(data["backend"])
    check(seen == {"b1", "b2", "b3"}, f"3 requests should reach 3 backends: {seen}")
    # Plain HTTP on the HTTPS port: refused with a clear 400, not a hang.
    out = raw(lb.https, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b"HTTPS port" in out, f"plain HTTP on TLS port: {out[:80]!r}")
    # Switched off headers
    stop_all()
    procs.clear()
    bs = start_backends()
    lb = start_lb(bs, "--server-timing", "off", "--served-by", "off")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    r, _ = get(c)
    check(r.status == 200 and r.getheader("Server-Timing") is None and r.getheader("X-Served-By") is None,
          "Server-Timing / X-Served-By must be switchable off")


def case_round_robin():
    bs = start_backends()
    lb = start_lb(bs, "--algorithm", "round-robin")
    counts = {}
    conns = [TLSConn(lb.https), http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)]
    for i in range(300):
        r, body = get(conns[i % 2])
        check(r.status == 200, f"request {i}: {r.status}")
        name = json.loads(body)["backend"]
        check(r.getheader("X-Served-By") == name, "X-Served-By disagrees with the body")
        counts[name] = counts.get(name, 0) + 1
    print("round-robin:", counts)
    check(counts == {"b1": 100, "b2": 100, "b3": 100}, f"expected 100/100/100, got {counts}")


def case_least_conn():
    bs = start_backends(extra={"b3": ["--delay-ms", "200"]})
    lb = start_lb(bs, "--algorithm", "least-conn")
    counts = {}
    lock = threading.Lock()
    stop = time.time() + 4
    errors = []

    def client():
        c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
        while time.time() < stop:
            try:
                r, body = get(c)
                name = json.loads(body)["backend"]
                with lock:
                    counts[name] = counts.get(name, 0) + 1
            except Exception as e:  # noqa
                errors.append(repr(e))
                return

    ts = [threading.Thread(target=client) for _ in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("least-conn with b3 slow:", counts)
    check(not errors, f"client errors: {errors[:3]}")
    fast = min(counts.get("b1", 0), counts.get("b2", 0))
    check(counts.get("b3", 0) * 3 < fast, f"slow b3 should get clearly fewer: {counts}")


def case_retry():
    bs = start_backends()
    lb = start_lb(bs)
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    for _ in range(6):  # warm the pooled connections to every backend
        get(c)
    bs[1].kill()
    bs[1].wait()
    counts = {}
    for i in range(30):
        r, body = get(c)
        check(r.status == 200, f"request {i} after b2 was killed: {r.status} {body[:100]!r}")
        name = json.loads(body)["backend"]
        counts[name] = counts.get(name, 0) + 1
    print("after killing b2:", counts)
    check("b2" not in counts and counts.get("b1") and counts.get("b3"), f"{counts}")
    time.sleep(0.2)
    log = read(lb.outpath)
    check(re.search(r"retries=[12] ", log), "the access log should show retried requests")


def case_all_down():
    bs = start_backends()
    # No active checks: this case is about the connect failures themselves (with the default TCP
    # checks, a check that runs first answers "no healthy backend" instead, also a 503).
    lb = start_lb(bs, "--health-check", "none")
    for b in bs:
        b.kill()
        b.wait()
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    r, body = get(c)
    print("all down:", r.status, body)
    check(r.status == 503, f"all backends down: expected 503, got {r.status}")
    rid = r.getheader("X-Request-Id", "")
    check(b"no backend server available" in body and rid and rid.encode() in body,
          f"503 body: a short reason and the request id: {body!r}")
    check(b"refused" not in body and b"127.0.0.1" not in body and b"server b" not in body,
          f"the 503 body names no server, address or error: {body!r}")
    wait_for("the log names the servers and the error",
             lambda: re.search(rf"request {rid} answered 503: .*refused.* on b\d 127\.0\.0\.1:\d+",
                               read(lb.errpath)), 5)
    r, body = get(c)  # keep-alive survives a 503
    check(r.status == 503, "second request on the same connection")
    r, body = get(c, "/not-routed-but-default-pool-serves-all")
    check(r.status == 503, "default pool serves every path")


def case_pool_idle():
    bs = start_backends(1)
    lb = start_lb(bs, "--backend-idle-timeout", "1s", "--workers", "1")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    for rid in ("p1", "p2"):
        get(c, headers={"X-Request-Id": rid})
    time.sleep(2.6)  # past the idle timeout: the pooled connection is closed by the LB
    get(c, headers={"X-Request-Id": "p3"})
    time.sleep(0.2)
    reused = {m.group(1): m.group(2) for m in re.finditer(r"request_id=(p\d) .*?reused=(\w+)", read(lb.outpath))}
    print("reused:", reused)
    check(reused == {"p1": "false", "p2": "true", "p3": "false"}, f"pool reuse and idle timeout: {reused}")


def case_backend_timeout():
    bs = start_backends(extra={f"b{i}": ["--delay-ms", "1500"] for i in (1, 2, 3)})
    lb = start_lb(bs, "--backend-response-timeout", "400ms")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    t0 = time.time()
    r, body = get(c)
    dt = time.time() - t0
    print("slow backend:", r.status, body, f"{dt:.2f}s")
    check(r.status == 504 and b"backend response timeout" in body, f"expected 504 naming the reason: {r.status} {body!r}")
    check(0.3 <= dt <= 1.4, f"504 should come at the 400 ms timeout, came after {dt:.2f}s")
    time.sleep(0.2)
    check(re.search(r"status=504 .*term=backend-timeout", read(lb.outpath)), "access log: 504 with its termination reason")


def case_pipelining():
    bs = start_backends(extra={"b1": ["--delay-ms", "100"]})
    lb = start_lb(bs)
    reqs = b"".join(b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nX-Request-Id: pipe-%d\r\n\r\n" % i
                    for i in range(6))
    reqs += b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\r\nX-Request-Id: pipe-last\r\nConnection: close\r\n\r\n"
    out = raw(lb.plain, reqs, timeout=10)
    ids = re.findall(rb"X-Request-Id: (pipe-\w+)", out)
    print("pipelined ids:", ids)
    check(ids == [b"pipe-%d" % i for i in range(6)] + [b"pipe-last"], f"responses out of order: {ids}")
    check(out.count(b"HTTP/1.1 200") == 7, "7 responses expected")
    # and over TLS
    s = tls_ctx().wrap_socket(socket.create_connection(("127.0.0.1", lb.https), 10), server_hostname="www.my-app.com")
    s.sendall(reqs)
    out = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        out += x
    ids = re.findall(rb"X-Request-Id: (pipe-\w+)", out)
    check(ids == [b"pipe-%d" % i for i in range(6)] + [b"pipe-last"], f"TLS responses out of order: {ids}")


def case_bad_requests():
    # Every backend records every byte it receives: "nothing malformed was forwarded" is then a
    # recording that did not grow (journey-backend logs no request headers).
    recs = [os.path.join(tmpdir, f"bad-requests-b{i}.record") for i in (1, 2, 3)]
    bs = start_backends(extra={f"b{i}": ["--record", recs[i - 1]] for i in (1, 2, 3)})
    lb = start_lb(bs, "--client-header-timeout", "1s", "--max-header-size", "4k", "--max-body-size", "64k")
    out = raw(lb.plain, b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b"Connection: close" in out, f"malformed: {out[:100]!r}")
    out = raw(lb.plain, b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400"), f"CL+TE smuggling attempt must be refused: {out[:100]!r}")
    out = raw(lb.plain, b"GET /my-app/data HTTP/1.1\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400"), f"HTTP/1.1 without Host: {out[:80]!r}")
    big = b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 6000 + b"\r\n\r\n"
    out = raw(lb.plain, big)
    check(out.startswith(b"HTTP/1.1 431"), f"oversized header: {out[:100]!r}")
    many = b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(150)) + b"\r\n"
    out = raw(lb.plain, many)
    check(out.startswith(b"HTTP/1.1 431"), f"too many headers: {out[:100]!r}")
    out = raw(lb.plain, b"POST /my-app/data HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 413"), f"huge body: {out[:100]!r}")
    # A body over the limit that is already on its way: the 413 still arrives intact (no RST).
    body = b"x" * 300000
    out = raw(lb.plain, b"POST /my-app/data HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    check(out.startswith(b"HTTP/1.1 413") and out.endswith(b"max-body-size\n"), f"413 with body in flight: {out[:100]!r}")
    # Slow client: half a request head, then silence: 408 at the header timeout.
    s = socket.create_connection(("127.0.0.1", lb.plain), 5)
    t0 = time.time()
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n")
    out = s.recv(4096)
    dt = time.time() - t0
    print(f"408 after {dt:.2f}s")
    check(out.startswith(b"HTTP/1.1 408"), f"slow header client: {out[:80]!r}")
    check(0.8 <= dt <= 2.5, f"408 should come at the 1s timeout, came after {dt:.2f}s")
    # Nothing malformed reached a backend: not a byte recorded (a little time for stragglers).
    time.sleep(0.3)
    for b, rec in zip(bs, recs):
        got = read(rec)
        check(got == "", f"a malformed request was forwarded to {b.name}: {got[:200]!r}")
    # ...and the recorders work: a good request on the same LB is recorded by one of them.
    r, _ = get(http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10), headers={"X-Request-Id": "rec-ok"})
    check(r.status == 200, f"a good request after the bad ones: {r.status}")
    check(wait_until(lambda: sum("rec-ok" in read(x) for x in recs) == 1, 5),
          "the good request was not recorded by exactly one backend: the recording proves nothing")
    # 404 for an unrouted path when pools have routes
    stop_all()
    procs.clear()
    bs = start_backends()
    conf = os.path.join(tmpdir, "lb.conf")
    https, plain = free_ports(2)
    with open(conf, "w") as f:
        f.write(f"[lb]\nlisten = http://127.0.0.1:{plain}\nworkers = 1\n[pool my-app]\n"
                + "".join(f"backend = {b.name}=127.0.0.1:{b.port}\n" for b in bs) + "route = /my-app/\n")
    p = start([A.lb, "--config", conf], "lb")
    wait_port(plain, p, "journey-lb")
    c = http.client.HTTPConnection("127.0.0.1", plain, timeout=10)
    r, body = get(c, "/elsewhere")
    check(r.status == 404, f"unrouted path: {r.status}")
    r, body = get(c, "/my-app/data")
    check(r.status == 200, f"routed path after a 404 on the same connection: {r.status}")


def case_access_log():
    bs = start_backends()
    lb = start_lb(bs)
    c = TLSConn(lb.https)
    r, _ = get(c, headers={"X-Request-Id": "log-check-1"})
    check(r.status == 200, "request")
    c.close()
    time.sleep(0.3)
    line = [l for l in read(lb.outpath).splitlines() if "log-check-1" in l]
    check(len(line) == 1, f"one access log line per request: {line}")
    line = line[0]
    print(line)
    f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    need = ["time", "request_id", "client", "tls", "cipher", "sni", "method", "path", "status", "bytes_in",
            "bytes_out", "pool", "algorithm", "backend", "backend_addr", "retries", "reused",
            "Th", "Ti", "TR", "Tw", "Tc", "Tr", "Td", "Ta", "Tt"]
    missing = [k for k in need if k not in f]
    check(not missing, f"access log fields missing: {missing}")
    check(f["status"] == "200" and f["method"] == "GET" and f["path"] == "/my-app/data", line)
    check(f["tls"] in ("TLSv1.3", "TLSv1.2") and f["sni"] == "www.my-app.com"
          and ("AES" in f["cipher"] or "CHACHA" in f["cipher"]), line)
    check(f["client"].startswith("127.0.0.1:") and f["backend"] in ("b1", "b2", "b3"), line)
    check(f["backend_addr"].startswith("127.0.0.1:") and f["pool"] == "default" and f["algorithm"] == "round-robin", line)
    check(int(f["bytes_in"]) > 20 and int(f["bytes_out"]) > 100, line)
    timers = {k: float(f[k]) for k in ["Th", "Ti", "TR", "Tw", "Tc", "Tr", "Td", "Ta", "Tt"]}
    check(all(v >= 0 for v in timers.values()), f"timers: {timers}")
    check(timers["Th"] > 0 and timers["Tt"] >= timers["Ta"] >= timers["Tr"], f"timers: {timers}")
    check(abs(timers["Tt"] - (timers["Th"] + timers["Ti"] + timers["Ta"])) < 0.01, f"Tt = Th+Ti+Ta: {timers}")
    # JSON format
    stop_all()
    procs.clear()
    bs = start_backends()
    lb = start_lb(bs, "--log-format", "json", "--log-level", "debug")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    get(c, headers={"X-Request-Id": "json-1"})
    c.close()
    time.sleep(0.3)
    recs = [json.loads(l) for l in read(lb.outpath).splitlines() if "json-1" in l]
    check(len(recs) == 1 and recs[0]["status"] == 200 and recs[0]["tls"] == "plain", f"{recs}")
    phases = [json.loads(l)["phase"] for l in read(lb.errpath).splitlines() if '"phase"' in l and "json-1" in l]
    print("debug phases:", phases)
    for ph in ["request", "select", "connect", "send", "first-byte", "response", "done"]:
        check(ph in phases, f"debug phase line '{ph}' missing: {phases}")


def case_access_log_signals():
    """Under load, every answered request has its access log line, across SIGHUP reloads and a
    SIGTERM drain: workers buffer their lines and write them once per loop iteration, and a
    stopping worker writes what its buffer holds before it ends."""
    bs = start_backends()
    lb = start_lb(bs, "--drain-delay", "0")
    answered, sent, lock, done = [], [0], threading.Lock(), threading.Event()

    def client(k, use_tls):
        n = 0
        while not done.is_set() and n < 20000:  # bounded: ends when journey-lb is gone
            try:
                c = TLSConn(lb.https) if use_tls else http.client.HTTPConnection("127.0.0.1", lb.plain,
                                                                                   timeout=10)
                for _ in range(40):  # keep-alive, then a new connection
                    rid = f"sig-{k}-{n}"
                    n += 1
                    with lock:
                        sent[0] += 1
                    r, _ = get(c, headers={"X-Request-Id": rid})
                    with lock:
                        answered.append(rid)
                c.close()
            except (OSError, http.client.HTTPException):
                if lb.poll() is not None:
                    return
                time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(k, k % 2 == 0)) for k in range(4)]
    for t in threads:
        t.start()

    def more(n):
        goal = len(answered) + n
        wait_for(f"{n} more answered requests", lambda: len(answered) >= goal, 60)

    try:
        more(300)
        for i in range(2):
            lb.send_signal(signal.SIGHUP)
            wait_for("the reload", lambda: read(lb.errpath).count("reload applied") > i, 30)
            more(300)
        lb.send_signal(signal.SIGTERM)
        rc = lb.wait(30)
    finally:
        done.set()
        for t in threads:
            t.join(30)
    check(rc == 0, f"journey-lb exit code after SIGTERM: {rc}: {read(lb.errpath)[-500:]}")
    logged = set()
    lines = 0
    for line in read(lb.outpath).splitlines():
        m = re.search(r'msg=request .*request_id=(sig-\d+-\d+)', line)
        if m:
            lines += 1
            logged.add(m.group(1))
    missing = [rid for rid in answered if rid not in logged]
    print(f"sent {sent[0]}, answered {len(answered)}, logged {lines} (distinct {len(logged)})")
    check(len(answered) >= 900, f"only {len(answered)} requests answered")
    check(not missing, f"{len(missing)} answered requests have no access log line, e.g. {missing[:5]}")
    check(lines == len(logged) and lines <= sent[0], f"{lines} lines for {sent[0]} requests sent")


def case_long_target():
    """Long request targets next to long request ids, kept-alive and pipelined: the target
    forwarded byte for byte, the id intact in the response, the backend's view and the log.
    (The logged path and the id share the lent head block: an overlap would corrupt the id.)"""
    rec = os.path.join(tmpdir, "long-target.requests")
    bs = start_backends(1, {"b1": ["--record", rec]})
    lb = start_lb(bs)
    c = TLSConn(lb.https)
    cases = []
    for n in (1, 300, 376, 377, 500, 511, 512, 513, 700, 2000, 6000):
        target = "/my-app/data?q=" + "a" * n
        rid = f"long-{n}-" + "x" * (128 - len(f"long-{n}-"))
        r, body = get(c, target, {"X-Request-Id": rid})
        check(r.status == 200, f"target of {len(target)} bytes: status {r.status}")
        check(r.getheader("X-Request-Id") == rid, f"target of {len(target)} bytes: response id "
              f"{r.getheader('X-Request-Id')!r}, sent {rid!r}")
        check(json.loads(body)["request_id"] == rid, f"target of {len(target)} bytes: backend saw "
              f"id {json.loads(body)['request_id']!r}")
        cases.append((target, rid))
        # No id sent: a generated one, the same in the response and at the backend.
        r, body = get(c, target)
        gen = r.getheader("X-Request-Id") or ""
        check(r.status == 200 and re.fullmatch(r"[0-9a-f-]{36}", gen) and
              json.loads(body)["request_id"] == gen, f"generated id after a {len(target)}-byte target: {gen!r}")
    c.close()
    # Pipelined: three long targets in one write.
    reqs = b"".join(f"GET {t} HTTP/1.1\r\nHost: x\r\nX-Request-Id: {i}\r\n\r\n".encode()
                    for t, i in cases[-3:])
    out = raw(lb.plain, reqs + b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    ids = re.findall(rb"(?im)^x-request-id: (\S+)", out)
    check([i.decode() for i in ids[:3]] == [i for _, i in cases[-3:]], f"pipelined ids: {ids}")
    time.sleep(0.3)
    with open(rec, "rb") as f:  # bytes as received (text mode would turn CRLF into LF)
        seen = f.read().decode("latin-1")
    for t, i in cases:
        check(f"GET {t} HTTP/1.1\r\n" in seen, f"the backend did not get the {len(t)}-byte target intact")
        check(f"\r\nX-Request-Id: {i}\r\n" in seen, f"the backend did not get the id {i}")
    log = read(lb.outpath)
    for t, i in cases:
        line = [l for l in log.splitlines() if f"request_id={i} " in l]
        check(line, f"no access log line for id {i}")
        m = re.search(r'path=("[^"]*"|\S+)', line[0])
        logged = m.group(1).strip('"') if m else ""
        check(logged == t[:511], f"logged path for a {len(t)}-byte target: {len(logged)} bytes, "
              f"not the first 511 of the target")
    print(f"{len(cases)} long targets x (given id, generated id) + pipelined: ids, targets and log intact")


def case_graceful():
    """SIGTERM while a request is at a backend: the request is answered 200, journey-lb exits 0
    and its listener is closed."""
    delay = ["--delay-ms", "2000"]
    bs = start_backends(extra={"b1": delay, "b2": delay, "b3": delay})
    (adm,) = free_ports(1)
    lb = start_lb(bs, "--admin", f"127.0.0.1:{adm}")
    wait_port(adm, lb, "journey-lb's admin listener")
    result = {}

    def slow():
        c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=60)
        r, body = get(c)
        result["status"] = r.status

    def in_flight():
        c = http.client.HTTPConnection("127.0.0.1", adm, timeout=30)
        try:
            _, body = get(c, "/stats")
        finally:
            c.close()
        return sum(s["active"] for p in json.loads(body)["pools"] for s in p["servers"])

    t = threading.Thread(target=slow)
    t.start()
    # SIGTERM once the request is at a backend (it waits 2 s there), not after a guessed sleep:
    # a request still connecting when the listener closes would test nothing.
    wait_for("the request is in flight at a backend", lambda: in_flight() == 1, 60, 0.02)
    lb.send_signal(signal.SIGTERM)
    t.join()
    rc = lb.wait(60)
    check(result.get("status") == 200, f"in-flight request during SIGTERM: {result}")
    check(rc == 0, f"journey-lb exit code after SIGTERM: {rc}: {read(lb.errpath)[-500:]}")
    try:
        socket.create_connection(("127.0.0.1", lb.plain), 1).close()
        check(False, "listener still open after shutdown")
    except OSError:
        pass


def case_port_in_use():
    """A second journey-lb on ports the first holds (both would use SO_REUSEPORT) exits with
    "already in use" instead of silently sharing them; --reuse-port-shared shares on purpose."""
    bs = start_backends(1)
    adm = free_ports(1)[0]
    lb = start_lb(bs, "--admin", f"127.0.0.1:{adm}", "--drain-delay", "0")
    base = [A.lb, "--backend", f"b1=127.0.0.1:{bs[0].port}", "--workers", "2",
            "--cert", cert_paths(A.certs)[0], "--key", cert_paths(A.certs)[1]]

    def second(*flags):
        # A journey-lb that shares the port keeps running; one that refuses it exits at once.
        # The bound is generous (an ASan start on a loaded machine), how fast it exits is not
        # asserted.
        t0 = time.monotonic()
        try:
            r = subprocess.run(base + list(flags), capture_output=True, text=True, timeout=45)
        except subprocess.TimeoutExpired:  # (run() kills it)
            raise AssertionError(f"a second journey-lb {flags} still runs after 45 s: it shares the port")
        return r, time.monotonic() - t0

    def first_serves(port, n=6):
        for _ in range(n):
            c = TLSConn(port)
            r, body = get(c, headers={"Connection": "close"})  # the LB closes: TIME_WAIT on its side
            c.close()
            check(r.status == 200 and json.loads(body)["backend"] == "b1", f"GET: {r.status} {body[:80]!r}")

    (other,) = free_ports(1)
    for what, flags, text in (
            ("https listener", ["--listen", f"https://127.0.0.1:{lb.https}"],
             f"127.0.0.1:{lb.https} is already in use by another process; stop it or choose another --listen"),
            ("http listener", ["--listen", f"http://127.0.0.1:{lb.plain}"],
             f"127.0.0.1:{lb.plain} is already in use by another process; stop it or choose another --listen"),
            ("admin listener", ["--listen", f"http://127.0.0.1:{other}", "--admin", f"127.0.0.1:{adm}"],
             f"admin listener 127.0.0.1:{adm} is already in use by another process; stop it or choose another --admin")):
        r, took = second(*flags)
        print(f"second journey-lb on the {what}: exit {r.returncode} after {took:.2f}s: {r.stderr.strip()[-200:]}")
        check(r.returncode != 0, f"second journey-lb on the {what} exited {r.returncode}")
        check(text in r.stderr, f"message for the {what}: {r.stderr!r}")
        first_serves(lb.https)
    # SIGHUP reloads in-process: the listeners stay, and the port is still refused to others.
    lb.send_signal(signal.SIGHUP)
    wait_for("reload logged", lambda: "reload" in read(lb.errpath), 60)
    r, _ = second("--listen", f"https://127.0.0.1:{lb.https}")
    check(r.returncode != 0 and "already in use" in r.stderr, f"after SIGHUP: {r.returncode} {r.stderr!r}")
    first_serves(lb.https)
    # Binary upgrade: the new one joins with --reuse-port-shared (its own admin port), the old one
    # stops, and new connections keep being served on the same port.
    new = start(base + ["--listen", f"https://127.0.0.1:{lb.https}", "--reuse-port-shared",
                        "--admin", f"127.0.0.1:{other}", "--drain-delay", "0"], "lb-new")
    wait_port(other, new, "journey-lb --reuse-port-shared")
    wait_for("new journey-lb started", lambda: "msg=started" in read(new.errpath), 60)
    check(stop(lb) == 0, f"old journey-lb exit status: {read(lb.errpath)[-300:]}")
    first_serves(lb.https, 10)
    # A restart on the same port right after serving (its TIME_WAIT sockets) is not "in use".
    check(stop(new) == 0, "new journey-lb exit status")
    again = start(base + ["--listen", f"https://127.0.0.1:{lb.https}"], "lb-again")
    wait_port(lb.https, again, "journey-lb restarted on the same port")
    first_serves(lb.https, 2)


class RawBackend(threading.Thread):
    """A small HTTP/1.1 server with every response framing, written out by hand (a real socket
    server on loopback): Content-Length, chunked, close-delimited, HEAD, 204, 304, 100-continue."""

    BIG = bytes(range(256)) * 12000  # 3 MB

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.name = "raw"

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def read_request(f):
        line = f.readline()
        if not line:
            return None
        hdrs = {}
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            k, v = h.decode().split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if hdrs.get("transfer-encoding") == "chunked":
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    f.readline()
                    break
                body += f.read(size)
                f.readline()
        elif "content-length" in hdrs:
            body = f.read(int(hdrs["content-length"]))
        method, path, _ = line.decode().split(" ", 2)
        return method, path, hdrs, body

    def serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                req = self.read_request(f)
                if not req or not self.respond(c, *req):
                    return
        except (OSError, ValueError):
            return
        finally:
            c.close()

    def respond(self, c, method, path, hdrs, body):
        """Answers one request; False when the connection is over."""
        if path == "/big":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.BIG)
            c.sendall(head if method == "HEAD" else head + self.BIG)
        elif path == "/chunked":
            out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            for i in range(50):
                part = (b"chunk%d-" % i) * 300
                out += b"%x\r\n%s\r\n" % (len(part), part)
            c.sendall(out + b"0\r\n\r\n")
        elif path == "/close":
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + self.BIG[:100000])
            return False
        elif path == "/204":
            c.sendall(b"HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n")
        elif path == "/304":
            c.sendall(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
        elif path == "/continue":
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
        elif path == "/echo":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Body-Length: %d\r\n\r\n" % (len(body), len(body)) + body)
        else:
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


class DropSecondBackend(RawBackend):
    """Answers the first request of each connection (keep-alive), then reads the second and
    closes without a word: what a backend that dies mid-request looks like from a pooled
    connection. Counts every request it read, by method."""

    def __init__(self):
        super().__init__()
        self.seen = {}
        self.lock = threading.Lock()

    def serve(self, c):
        f = c.makefile("rb")
        try:
            for n in range(2):
                req = self.read_request(f)
                if not req:
                    return
                with self.lock:
                    self.seen[req[0]] = self.seen.get(req[0], 0) + 1
                if n == 0:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (OSError, ValueError):
            return
        finally:
            c.close()


def case_no_replay():
    """RFC 9110 9.2.2: a POST (or a QUERY, a method the LB does not know) whose head reached a
    backend is never sent again, even when it went out on a pooled connection that then closed
    (502); a GET is replayed once on a fresh connection (200)."""
    be = DropSecondBackend()
    be.start()
    lb = start_lb([be], "--workers", "1")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    r, body = get(c)
    check(r.status == 200, f"first GET: {r.status} {body!r}")
    c.request("POST", "/my-app/data", body=b"", headers={"Content-Length": "0"})
    r = c.getresponse()
    body = r.read()
    print("bodyless POST on a pooled connection that closed:", r.status, body[:120])
    check(r.status == 502, f"the POST must not be replayed: expected 502, got {r.status}")
    check(be.seen.get("POST") == 1, f"the backend read the POST {be.seen.get('POST')} times")
    # a method journey-lb does not know (QUERY) is not known to be idempotent: never replayed
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    get(c)  # a fresh backend connection, pooled after this answer
    c.request("QUERY", "/my-app/data", body=b"", headers={"Content-Length": "0"})
    r = c.getresponse()
    r.read()
    print("bodyless QUERY on a pooled connection that closed:", r.status)
    check(r.status == 502 and be.seen.get("QUERY") == 1,
          f"the QUERY must not be replayed: {r.status}, read {be.seen.get('QUERY')} times")
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    get(c)  # a fresh backend connection, pooled after this answer
    before = be.seen.get("GET", 0)
    r, body = get(c)  # the pooled connection drops it: replayed on a new one
    check(r.status == 200, f"a GET is replayed on a fresh connection: {r.status} {body!r}")
    check(be.seen.get("GET", 0) == before + 2, f"GET reads: {be.seen}")
    print("backend read:", be.seen)


def case_framing():
    rb = RawBackend()
    rb.start()
    lb = start_lb([rb], "--max-body-size", "8m")
    for conn in (http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=20), TLSConn(lb.https)):
        r, body = get(conn, "/big")
        check(r.status == 200 and body == RawBackend.BIG, f"Content-Length body: {len(body)} bytes")
        conn.request("HEAD", "/big")
        r = conn.getresponse()
        check(r.status == 200 and r.getheader("Content-Length") == str(len(RawBackend.BIG)) and r.read() == b"",
              "HEAD keeps Content-Length, sends no body")
        r, body = get(conn, "/chunked")
        expect = b"".join((b"chunk%d-" % i) * 300 for i in range(50))
        check(r.getheader("Transfer-Encoding") == "chunked" and body == expect, "chunked body relayed")
        for p, st in (("/204", 204), ("/304", 304)):
            r, body = get(conn, p)
            check(r.status == st and body == b"", f"{p}: {r.status}")
        r, body = get(conn, "/continue")
        check(r.status == 200 and body == b"final", f"1xx then final: {r.status} {body!r}")
        payload = os.urandom(2_000_000)
        conn.request("POST", "/echo", body=payload, headers={"Content-Length": str(len(payload))})
        r = conn.getresponse()
        check(r.read() == payload, "request body with Content-Length relayed intact")

        def gen():
            for i in range(0, len(payload), 65536):
                yield payload[i:i + 65536]
        conn.request("POST", "/echo", body=gen(), encode_chunked=True)
        r = conn.getresponse()
        check(r.read() == payload and r.getheader("X-Body-Length") == str(len(payload)), "chunked request body relayed")
        r, body = get(conn, "/close")
        check(r.status == 200 and body == RawBackend.BIG[:100000] and r.getheader("Connection") == "close",
              "close-delimited body, then the client connection closes")
    # HTTP/1.0 client, chunked response: decoded, delimited by close
    out = raw(lb.plain, b"GET /chunked HTTP/1.0\r\n\r\n", timeout=10)
    head, _, body = out.partition(b"\r\n\r\n")
    check(b"Transfer-Encoding" not in head and body == b"".join((b"chunk%d-" % i) * 300 for i in range(50)),
          f"HTTP/1.0 client gets the chunked body decoded: {head!r}")


def make_cert(name, keyalg, sans):
    """A certificate for `sans` signed by the development CA, with an RSA or ECDSA key."""
    key, crt, csr, ext = (os.path.join(tmpdir, f"{name}.{x}") for x in ("key", "crt", "csr", "ext"))
    if keyalg == "rsa":
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                       check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", f"/CN={name}", "-out", csr], check=True, capture_output=True)
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + d for d in sans) + "\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(A.certs, "ca.crt"), "-CAkey",
                    os.path.join(A.certs, "ca.key"), "-CAcreateserial", "-CAserial", os.path.join(tmpdir, "ca.srl"),
                    "-days", "2", "-extfile", ext, "-out", crt], check=True, capture_output=True)
    return crt, key


def case_tls_features():
    bs = start_backends()
    rsa_crt, rsa_key = make_cert("www.my-app.com", "rsa", ["www.my-app.com", "localhost"])
    other_crt, other_key = make_cert("api.example.test", "ec", ["api.example.test"])
    lb = start_lb(bs, "--cert", rsa_crt, "--key", rsa_key,  # RSA next to the default ECDSA one
                  "--cert", other_crt, "--key", other_key)   # a second name, chosen by SNI

    def handshake(server_name, ctx=None, session=None):
        ctx = ctx or tls_ctx()
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", lb.https), 5), server_hostname=server_name,
                            session=session)
        s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % server_name.encode())
        data = b""
        while True:
            x = s.recv(65536)
            if not x:
                break
            data += x
        info = (s.version(), s.selected_alpn_protocol(), s.getpeercert()["subject"], s.session, s.session_reused)
        s.close()
        return data, info

    ctx = tls_ctx()
    ctx.set_alpn_protocols(["http/1.1"])
    data, (ver, alpn, subj, sess, reused) = handshake("www.my-app.com", ctx)
    check(data.startswith(b"HTTP/1.1 200") and ver in ("TLSv1.3", "TLSv1.2") and alpn == "http/1.1", f"{ver} {alpn}")
    # SNI picks the second certificate
    data, (_, _, subj, _, _) = handshake("api.example.test")
    check(("commonName", "api.example.test") in [x[0] for x in subj], f"SNI certificate: {subj}")
    # ECDSA and RSA for the same name: a client that only accepts RSA signatures gets the RSA one
    for sigalg, want in (("RSA", "rsaEncryption"), ("ECDSA", "id-ecPublicKey")):
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{lb.https}", "-servername", "www.my-app.com",
                            "-tls1_2", "-sigalgs", "RSA+SHA256" if sigalg == "RSA" else "ECDSA+SHA256",
                            "-CAfile", os.path.join(A.certs, "ca.crt"), "-verify_return_error", "-brief"],
                           input=b"", capture_output=True, timeout=20)
        out = (r.stdout + r.stderr).decode()
        check(r.returncode == 0 and ("Signature type: " + ("RSA" if sigalg == "RSA" else "ECDSA")) in out,
              f"{sigalg} certificate: {out[-600:]}")
    # Session resumption (TLS 1.2 session id or ticket)
    ctx12 = tls_ctx()
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    _, (_, _, _, sess, _) = handshake("www.my-app.com", ctx12)
    _, (_, _, _, _, reused) = handshake("www.my-app.com", ctx12, session=sess)
    check(reused, "TLS 1.2 session resumption")
    # TLS 1.3: a resumed connection gets a new ticket (clients use a TLS 1.3 ticket once, as
    # browsers do), so a chain of connections, each offering the ticket the one before got,
    # is resumed all along instead of every second one being a full handshake
    ctx13 = tls_ctx()
    ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
    _, (_, _, _, sess, _) = handshake("www.my-app.com", ctx13)
    for i in range(3):
        _, (_, _, _, nsess, reused) = handshake("www.my-app.com", ctx13, session=sess)
        check(reused and nsess is not None and nsess.has_ticket and nsess.id != sess.id,
              f"TLS 1.3 resumption {i + 1} of 3: reused={reused}, a new ticket: "
              f"{nsess is not None and nsess.id != sess.id}")
        sess = nsess
    # TLS 1.1 is refused (by the server: its alert, its log line), a garbage handshake is
    # logged, neither disturbs other connections
    print(loopback.tls11_refusal(lb.https, lb.errpath))
    raw(lb.https, b"\x16\x03\x01\x00\x05garbage-not-tls" * 3, timeout=2)
    data, _ = handshake("www.my-app.com")
    check(data.startswith(b"HTTP/1.1 200"), "a good client after bad handshakes")
    time.sleep(0.2)
    check("TLS handshake with" in read(lb.errpath) and "failed" in read(lb.errpath), "bad handshakes are logged with the reason")


def case_max_connections():
    bs = start_backends()
    lb = start_lb(bs, "--max-connections", "4")  # 2 per worker
    held = [socket.create_connection(("127.0.0.1", lb.plain), 5) for _ in range(8)]
    time.sleep(0.3)
    # Extra clients wait in the backlog (accept paused) rather than being refused...
    for s in held:
        s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n")
    answered = 0
    for s in held:
        s.settimeout(0.5)
        try:
            if s.recv(100).startswith(b"HTTP/1.1 200"):
                answered += 1
        except socket.timeout:
            pass
    check(0 < answered < 8, f"with max-connections 4, not every one of 8 clients is served at once: {answered}")
    # ...and are served once others leave.
    for s in held:
        s.close()
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    r, _ = get(c)
    check(r.status == 200, "accepting again after clients left")
    check("accept paused" in read(lb.errpath), "the pause is logged")


def case_check_config():
    example = os.path.join(A.source, "lb", "journey-lb.conf")
    conf = os.path.join(tmpdir, "example.conf")
    text = read(example).replace("certs/out/", A.certs + "/")
    with open(conf, "w") as f:
        f.write(text)
    r = subprocess.run([A.lb, "--check-config", conf], capture_output=True, text=True)
    check(r.returncode == 0 and "configuration OK" in r.stdout, f"example config: {r.stdout}{r.stderr}")
    # The summary says what each listener speaks and the HTTP/2 settings.
    check(re.search(r"(?m)^  listen https://\S+ \(h2, http/1\.1\)$", r.stdout) and
          re.search(r"(?m)^  listen http://\S+ \(http/1\.1\)$", r.stdout) and
          "  http/2: 100 concurrent streams per connection, WebSockets on" in r.stdout,
          f"the protocols in the summary: {r.stdout}")
    with open(conf, "w") as f:
        f.write(text.replace("retries = 2", "retries = many"))
    r = subprocess.run([A.lb, "--check-config", conf], capture_output=True, text=True)
    line = text.splitlines().index("retries = 2") + 1
    check(r.returncode != 0 and f"{conf}:{line}:" in r.stderr and "retries" in r.stderr, f"bad config: {r.stderr}")
    r = subprocess.run([A.lb, "--help"], capture_output=True, text=True)
    for flag in ["--listen", "--cert", "--key", "--backend", "--algorithm", "--workers", "--admin",
                 "--log-format", "--log-level", "--config", "--check-config"]:
        check(flag in r.stdout, f"--help does not document {flag}")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES, source=os.path.join(os.path.dirname(__file__), "..", ".."))
    run_case(CASES[A.case])
