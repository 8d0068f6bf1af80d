#!/usr/bin/env python3
"""journey's curl-compatible flags against real processes on loopback: journey-backend (its
--record file shows the bytes that arrived), a raw-socket redirecting server, a CONNECT proxy and
openssl s_server and journey-lb (--client-ca) asking for a client certificate. Every server is
started here and stopped by its PID (or its thread).

usage: test_client_flags.py JOURNEY CERTS_DIR BACKEND LB [unittest args]
"""
import json, os, re, socket, subprocess, sys, tempfile, threading, time, unittest

JOURNEY, CERTS, BACKEND, LB = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import free_port, read_head, relay, sanitizer_reports, start, stop, stop_all, wait_port, wait_until  # noqa: E402


def journey(*args, timeout=30, stdin=None):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.pop("HTTPS_PROXY", None)
    e.pop("https_proxy", None)
    e.pop("HTTP_PROXY", None)
    e.pop("http_proxy", None)
    return subprocess.run([JOURNEY, "--no-cache"] + list(args), capture_output=True, timeout=timeout, env=e,
                          input=stdin)


def jjson(*args, **kw):
    r = journey("--json", *args, **kw)
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        raise AssertionError("not JSON (exit %d): %r %r" % (r.returncode, r.stdout, r.stderr))


