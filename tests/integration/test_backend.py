#!/usr/bin/env python3
"""journey-backend integration tests: the real binary on ephemeral loopback ports, spoken to
with raw sockets so that every byte on the wire is what the test wrote.

    test_backend.py BINARY [unittest args, e.g. Http Faults Lifecycle]
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import wait_until  # noqa: E402

BINARY = None
TIMEOUT = 5.0


class Backend:
    """One journey-backend process; stops (SIGKILL if it must) only the process it started."""

    def __init__(self, *args, listen=("127.0.0.1:0",), name="b1"):
        self.out = tempfile.NamedTemporaryFile(prefix="backend-access-", suffix=".log", delete=False)
        cmd = [BINARY, "--name", name]
        for addr in listen:
            cmd += ["--listen", addr]
        cmd += list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.PIPE)
        self.stderr_lines = []
        self.addrs = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.addrs) == len(listen):
                    break
            if self.proc.poll() is not None:
                self._reader.join(1)
                raise AssertionError("journey-backend exited at start: %s" % "".join(self.stderr_lines))
            time.sleep(0.01)
        else:
            self.stop()
            raise AssertionError("journey-backend did not log its listen address")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            with self._lock:
                self.stderr_lines.append(line)
                m = re.search(r'msg=listening addr=(\S+)|"msg":"listening","addr":"([^"]+)"', line)
                if m:
                    self.addrs.append(m.group(1) or m.group(2))

    def stderr_text(self):
        with self._lock:
            return "".join(self.stderr_lines)

    @property
    def port(self):
        return int(self.addrs[0].rsplit(":", 1)[1])

    def connect(self, index=0):
        host, port = self.addrs[index].rsplit(":", 1)
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect((host, int(port)))
        return s

    def access_log(self):
        with open(self.out.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=TIMEOUT):
        return self.proc.wait(timeout)

    def stop(self):
        """SIGTERM, then checks it exited 0 and quietly (sanitizer reports fail the test)."""
        hung = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        self.proc.stderr.close()
        self.out.close()
        os.unlink(self.out.name)
        text = self.stderr_text()
        if (hung or self.proc.returncode != 0 or "Sanitizer" in text or "runtime error" in text
                or "handles still open" in text):
            raise AssertionError("journey-backend %s (exit %s):\n%s" % (
                "did not stop on SIGTERM" if hung else "stopped badly", self.proc.returncode, text[-4000:]))


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status, self.reason, self.headers, self.body, self.raw_head = status, reason, headers, body, raw_head

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) from a socket, in order."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by journey-backend")
        self.buf += d

    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw_head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head or int(status) in (100, 204, 304) else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(int(status), reason, headers, body, raw_head)

    def closed(self, timeout=TIMEOUT):
        """True if the peer closes (EOF) with no further bytes within timeout."""
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if d:
            self.buf += d
            return False
        return True


def get(path, host="x", extra=""):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode()


def one(backend, raw, head=False):
    with backend.connect() as s:
        s.sendall(raw)
        return Reader(s).response(head=head)


class Ipv6(unittest.TestCase):
    """A listener on ::1 next to one on 127.0.0.1 (a group of its own: without ::1 the script
    exits 77, a skip that ctest and the run's summary report with its reason)."""

    @classmethod
    def setUpClass(cls):
        cls.b = Backend(listen=("127.0.0.1:0", "[::1]:0"))

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()

    def test_ipv6_listener(self):
        with self.b.connect(1) as s:
            s.sendall(get("/my-app/data"))
            j = Reader(s).response().json()
        self.assertEqual(j["listen"], self.b.addrs[1])
        self.assertTrue(j["client"].startswith("[::1]:"))


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Backend("--admin", "--max-header-bytes", "4096", "--max-body-bytes", "1000")

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()

    def test_data_json_names_backend_client_and_ids(self):
        with self.b.connect() as s:
            s.sendall(get("/my-app/data", extra="X-Request-Id: abc-123\r\nX-Forwarded-For: 203.0.113.9\r\n"))
            r = Reader(s).response()
            local = "%s:%d" % s.getsockname()[:2]
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertEqual(r.header("x-request-id"), "abc-123")
        self.assertRegex(r.header("date"), r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")
        j = r.json()
        self.assertEqual(j["backend"], "b1")
        self.assertEqual(j["listen"], self.b.addrs[0])
        self.assertEqual(j["client"], local)
        self.assertEqual(j["request_id"], "abc-123")
        self.assertEqual(j["x_forwarded_for"], "203.0.113.9")
        self.assertGreaterEqual(len(j["items"]), 3)
        j = one(self.b, get("/my-app/data")).json()
        self.assertIsNone(j["request_id"])
        self.assertIsNone(j["x_forwarded_for"])

    def test_keep_alive_reuses_the_connection(self):
        with self.b.connect() as s:
            rd = Reader(s)
            clients = set()
            for i in range(5):
                s.sendall(get("/my-app/data", extra="X-Request-Id: ka-%d\r\n" % i))
                r = rd.response()
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("connection"))
                self.assertEqual(r.json()["request_id"], "ka-%d" % i)
                clients.add(r.json()["client"])
            self.assertEqual(len(clients), 1, "all five answered on one connection")
            self.assertFalse(rd.closed(0.2))

    def test_three_pipelined_requests_in_one_write(self):
        with self.b.connect() as s:
            s.sendall(get("/my-app/data", extra="X-Request-Id: p1\r\n") + get("/health")
                      + get("/my-app/data", extra="X-Request-Id: p3\r\n"))
            rd = Reader(s)
            r1, r2, r3 = rd.response(), rd.response(), rd.response()
        self.assertEqual((r1.status, r1.json()["request_id"]), (200, "p1"))
        self.assertEqual((r2.status, r2.body), (200, b"ok"))
        self.assertEqual((r3.status, r3.json()["request_id"]), (200, "p3"))

    def test_head_has_get_headers_and_no_body(self):
        g = one(self.b, get("/my-app/data"))
        with self.b.connect() as s:
            # HEAD then GET /health pipelined: if HEAD sent body bytes, the second parse breaks.
            s.sendall(b"HEAD /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n" + get("/health"))
            rd = Reader(s)
            h = rd.response(head=True)
            nxt = rd.response()
        self.assertEqual(h.status, 200)
        self.assertEqual(h.header("content-length"), g.header("content-length"))
        self.assertEqual((nxt.status, nxt.body), (200, b"ok"))

    def test_404_and_405_with_allow(self):
        self.assertEqual(one(self.b, get("/nope")).status, 404)
        r = one(self.b, b"DELETE /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.header("allow"), "GET, HEAD")
        r = one(self.b, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual((r.status, r.header("allow")), (405, "GET, HEAD"))
        r = one(self.b, get("/admin/health"))
        self.assertEqual((r.status, r.header("allow")), (405, "POST"))

    def test_malformed_gets_400_and_close(self):
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                    b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
                    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"):
            with self.b.connect() as s:
                s.sendall(raw)
                rd = Reader(s)
                r = rd.response()
                self.assertEqual(r.status, 400, raw)
                self.assertEqual(r.header("connection"), "close", raw)
                self.assertTrue(rd.closed(), raw)

    def test_headers_over_limit_get_431(self):
        big = "X-Big: " + "a" * 5000 + "\r\n"
        with self.b.connect() as s:
            s.sendall(get("/my-app/data", extra=big))
            rd = Reader(s)
            r = rd.response()
            self.assertEqual(r.status, 431)
            self.assertTrue(rd.closed())
        many = "".join("X-H%d: v\r\n" % i for i in range(150))  # small, but too many
        self.assertEqual(one(self.b, get("/my-app/data", extra=many)).status, 431)
        # Just under the limit is fine.
        self.assertEqual(one(self.b, get("/my-app/data", extra="X-Big: " + "a" * 3500 + "\r\n")).status, 200)

    def test_body_over_limit_gets_413_and_smaller_bodies_are_discarded(self):
        with self.b.connect() as s:
            s.sendall(b"POST /my-app/data HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"z" * 5000)
            rd = Reader(s)
            r = rd.response()
            self.assertEqual(r.status, 413)
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(rd.closed())
        # A chunked body that grows past the limit.
        chunk = b"%x\r\n%s\r\n" % (600, b"c" * 600)
        with self.b.connect() as s:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk)
            self.assertEqual(Reader(s).response().status, 413)
        # Under the limit: read, discarded, and the connection goes on.
        with self.b.connect() as s:
            s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n" + b"y" * 900
                      + get("/health"))
            rd = Reader(s)
            self.assertEqual(rd.response().status, 200)
            self.assertEqual(rd.response().body, b"ok")

    def test_versions_connect_and_upgrade(self):
        for raw, status in ((b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505), (b"GET / HTTP/0.9\r\n\r\n", 505),
                            (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 400),
                            # No tunnels, no protocol switch: answered as plain requests, then closed.
                            (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nxx", 404),
                            (b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                             + get("/health"), 200)):
            with self.b.connect() as s:
                s.sendall(raw)
                rd = Reader(s)
                r = rd.response()
                self.assertEqual((r.status, r.header("connection")), (status, "close"), raw)
                self.assertTrue(rd.closed(), raw)
                self.assertEqual(rd.buf, b"", "nothing after the closing response")

    def test_expect_100_continue_too_large_gets_413_only(self):
        with self.b.connect() as s:
            s.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n")
            rd = Reader(s)
            self.assertEqual(rd.response().status, 413)
            self.assertTrue(rd.closed())

    def test_expect_100_continue(self):
        with self.b.connect() as s:
            s.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            rd = Reader(s)
            self.assertEqual(rd.response().status, 100)
            s.sendall(b"body")
            self.assertEqual(rd.response().status, 404)

    def test_http10_with_and_without_keep_alive(self):
        with self.b.connect() as s:
            s.sendall(b"GET /my-app/data HTTP/1.0\r\n\r\n")
            rd = Reader(s)
            r = rd.response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["http_version"], "1.0")
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(rd.closed())
        with self.b.connect() as s:
            rd = Reader(s)
            for _ in range(2):
                s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                r = rd.response()
                self.assertEqual((r.status, r.header("connection")), (200, "keep-alive"))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            self.assertEqual(rd.response().header("connection"), "close")
            self.assertTrue(rd.closed())

    def test_requests_answered_before_client_eof(self):
        with self.b.connect() as s:
            s.sendall(get("/health") + get("/health"))
            s.shutdown(socket.SHUT_WR)
            rd = Reader(s)
            self.assertEqual(rd.response().body, b"ok")
            self.assertEqual(rd.response().body, b"ok")
            self.assertTrue(rd.closed())

    def test_access_log_line_per_request(self):
        one(self.b, get("/my-app/data?from=access-test", extra="X-Request-Id: log-77\r\n"))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            lines = [l for l in self.b.access_log().splitlines() if "request_id=log-77" in l]
            if lines:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, self.b.access_log()[-2000:])
        line = lines[0]
        for field in ("msg=access", "backend=b1", "method=GET", "path=\"/my-app/data?from=access-test\"",
                      "status=200", "keep_alive=true"):
            self.assertIn(field, line)
        self.assertRegex(line, r" bytes=\d+ duration_ms=\d+\.\d{3} ")

    def test_admin_health_toggle(self):
        def post(body):
            return one(self.b, b"POST /admin/health HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body))
        try:
            self.assertEqual(post(b"down").status, 200)
            r = one(self.b, get("/health"))
            self.assertEqual((r.status, r.body), (503, b"down"))
            self.assertEqual(one(self.b, get("/my-app/data")).status, 200, "only /health reports it")
            self.assertEqual(post(b"sideways").status, 400)
            self.assertEqual(one(self.b, get("/health")).status, 503)
            self.assertEqual(post(b"up\n").status, 200)
            self.assertEqual(one(self.b, get("/health")).status, 200)
        finally:
            post(b"up")


class Robustness(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Backend("--no-access-log", "--max-body-bytes", "4096")

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()

    def test_request_split_into_single_bytes(self):
        raw = get("/my-app/data", extra="X-Request-Id: split-1\r\nX-Forwarded-For: 198.51.100.4\r\n") \
            + b"POST /admin/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nup\r\n0\r\n\r\n"
        with self.b.connect() as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(raw)):
                s.send(raw[i:i + 1])
                if i % 16 == 0:
                    time.sleep(0.001)
            rd = Reader(s)
            j = rd.response().json()
            self.assertEqual((j["request_id"], j["x_forwarded_for"]), ("split-1", "198.51.100.4"))
            self.assertEqual(rd.response().status, 404, "no --admin here")

    def test_garbage_never_kills_it(self):
        import random
        rnd = random.Random(1234)
        seeds = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                 b"GET /my-app/data HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"]
        for i in range(300):
            blob = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 6)):  # mutate: flip, insert, cut
                k = rnd.randrange(len(blob))
                op = rnd.randrange(3)
                if op == 0:
                    blob[k] = rnd.randrange(256)
                elif op == 1:
                    blob[k:k] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
                else:
                    del blob[k:k + rnd.randint(1, 4)]
            with self.b.connect() as s:
                s.settimeout(2)
                try:
                    s.sendall(bytes(blob))
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
        self.assertEqual(one(self.b, get("/health")).body, b"ok", "still serving after 300 mutated requests")

    def test_many_idle_connections(self):
        socks = []
        try:
            for _ in range(1000):
                socks.append(self.b.connect())
            for s in socks[::100]:  # some of them used, all still open
                s.sendall(get("/health"))
                self.assertEqual(Reader(s).response().body, b"ok")
            self.assertEqual(one(self.b, get("/my-app/data")).status, 200)
            with open("/proc/%d/status" % self.b.proc.pid) as f:
                rss_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            self.assertLess(rss_kb, 64 * 1024, "1000 idle connections stay small")
        finally:
            for s in socks:
                s.close()

    def test_client_that_does_not_read(self):
        # Pipelined requests whose responses are not read for a while: the server pauses
        # parsing (bounded output) and carries on when the client reads again.
        b = Backend("--log-level", "debug", "--no-access-log")
        try:
            with b.connect() as s:
                # A small window (not tiny: below ~8 KiB, TCP itself crawls) fills quickly.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                n = 3000
                sender = threading.Thread(target=s.sendall, args=(get("/my-app/data") * n,))
                sender.start()
                time.sleep(0.5)
                rd = Reader(s)
                for _ in range(n):
                    self.assertEqual(rd.response().status, 200)
                sender.join(TIMEOUT)
            self.assertIn("parsing paused until", b.stderr_text())
            self.assertEqual(one(b, get("/health")).body, b"ok")
        finally:
            b.stop()


