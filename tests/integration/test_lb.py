#!/usr/bin/env python3
"""journey-lb integration tests: real journey-backend processes and journey-lb on loopback.

usage: test_lb.py --lb PATH --backend PATH --certs DIR --case NAME
Each case starts its own backends and load balancer on free loopback ports and stops them.
"""
import argparse, http.client, json, os, re, signal, socket, ssl, subprocess, sys, tempfile
import threading, time

A = None
procs = []
tmpdir = tempfile.mkdtemp(prefix="lbtest-")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


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


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def start(cmd, name):
    out = os.path.join(tmpdir, name + ".out")
    err = os.path.join(tmpdir, name + ".err")
    p = subprocess.Popen(cmd, stdout=open(out, "w"), stderr=open(err, "w"))
    p.outpath, p.errpath, p.name = out, err, name
    procs.append(p)
    return p


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
    https, plain = free_ports(2)
    cmd = [A.lb, "--listen", f"https://127.0.0.1:{https}", "--listen", f"http://127.0.0.1:{plain}",
           "--cert", os.path.join(A.certs, "server.crt"), "--key", os.path.join(A.certs, "server.key"),
           "--workers", "2"]
    for b in backends:
        cmd += ["--backend", f"{b.name}=127.0.0.1:{b.port}"]
    cmd += list(flags)
    p = start(cmd, "lb")
    wait_port(https, p, "journey-lb")
    wait_port(plain, p, "journey-lb")
    p.https, p.plain = https, plain
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tls_ctx():
    ctx = ssl.create_default_context(cafile=os.path.join(A.certs, "ca.crt"))
    return ctx


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


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def raw(port, data, timeout=5.0, read_until_close=True):
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            x = s.recv(65536)
            if not x:
                break
            out += x
            if not read_until_close:
                break
    except socket.timeout:
        pass
    s.close()
    return out


# ---------------------------------------------------------------- cases

def case_tls_curl():
    bs = start_backends()
    lb = start_lb(bs)
    seen = set()
    for _ in range(3):
        r = subprocess.run(["curl", "-sS", "-i", "--cacert", os.path.join(A.certs, "ca.crt"),
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
    lb = start_lb(bs)
    for b in bs:
        b.kill()
        b.wait()
    c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
    r, body = get(c)
    print("all down:", r.status, body)
    check(r.status == 503, f"all backends down: expected 503, got {r.status}")
    check(b"no backend server available" in body and b"refused" in body, f"503 body should say why: {body!r}")
    r, body = get(c)  # keep-alive survives a 503
    check(r.status == 503, "second request on the same connection")
    r, body = get(c, "/not-routed-but-default-pool-serves-all")
    check(r.status == 503, "default pool serves every path")


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
    bs = start_backends()
    lb = start_lb(bs, "--client-header-timeout", "1s", "--max-header-size", "4k")
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
    # Slow client: half a request head, then silence: 408 at the header timeout.
    s = socket.create_connection(("127.0.0.1", lb.plain), 5)
    t0 = time.time()
    s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n")
    out = s.recv(4096)
    dt = time.time() - t0
    print(f"408 after {dt:.2f}s")
    check(out.startswith(b"HTTP/1.1 408"), f"slow header client: {out[:80]!r}")
    check(0.8 <= dt <= 2.5, f"408 should come at the 1s timeout, came after {dt:.2f}s")
    # Nothing malformed reached a backend.
    time.sleep(0.2)
    for b in bs:
        check("Bad Header" not in read(b.outpath) + read(b.errpath), "a malformed request was forwarded")
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
    check(f["tls"] in ("TLSv1.3", "TLSv1.2") and f["sni"] == "www.my-app.com" and "AES" in f["cipher"] or "CHACHA" in f["cipher"], line)
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


def case_graceful():
    bs = start_backends(extra={"b1": ["--delay-ms", "600"], "b2": ["--delay-ms", "600"], "b3": ["--delay-ms", "600"]})
    lb = start_lb(bs)
    result = {}

    def slow():
        c = http.client.HTTPConnection("127.0.0.1", lb.plain, timeout=10)
        r, body = get(c)
        result["status"] = r.status

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.25)
    lb.send_signal(signal.SIGTERM)
    t.join()
    rc = lb.wait(10)
    check(result.get("status") == 200, f"in-flight request during SIGTERM: {result}")
    check(rc == 0, f"journey-lb exit code after SIGTERM: {rc}: {read(lb.errpath)[-500:]}")
    try:
        socket.create_connection(("127.0.0.1", lb.plain), 1).close()
        check(False, "listener still open after shutdown")
    except OSError:
        pass


def case_check_config():
    example = os.path.join(A.source, "lb", "journey-lb.conf")
    conf = os.path.join(tmpdir, "example.conf")
    text = read(example).replace("certs/out/", A.certs + "/")
    with open(conf, "w") as f:
        f.write(text)
    r = subprocess.run([A.lb, "--check-config", conf], capture_output=True, text=True)
    check(r.returncode == 0 and "configuration OK" in r.stdout, f"example config: {r.stdout}{r.stderr}")
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
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    A = ap.parse_args()
    ok = False
    try:
        CASES[A.case]()
        ok = True
    finally:
        stop_all()
        bad = []
        for p in procs:
            err = read(p.errpath)
            if "ERROR: AddressSanitizer" in err or "LeakSanitizer" in err or "runtime error:" in err:
                bad.append(f"{p.name}: {err[-3000:]}")
        if bad:
            print("\n".join(bad))
            ok = False
        if not ok:
            for p in procs:
                if p.name == "lb":
                    print("--- lb stderr (tail) ---\n" + read(p.errpath)[-3000:])
    sys.exit(0 if ok else 1)