class Body(unittest.TestCase):
    """-d, --data-binary, -A, --http1.0, -i, -D against journey-backend --record."""
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="journey-flags-")
        cls.rec = os.path.join(cls.tmp, "record")
        cls.port = free_port()
        cls.be = start([BACKEND, "--listen", "127.0.0.1:%d" % cls.port, "--name", "b1", "--no-access-log",
                        "--record", cls.rec], "backend-body")
        wait_port(cls.port, cls.be, "journey-backend")

    @classmethod
    def tearDownClass(cls):
        stop(cls.be, timeout=5, must=False)

    def url(self, path="/my-app/data"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def recorded_after(self, mark):
        """The bytes the backend received since mark (its --record file grows)."""
        wait_until(lambda: os.path.getsize(self.rec) > mark, 5)
        time.sleep(0.1)
        with open(self.rec, "rb") as f:
            f.seek(mark)
            return f.read()

    def mark(self):
        return os.path.getsize(self.rec) if os.path.exists(self.rec) else 0

    def test_data_posts_with_length(self):
        m = self.mark()
        code, j = jjson("-d", "name=journey", "-d", "seed=1", "-A", "flags-test/1", self.url())
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual((j["method"], j["size_upload"]), ("POST", 19))
        got = self.recorded_after(m)
        head, _, body = got.partition(b"\r\n\r\n")
        head += b"\r\n"
        self.assertTrue(head.startswith(b"POST /my-app/data HTTP/1.1\r\n"), head)
        self.assertIn(b"\r\nContent-Length: 19\r\n", head)
        self.assertIn(b"\r\nContent-Type: application/x-www-form-urlencoded\r\n", head)
        self.assertIn(b"\r\nUser-Agent: flags-test/1\r\n", head)
        self.assertEqual(body, b"name=journey&seed=1")
        self.assertEqual(j["size_request"], len(head) + 2 + 19)

    def test_data_binary_file_byte_for_byte(self):
        data = bytes(range(256)) * 300 + b"\r\nend\n"  # 76 806 bytes, CR/LF and NUL kept
        path = os.path.join(self.tmp, "blob")
        with open(path, "wb") as f:
            f.write(data)
        m = self.mark()
        code, j = jjson("--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream", self.url())
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual(j["size_upload"], len(data))
        wait_until(lambda: len(self.recorded_after(m)) >= len(data), 5)
        head, _, body = self.recorded_after(m).partition(b"\r\n\r\n")
        head += b"\r\n"
        self.assertIn(b"\r\nContent-Length: %d\r\n" % len(data), head)
        self.assertIn(b"\r\nContent-Type: application/octet-stream\r\n", head)
        self.assertEqual(body, data)
        # -d @file drops CR and LF, as curl does; @- reads stdin
        m = self.mark()
        code, j = jjson("-d", "@-", self.url(), stdin=b"a=1\r\nb=2\n")
        self.assertEqual((code, j["size_upload"]), (0, 6))
        self.assertTrue(self.recorded_after(m).endswith(b"\r\n\r\na=1b=2"))

    def test_http10_include_dump_header(self):
        m = self.mark()
        hfile = os.path.join(self.tmp, "head")
        r = journey("--http1.0", "-i", "-o", "-", "-D", hfile, self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.recorded_after(m).startswith(b"GET /my-app/data HTTP/1.0\r\n"))
        out = r.stdout
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n") or head.startswith(b"HTTP/1.0 200 OK\r\n"), head)
        self.assertIn(b"\r\nContent-Type: application/json", head)
        self.assertEqual((json.loads(body)["backend"], json.loads(body)["http_version"]), ("b1", "1.0"))
        self.assertEqual(open(hfile, "rb").read(), head + b"\r\n\r\n")
        # -w with curl's variables, also with -s; the same values as --json
        r = journey("-s", "-w", "%{http_code} %{method} %{size_download} %{remote_ip}:%{remote_port} %header{content-type}"
                    "\\n%{json}", self.url())
        self.assertEqual(r.returncode, 0, r.stderr)
        first, _, js = r.stdout.decode().partition("\n")
        self.assertEqual(first, "200 GET %d 127.0.0.1:%d application/json" % (json.loads(js)["size_download"], self.port))
        j = json.loads(js)
        self.assertEqual((j["http_code"], j["scheme"], j["num_connects"]), (200, "HTTP", 1))
        self.assertGreater(j["time_total"], j["time_connect"])
        r = journey("-s", "-w", "%{no_such_thing}", self.url())
        self.assertEqual(r.stdout, b"%{no_such_thing}")
        self.assertIn(b"unknown variable", r.stderr)
        # --trace-path on loopback: the destination answers the first probe, no router between
        code, j = jjson("--trace-path", self.url())
        self.assertEqual(code, 0, j["errormsg"])
        p = j["path"]
        self.assertEqual((p["probed"], p["reached"]), (True, True))
        self.assertEqual([(h["ttl"], h["address"], h["kind"]) for h in p["hops"]], [(1, "127.0.0.1", "destination")])
        self.assertIn("no hop", p["note"])
        r = journey("--trace-path", "--no-color", self.url())
        self.assertIn(b"8 path     no hop", r.stdout)
        self.assertIn(b"local delivery", r.stdout)
        code, j = jjson(self.url())
        self.assertEqual((j["path"]["probed"], j["path"]["hops"]), (False, []))  # only when asked
        # -i without -o: the report shows the response headers
        r = journey("-i", "--no-color", self.url())
        self.assertIn(b"< Content-Type: application/json", r.stdout)


def redirect_server(port, stop, seen):
    """One request per connection: /r/CODE answers CODE with Location /final, /to/PORT redirects
    to /final on another port of 127.0.0.1 (another origin), /final answers 200
    with "METHOD body-length", /loop redirects to itself, /flaky answers 503 twice then 200.
    Every request line and body length goes into seen."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    ls.settimeout(0.2)
    flaky = [0]
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        c.settimeout(5)
        req = read_head(c)
        if b"\r\n\r\n" not in req:  # a port probe, or a client that gave up
            c.close()
            continue
        head, _, body = req.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        length = 0
        for l in lines[1:]:
            if l.lower().startswith("content-length:"):
                length = int(l.split(":")[1])
        while len(body) < length:
            body += c.recv(65536)
        creds = sorted(l.split(":")[0].lower() for l in lines[1:]
                       if l.lower().startswith(("authorization:", "cookie:")))
        seen.append((method, path, len(body), creds))
        if path.startswith("/to/"):  # another origin: the same host, another port
            resp = (b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%s/final\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n" % path[4:].encode())
        elif path.startswith("/r/"):
            code = int(path[3:])
            resp = b"HTTP/1.1 %d Moved\r\nLocation: /final\r\nContent-Length: 6\r\nConnection: close\r\n\r\nmoved\n" % code
        elif path == "/loop":
            resp = b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        elif path == "/flaky" and flaky[0] < 2:
            flaky[0] += 1
            resp = b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        else:
            if path == "/flaky":
                flaky[0] = 0
            out = b"%s %d" % (method.encode(), len(body))
            resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(out) + out
        c.sendall(resp)
        c.close()
    ls.close()


class Redirects(unittest.TestCase):
    """-L with --max-redirs (RFC 9110's method rules) and --retry."""
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.stop = threading.Event()
        cls.seen = []
        cls.th = threading.Thread(target=redirect_server, args=(cls.port, cls.stop, cls.seen), daemon=True)
        cls.th.start()
        wait_port(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.stop.set()
        cls.th.join()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def test_methods_per_status(self):
        # (status, method sent first) -> method and body length that reach /final
        want = {(301, "POST"): ("GET", 0), (302, "POST"): ("GET", 0), (303, "POST"): ("GET", 0),
                (307, "POST"): ("POST", 5), (308, "POST"): ("POST", 5), (301, "GET"): ("GET", 0),
                (303, "PUT"): ("GET", 0), (308, "PUT"): ("PUT", 5)}
        for (status, method), (m2, n2) in want.items():
            del self.seen[:]
            args = ["-L", "-d", "hello"] + (["-X", method] if method != "POST" else [])
            if method == "GET":
                args = ["-L"]
                n2 = 0
            r = journey(*args, "-o", "-", self.url("/r/%d" % status))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"%s %d" % (m2.encode(), n2), (status, method))  # no redirect body
            self.assertEqual([s[1] for s in self.seen], ["/r/%d" % status, "/final"])
            self.assertEqual(self.seen[1][0], m2)
        code, j = jjson("-L", self.url("/r/301"))
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual((j["num_redirects"], j["url_effective"], j["url"]), (1, self.url("/final"), self.url("/r/301")))
        self.assertEqual([(h["kind"], h["http_code"]) for h in j["hops"]], [("request", 301), ("redirect", 200)])
        self.assertGreater(j["time_redirect"], 0)
        self.assertLessEqual(j["time_redirect"], j["time_total"])
        # curl's marks are summed over the hops: both hops' DNS + connect
        self.assertGreaterEqual(j["time_connect"], sum(h["tcp_us"] for h in j["hops"]) / 1e6 - 1e-6)
        # without -L: not followed, redirect_url says where it points
        code, j = jjson(self.url("/r/302"))
        self.assertEqual((code, j["http_code"], j["redirect_url"], j["num_redirects"]),
                         (0, 302, self.url("/final"), 0))
        # the human report shows each hop's phases
        r = journey("-L", "--no-color", self.url("/r/307"))
        self.assertIn(b"2 requests", r.stdout)
        self.assertIn(b"redirect GET " + self.url("/final").encode(), r.stdout)

    def test_every_hops_head(self):
        """-D and -i with -L write each response's head in order (curl's behaviour); a redirect's
        body is never written; --retry appends each try's head to -D's file."""
        tmp = tempfile.mkdtemp(prefix="journey-heads-")
        hfile, ofile = os.path.join(tmp, "head"), os.path.join(tmp, "out")
        moved = b"HTTP/1.1 301 Moved\r\nLocation: /final\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
        final = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        r = journey("-L", "-i", "-D", hfile, "-o", ofile, self.url("/r/301"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(open(hfile, "rb").read(), moved + final)
        self.assertEqual(open(ofile, "rb").read(), moved + final + b"GET 0")
        r = journey("-L", "-i", "-o", "-", self.url("/r/308"))
        self.assertEqual(r.stdout, moved.replace(b"301", b"308") + final + b"GET 0")
        # -D - with -L: the heads on stdout, in order, before the report
        r = journey("-L", "-D", "-", "--no-color", self.url("/r/302"))
        self.assertTrue(r.stdout.startswith(moved.replace(b"301", b"302") + final), r.stdout[:300])
        # -i without -o: the report lists each hop with its head
        r = journey("-L", "-i", "--no-color", self.url("/r/307"))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertLess(out.index("< HTTP/1.1 307 Moved"), out.index("< Location: /final"))
        self.assertLess(out.index("< Location: /final"), out.rindex("< Content-Length: 5"))
        # a fresh run starts the files again; --retry keeps every try's head in -D's file
        r = journey("--retry", "3", "--retry-delay", "0.05", "-D", hfile, "-o", ofile, self.url("/flaky"))
        self.assertEqual(r.returncode, 0, r.stderr)
        busy = b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        self.assertEqual(open(hfile, "rb").read(), busy + busy + final)
        self.assertEqual(open(ofile, "rb").read(), b"GET 0")

    def test_credentials_stay_with_their_origin(self):
        """-H Authorization and Cookie follow a redirect on the same origin and are dropped on
        the way to another one (curl's rule); other -H headers go everywhere."""
        port2 = free_port()
        stop2, seen2 = threading.Event(), []
        th2 = threading.Thread(target=redirect_server, args=(port2, stop2, seen2), daemon=True)
        th2.start()
        try:
            wait_port(port2)
            creds = ["-H", "Authorization: Bearer secret", "-H", "Cookie: sid=1"]
            del self.seen[:]
            r = journey("-L", *creds, "-o", "-", self.url("/r/302"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual([s[3] for s in self.seen], [["authorization", "cookie"]] * 2)
            del self.seen[:]
            del seen2[:]
            r = journey("-L", *creds, "-o", "-", self.url("/to/%d" % port2))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"GET 0")
            self.assertEqual(self.seen[0][3], ["authorization", "cookie"])
            self.assertEqual([(s[1], s[3]) for s in seen2], [("/final", [])])
        finally:
            stop2.set()
            th2.join()

    def test_max_redirs_is_47(self):
        del self.seen[:]
        code, j = jjson("-L", "--max-redirs", "3", self.url("/loop"))
        self.assertEqual(code, 47, j["errormsg"])
        self.assertIn("--max-redirs", j["errormsg"])
        self.assertEqual(len(self.seen), 4)

    def test_retry_only_what_is_safe(self):
        del self.seen[:]
        code, j = jjson("--retry", "3", "--retry-delay", "0.05", self.url("/flaky"))
        self.assertEqual((code, j["http_code"], j["retries"]), (0, 200, 2), j["errormsg"])
        self.assertEqual([h["http_code"] for h in j["hops"]], [503, 503, 200])
        self.assertGreaterEqual(j["hops"][1]["wait_us"], 50000)
        # a POST that got a 503 may have had an effect: never repeated
        del self.seen[:]
        code, j = jjson("--retry", "3", "--retry-delay", "0.05", "-d", "x=1", self.url("/flaky"))
        self.assertEqual((code, j["http_code"], j["retries"], len(self.seen)), (0, 503, 0, 1))
        # a connection that times out before the request is sent is retried whatever the method
        # (a TCP port that never accepts: listening with a full backlog is not portable, so a
        # silent port is approximated by --connect-timeout against a dropped address is not
        # possible on loopback; a refused connection is not a transient error, as in curl)
        code, j = jjson("--retry", "2", "--retry-delay", "0.05", "http://127.0.0.1:%d/" % free_port())
        self.assertEqual((code, j["retries"]), (7, 0))


class Mtls(unittest.TestCase):
    """--cert/--key against openssl s_server -Verify (it insists on a client certificate signed by
    the development CA)."""
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="journey-mtls-")
        ca, cakey = os.path.join(CERTS, "ca.crt"), os.path.join(CERTS, "ca.key")
        cls.key, cls.crt = os.path.join(cls.tmp, "client.key"), os.path.join(cls.tmp, "client.crt")
        csr = os.path.join(cls.tmp, "client.csr")
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", cls.key, "-out", csr, "-subj", "/CN=journey test client")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
            "-CAserial", os.path.join(cls.tmp, "ca.srl"), "-out", cls.crt, "-days", "1")
        cls.port = free_port()
        cls.srv = start(["openssl", "s_server", "-accept", "127.0.0.1:%d" % cls.port,
                         "-cert", os.path.join(CERTS, "server.crt"), "-key", os.path.join(CERTS, "server.key"),
                         "-Verify", "1", "-CAfile", ca, "-verify_return_error", "-www", "-quiet"], "s_server-mtls")
        wait_port(cls.port, cls.srv, "openssl s_server")

    @classmethod
    def tearDownClass(cls):
        stop(cls.srv, timeout=5, must=False)

    def test_client_certificate(self):
        url = "https://www.my-app.com:%d/" % self.port
        common = ["--cacert", os.path.join(CERTS, "ca.crt"), "--resolve", "www.my-app.com:%d:127.0.0.1" % self.port]
        out = os.path.join(self.tmp, "page")
        code, j = jjson(*common, "--cert", self.crt, "--key", self.key, "-o", out, url)
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual(j["http_code"], 200)
        self.assertTrue(j["phases"]["tls"]["client_certificate"])
        with open(out, errors="replace") as f:
            self.assertIn("journey test client", f.read())  # s_server saw our certificate
        # without a certificate the server refuses: the request fails, nothing is 200
        code, j = jjson(*common, url)
        self.assertNotEqual(code, 0)
        self.assertIn(code, (35, 56), j["errormsg"])
        self.assertFalse(j["phases"]["tls"]["client_certificate"])
        # a key that is not the certificate's: 58 before any traffic of the TLS phase
        other = os.path.join(self.tmp, "other.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", other],
                       check=True, capture_output=True)
        code, j = jjson(*common, "--cert", self.crt, "--key", other, url)
        self.assertEqual((code, j["failed_phase"]), (58, "tls"), j["errormsg"])
        self.assertIn(other, j["errormsg"])  # says which files
        code, j = jjson(*common, "--cert", os.path.join(self.tmp, "missing.crt"), url)
        self.assertEqual(code, 58)


@unittest.skipIf(LB == "NONE", "journey-lb is not built")
class MtlsLb(Mtls):
    """--cert/--key against journey-lb with --client-ca and --client-verify required: the verified
    subject reaches the backend in X-Client-Cert-Subject; without a certificate the handshake is
    refused and nothing reaches the backend."""
    @classmethod
    def setUpClass(cls):
        Mtls.setUpClass.__func__(cls)  # the client certificate (and an s_server, stopped below)
        stop(cls.srv, timeout=5, must=False)
        cls.rec = os.path.join(cls.tmp, "backend.rec")
        bport, cls.port = free_port(), free_port()
        cls.be = start([BACKEND, "--listen", "127.0.0.1:%d" % bport, "--name", "b1", "--record", cls.rec], "backend-mtls")
        wait_port(bport, cls.be, "journey-backend")
        cls.srv = start([LB, "--listen", "https://127.0.0.1:%d" % cls.port, "--cert", os.path.join(CERTS, "server.crt"),
                         "--key", os.path.join(CERTS, "server.key"), "--client-ca", os.path.join(CERTS, "ca.crt"),
                         "--client-verify", "required", "--backend", "b1=127.0.0.1:%d" % bport,
                         "--health-check", "none"], "lb-mtls")
        wait_port(cls.port, cls.srv, "journey-lb")

    @classmethod
    def tearDownClass(cls):
        stop(cls.srv, timeout=5, must=False)
        stop(cls.be, timeout=5, must=False)

    def test_client_certificate(self):
        url = "https://www.my-app.com:%d/my-app/data" % self.port
        common = ["--cacert", os.path.join(CERTS, "ca.crt"), "--resolve", "www.my-app.com:%d:127.0.0.1" % self.port]
        code, j = jjson(*common, "--cert", self.crt, "--key", self.key, "-o", os.devnull, url)
        self.assertEqual((code, j["http_code"]), (0, 200), j["errormsg"])
        self.assertTrue(j["phases"]["tls"]["client_certificate"])
        with open(self.rec, "rb") as f:
            got = f.read()
        self.assertRegex(got, rb"(?i)x-client-cert-subject: [^\r]*journey test client")
        code, j = jjson(*common, url)  # no certificate: refused in the handshake
        self.assertIn(code, (35, 56), j["errormsg"])
        self.assertNotEqual(j["http_code"], 200)
        with open(self.rec, "rb") as f:
            self.assertEqual(f.read(), got)  # nothing more reached the backend


def connect_proxy(ls, stop, seen, refuse):
    """A tiny HTTP proxy: CONNECT host:port (to 127.0.0.1 only) answers 200 and relays both ways;
    an absolute-form request is relayed to the host:port of its URL. seen gets each request line."""
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        head = read_head(c)
        if b"\r\n\r\n" not in head:
            c.close()
            continue
        line = head.split(b"\r\n")[0].decode()
        seen.append(line)
        method, target = line.split(" ")[:2]
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            if refuse or host not in ("127.0.0.1", "www.my-app.com"):
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                c.close()
                continue
            # the name is resolved here as a proxy would, but only to loopback
            up = socket.create_connection(("127.0.0.1", int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                up.sendall(rest)
        else:
            hostport = target.split("/")[2]
            up = socket.create_connection(("127.0.0.1", int(hostport.rsplit(":", 1)[1])))
            up.sendall(head)
        threading.Thread(target=relay, args=(c, up), daemon=True).start()
        threading.Thread(target=relay, args=(up, c), daemon=True).start()
    ls.close()


class Proxy(unittest.TestCase):
    """-x, HTTPS_PROXY / NO_PROXY: a CONNECT tunnel to openssl s_server, absolute form to
    journey-backend, both through a proxy built here."""
    @classmethod
    def setUpClass(cls):
        cls.stop = threading.Event()
        cls.seen, cls.threads = [], []
        cls.pports = []
        for refuse in (False, True):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(16)
            cls.pports.append(ls.getsockname()[1])
            th = threading.Thread(target=connect_proxy, args=(ls, cls.stop, cls.seen, refuse), daemon=True)
            th.start()
            cls.threads.append(th)
        cls.tport, cls.bport = free_port(), free_port()
        cls.procs = [start(["openssl", "s_server", "-accept", "127.0.0.1:%d" % cls.tport,
                            "-cert", os.path.join(CERTS, "server.crt"), "-key", os.path.join(CERTS, "server.key"),
                            "-www", "-quiet"], "s_server-proxy"),
                     start([BACKEND, "--listen", "127.0.0.1:%d" % cls.bport, "--name", "b1", "--no-access-log"],
                           "backend-proxy")]
        wait_port(cls.tport, cls.procs[0], "openssl s_server")
        wait_port(cls.bport, cls.procs[1], "journey-backend")

    @classmethod
    def tearDownClass(cls):
        cls.stop.set()
        for th in cls.threads:
            th.join()
        for p in cls.procs:
            stop(p, timeout=5, must=False)

    def test_connect_tunnel(self):
        del self.seen[:]
        url = "https://www.my-app.com:%d/" % self.tport
        code, j = jjson("--cacert", os.path.join(CERTS, "ca.crt"), "-x", "127.0.0.1:%d" % self.pports[0], url)
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual(self.seen, ["CONNECT www.my-app.com:%d HTTP/1.1" % self.tport])
        p = j["phases"]["proxy"]
        self.assertEqual((p["used"], p["tunnel"], p["connect_status"], p["address"]),
                         (True, True, 200, "127.0.0.1:%d" % self.pports[0]))
        self.assertGreater(p["duration_us"], 0)
        self.assertEqual(j["http_connect"], 200)
        self.assertEqual(j["remote_port"], self.pports[0])  # the TCP peer is the proxy, as in curl
        self.assertTrue(j["phases"]["tls"]["verified"])  # TLS end to end with the server's name
        self.assertEqual(j["phases"]["tls"]["sni"], "www.my-app.com")
        self.assertLessEqual(j["time_connect"] + p["duration_us"] / 1e6, j["time_appconnect"] + 1e-6)
        # the report numbers the phases in the order they happen: the tunnel between TCP and TLS
        r = journey("--cacert", os.path.join(CERTS, "ca.crt"), "-x", "127.0.0.1:%d" % self.pports[0], "--no-color", url)
        self.assertEqual(r.returncode, 0, r.stderr)
        heads = re.findall(r"^(\d) (\w+)", r.stdout.decode(), re.M)
        self.assertEqual(heads, [("1", "URL"), ("2", "DNS"), ("3", "route"), ("4", "TCP"), ("5", "proxy"), ("6", "TLS"),
                                 ("7", "HTTP"), ("8", "LB")])
        self.assertEqual(re.findall(r"^  (\w+) +\|", r.stdout.decode(), re.M),
                         ["dns", "route", "tcp", "proxy", "tls", "server", "transfer"])
        # the same from HTTPS_PROXY; NO_PROXY exempts the host
        e = dict(os.environ, HTTPS_PROXY="http://127.0.0.1:%d" % self.pports[0])
        r = subprocess.run([JOURNEY, "--json", "--no-cache", "--cacert", os.path.join(CERTS, "ca.crt"),
                            "--resolve", "www.my-app.com:%d:127.0.0.1" % self.tport, url], capture_output=True, env=e)
        self.assertEqual(json.loads(r.stdout)["phases"]["proxy"]["used"], True)
        e["NO_PROXY"] = "localhost,.my-app.com"
        r = subprocess.run([JOURNEY, "--json", "--no-cache", "--cacert", os.path.join(CERTS, "ca.crt"),
                            "--resolve", "www.my-app.com:%d:127.0.0.1" % self.tport, url], capture_output=True, env=e)
        j = json.loads(r.stdout)
        self.assertEqual((r.returncode, j["phases"]["proxy"]["used"]), (0, False))

    def test_connect_to(self):
        """--connect-to: the connection goes elsewhere, the name (Host, SNI, certificate) stays."""
        url = "https://www.my-app.com:443/"
        code, j = jjson("--cacert", os.path.join(CERTS, "ca.crt"),
                        "--connect-to", "www.my-app.com:443:127.0.0.1:%d" % self.tport, url)
        self.assertEqual(code, 0, j["errormsg"])
        self.assertEqual((j["remote_ip"], j["remote_port"]), ("127.0.0.1", self.tport))
        self.assertEqual(j["phases"]["tls"]["sni"], "www.my-app.com")
        self.assertTrue(j["phases"]["tls"]["verified"])
        self.assertIn("Host: www.my-app.com\r\n", j["phases"]["url"]["request"])
        self.assertEqual(j["phases"]["dns"]["connect_to"], "www.my-app.com:443:127.0.0.1:%d" % self.tport)
        # a rule for another name does not apply (and nothing listens on this machine's 443... or
        # the name does not resolve): not connected to our server
        code, j = jjson("--connect-to", "other.example:443:127.0.0.1:%d" % self.tport, "--resolve",
                        "www.my-app.com:443:127.0.0.1", "--connect-timeout", "2", url)
        self.assertNotEqual(j["remote_port"], self.tport)
        self.assertEqual(journey("--connect-to", "a:b:c", url).returncode, 2)

    def test_refused_tunnel_and_absolute_form(self):
        url = "https://www.my-app.com:%d/" % self.tport
        code, j = jjson("--cacert", os.path.join(CERTS, "ca.crt"), "-x", "127.0.0.1:%d" % self.pports[1], url)
        self.assertEqual((code, j["failed_phase"], j["http_connect"]), (56, "proxy", 403), j["errormsg"])
        self.assertIn("refused the tunnel", j["errormsg"])
        self.assertFalse(j["phases"]["tls"]["reached"])
        del self.seen[:]
        code, j = jjson("-x", "http://127.0.0.1:%d" % self.pports[0], "http://127.0.0.1:%d/my-app/data" % self.bport)
        self.assertEqual((code, j["http_code"]), (0, 200), j["errormsg"])
        self.assertEqual(self.seen, ["GET http://127.0.0.1:%d/my-app/data HTTP/1.1" % self.bport])
        self.assertFalse(j["phases"]["proxy"]["tunnel"])


if __name__ == "__main__":
    ok = unittest.main(argv=[sys.argv[0]] + sys.argv[5:], exit=False).result.wasSuccessful()
    stop_all()  # each class stopped its own; an ASan/LSan/UBSan report in their stderr fails the run
    for report in sanitizer_reports():
        ok = False
        print("--- sanitizer report of %s" % report)
    sys.exit(0 if ok else 1)