class Faults(unittest.TestCase):
    def test_health_by_signals(self):
        b = Backend()
        try:
            self.assertEqual(one(b, get("/health")).status, 200)
            b.signal(signal.SIGUSR1)
            self.assertTrue(wait_until(lambda: one(b, get("/health")).status == 503, TIMEOUT), "SIGUSR1 = down")
            b.signal(signal.SIGUSR2)
            self.assertTrue(wait_until(lambda: one(b, get("/health")).status == 200, TIMEOUT), "SIGUSR2 = up")
            self.assertEqual(one(b, b"POST /admin/health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\ndown").status,
                             404, "no --admin: no admin endpoint")
            # stderr is read by a thread: wait for the line rather than race it
            self.assertTrue(wait_until(lambda: "msg=health state=down" in b.stderr_text(), TIMEOUT),
                            "no 'msg=health state=down' line: %s" % b.stderr_text())
        finally:
            b.stop()

    def test_start_down(self):
        b = Backend("--start-down")
        try:
            self.assertEqual(one(b, get("/health")).status, 503)
        finally:
            b.stop()

    def test_delay_fixed_and_range(self):
        b = Backend("--delay-ms", "600")
        try:
            t = time.monotonic()
            self.assertEqual(one(b, get("/my-app/data")).status, 200)
            self.assertGreaterEqual(time.monotonic() - t, 0.59)
            t = time.monotonic()
            one(b, get("/health"))  # not delayed (generous bound: shared, busy test machines)
            self.assertLess(time.monotonic() - t, 0.5)
        finally:
            b.stop()
        b = Backend("--delay-ms", "100-200")
        try:
            # Each answer within 100..200 ms, plus at most this machine's round trip for an
            # undelayed request (measured here, on the same backend) and 100 ms of scheduling.
            t = time.monotonic()
            one(b, get("/health"))
            upper = 0.2 + (time.monotonic() - t) + 0.1
            took = []
            for _ in range(5):
                t = time.monotonic()
                self.assertEqual(one(b, get("/my-app/data")).status, 200)
                took.append(time.monotonic() - t)
            self.assertTrue(all(0.095 <= x <= upper for x in took),
                            "delays %s outside 0.1..%.3f s" % (["%.3f" % x for x in took], upper))
        finally:
            b.stop()

    def test_delayed_response_is_not_overtaken(self):
        b = Backend("--delay-ms", "300")
        try:
            with b.connect() as s:
                t = time.monotonic()
                s.sendall(get("/my-app/data", extra="X-Request-Id: slow\r\n") + get("/health")
                          + get("/my-app/data", extra="X-Request-Id: slow2\r\n"))
                rd = Reader(s)
                r1 = rd.response()
                t1 = time.monotonic() - t
                r2 = rd.response()
                r3 = rd.response()
                t3 = time.monotonic() - t
            self.assertEqual(r1.json()["request_id"], "slow")
            self.assertGreaterEqual(t1, 0.29)
            self.assertEqual(r2.body, b"ok")
            self.assertEqual(r3.json()["request_id"], "slow2")
            self.assertGreaterEqual(t3, 0.59)
        finally:
            b.stop()

    def test_fail_rate_one_answers_500(self):
        b = Backend("--fail-rate", "1.0")
        try:
            with b.connect() as s:
                rd = Reader(s)
                for _ in range(5):
                    s.sendall(get("/my-app/data"))
                    self.assertEqual(rd.response().status, 500)
                s.sendall(get("/health"))
                self.assertEqual(rd.response().status, 200)
        finally:
            b.stop()

    def test_fail_rate_fraction(self):
        b = Backend("--fail-rate", "0.5", "--no-access-log")
        try:
            with b.connect() as s:
                s.sendall(get("/my-app/data") * 200)
                rd = Reader(s)
                fails = sum(rd.response().status == 500 for _ in range(200))
            self.assertTrue(40 < fails < 160, fails)
        finally:
            b.stop()

    def test_record_appends_every_received_byte(self):
        # --record is how proxy tests prove what reached the backend: raw bytes, garbage included.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "rec")
            b = Backend("--record", path)
            try:
                sent = get("/my-app/data") + get("/health")
                self.assertEqual(one(b, sent).status, 200)
                garbage = b"\x00garbage\r\n\r\n"
                self.assertEqual(one(b, garbage).status, 400)
                self.assertTrue(wait_until(lambda: os.path.getsize(path) == len(sent + garbage), TIMEOUT))
            finally:
                b.stop()
            with open(path, "rb") as f:
                self.assertEqual(f.read(), sent + garbage)
        bad = subprocess.run([BINARY, "--listen", "127.0.0.1:0", "--name", "b1", "--record",
                              "/nonexistent-dir/rec"], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--record /nonexistent-dir/rec", bad.stderr)

    def test_slow_request_gets_408_and_idle_is_closed(self):
        b = Backend("--request-timeout-ms", "300", "--idle-timeout-ms", "400")
        try:
            with b.connect() as s:
                s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n")  # never finished
                t = time.monotonic()
                rd = Reader(s)
                r = rd.response()
                self.assertEqual(r.status, 408)
                self.assertEqual(r.header("connection"), "close")
                self.assertTrue(rd.closed())
                self.assertLess(time.monotonic() - t, 2.0)
            with b.connect() as s:
                s.sendall(get("/health"))
                rd = Reader(s)
                rd.response()
                t = time.monotonic()
                self.assertTrue(rd.closed(3.0), "idle keep-alive connection closed")
                self.assertGreaterEqual(time.monotonic() - t, 0.3)
                self.assertEqual(rd.buf, b"", "closed silently: no 408 without a request")
        finally:
            b.stop()


class Lifecycle(unittest.TestCase):
    def test_graceful_sigterm_finishes_in_flight_request(self):
        b = Backend("--delay-ms", "1500")
        try:
            idle = b.connect()
            s = b.connect()
            s.sendall(get("/my-app/data", extra="X-Request-Id: inflight\r\n"))
            time.sleep(0.3)
            b.signal(signal.SIGTERM)
            self.assertTrue(wait_until(lambda: "msg=draining" in b.stderr_text(), TIMEOUT))
            # No new connections once draining.
            with self.assertRaises(OSError):
                c = socket.create_connection(("127.0.0.1", b.port), timeout=1)
                c.sendall(get("/health"))
                if not c.recv(100):
                    raise ConnectionResetError("closed")
            self.assertTrue(Reader(idle).closed(2.0), "idle connection closed at once")
            rd = Reader(s)
            r = rd.response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["request_id"], "inflight")
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(rd.closed())
            self.assertEqual(b.wait(), 0)
            self.assertIn("msg=draining signal=SIGTERM", b.stderr_text())
            s.close()
            idle.close()
        finally:
            b.stop()

    def test_sigint_idle_exits_zero(self):
        b = Backend("--workers", "2")
        try:
            self.assertEqual(one(b, get("/health")).status, 200)
            b.signal(signal.SIGINT)
            self.assertEqual(b.wait(), 0)
        finally:
            b.stop()

    def test_sigterm_right_after_the_listening_line(self):
        for _ in range(5):  # handlers are in place before the address is announced
            b = Backend("--workers", "2")
            b.signal(signal.SIGTERM)
            self.assertEqual(b.wait(), 0, b.stderr_text())
            b.stop()

    def test_json_logs(self):
        b = Backend("--log-format", "json")
        try:
            one(b, get("/my-app/data", extra="X-Request-Id: j-1\r\n"))
            self.assertTrue(wait_until(lambda: "j-1" in b.access_log(), TIMEOUT))
            line = json.loads([l for l in b.access_log().splitlines() if "j-1" in l][0])
            self.assertEqual((line["msg"], line["method"], line["path"], line["status"], line["request_id"]),
                             ("access", "GET", "/my-app/data", 200, "j-1"))
            self.assertIsInstance(line["duration_ms"], float)
            self.assertEqual(json.loads(b.stderr_text().splitlines()[0])["msg"], "listening")
        finally:
            b.stop()

    def test_workers_share_the_port(self):
        b = Backend("--workers", "3", "--no-access-log")
        try:
            for _ in range(20):
                self.assertEqual(one(b, get("/my-app/data")).json()["listen"], b.addrs[0])
        finally:
            b.stop()

    def test_help_and_bad_flags(self):
        out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(out.returncode, 0)
        for flag in ("--listen", "--name", "--delay-ms", "--fail-rate", "--admin", "SIGUSR1", "SIGUSR2"):
            self.assertIn(flag, out.stdout)
        bad = subprocess.run([BINARY, "--listen", "127.0.0.1:1", "--name", "b1", "--fail-rate", "2"],
                             capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--fail-rate '2'", bad.stderr)

    def test_port_in_use_is_a_clear_error(self):
        # With --workers 2 both processes would bind with SO_REUSEPORT: the second must still
        # refuse the port rather than silently share it, and the first keep serving.
        for workers in ("1", "2"):
            b = Backend("--workers", workers, "--no-access-log")
            try:
                t0 = time.monotonic()
                out = subprocess.run([BINARY, "--listen", b.addrs[0], "--name", "b2", "--workers", "2"],
                                     capture_output=True, text=True, timeout=TIMEOUT)
                self.assertLess(time.monotonic() - t0, 2.0)
                self.assertEqual(out.returncode, 1, out.stderr)
                self.assertIn("%s is already in use by another process; stop it or choose another "
                              "--listen" % b.addrs[0], out.stderr)
                for _ in range(10):
                    self.assertEqual(one(b, get("/my-app/data")).json()["backend"], "b1")
            finally:
                b.stop()


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_backend.py BINARY [unittest args]")
    BINARY = os.path.abspath(sys.argv.pop(1))
    if sys.argv[1:2] == ["Ipv6"] and not has_ipv6():
        print("SKIP: no ::1 on this machine (IPv6 disabled): the IPv6 listener is not tested")
        sys.exit(77)
    unittest.main(verbosity=2)
