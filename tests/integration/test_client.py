#!/usr/bin/env python3
"""journey (the client) against real processes on loopback: dnsmasq as the DNS server,
openssl s_server with the development certificate, journey-backend, a raw-socket HTTP server
for body framings, and journey-lb when it is built. Every server is started here and stopped by
its PID.

usage: test_client.py JOURNEY CERTS_DIR BACKEND LB_OR_NONE GROUP
groups: Dns Errors Http Schema Lb CurlTimes
"""
import gzip, json, os, re, socket, statistics, subprocess, sys, tempfile, threading, time, unittest

JOURNEY, CERTS, BACKEND, LB = sys.argv[1:5]
GROUP = sys.argv[5]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import TMP, free_port, read, read_head, sanitizer_reports, start, stop, stop_all, wait_port  # noqa: E402
from browser import find_chromium, run_chromium  # noqa: E402
DOC = os.path.join(HERE, "..", "..", "docs", "client-json.md")


def dns_port():
    """A port free for both UDP and TCP (dnsmasq binds both), held until release() so that the
    other free_port() calls cannot hand out the same number for TCP."""
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port, lambda: (u.close(), t.close())
        except OSError:
            u.close()
            t.close()


class Proc:
    """A process we started (loopback.start), stopped by its PID."""
    count = 0

    def __init__(self, argv):
        Proc.count += 1
        self.p = start(argv, "%s-%d" % (os.path.basename(argv[0]), Proc.count))

    def output(self):
        return read(self.p.errpath)

    def stop(self):
        stop(self.p, timeout=5, must=False)


def wait_dns(port, proc, timeout=10.0):
    """Until the DNS server on port answers a query for www.my-app.com (it may start slowly)."""
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x06my-app\x03com\x00\x00\x01\x00\x01"
    end = time.time() + timeout
    while time.time() < end:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(q, ("127.0.0.1", port))
            if s.recv(512)[:2] == b"\x12\x34":
                return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise RuntimeError("dnsmasq did not answer on port %d (exit %s): %s" % (port, proc.p.poll(), proc.output()))


def dnsmasq(port, ttl=60):
    return Proc(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                 "--listen-address=127.0.0.1", "--port=%d" % port, "--bind-interfaces", "--pid-file=",
                 "--address=/www.my-app.com/127.0.0.1", "--local=/my-app.com/", "--local-ttl=%d" % ttl])


def s_server(port, cert="server.crt"):
    p = Proc(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", os.path.join(CERTS, cert),
              "-key", os.path.join(CERTS, "server.key"), "-www", "-quiet"])
    wait_port(port)
    return p


def journey(*args, env=None, timeout=30):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    if env:
        e.update(env)
    r = subprocess.run([JOURNEY] + list(args), capture_output=True, text=True, timeout=timeout, env=e)
    return r


def jjson(*args, **kw):
    r = journey("--json", *args, **kw)
    try:
        obj = json.loads(r.stdout)
    except ValueError:
        raise AssertionError("not JSON (exit %d): %r %r" % (r.returncode, r.stdout, r.stderr))
    return r.returncode, obj


# ---- a small JSON Schema validator (type, enum, required, properties, items): no dependency ----
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def check_type(v, t):
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])


def validate(v, s, path="$"):
    if "type" in s:
        ts = s["type"] if isinstance(s["type"], list) else [s["type"]]
        if not any(check_type(v, t) for t in ts):
            raise AssertionError("%s: %r is not %s" % (path, v, ts))
    if "enum" in s and v not in s["enum"]:
        raise AssertionError("%s: %r not in %s" % (path, v, s["enum"]))
    if isinstance(v, dict):
        for k in s.get("required", []):
            if k not in v:
                raise AssertionError("%s: missing %s" % (path, k))
        for k, sub in s.get("properties", {}).items():
            if k in v:
                validate(v[k], sub, path + "." + k)
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            validate(x, s["items"], "%s[%d]" % (path, i))


def schema():
    text = open(DOC).read()
    m = re.search(r"```json\n(.*?)```", text, re.S)
    return json.loads(m.group(1))


class Base(unittest.TestCase):
    procs = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs:
            p.stop()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.env = {"XDG_CACHE_HOME": self.tmp.name}

    def tearDown(self):
        self.tmp.cleanup()


class Dns(Base):
    @classmethod
    def setUpClass(cls):
        cls.dport, release = dns_port()
        cls.tport = free_port()
        release()
        cls.procs = [dnsmasq(cls.dport), s_server(cls.tport)]
        wait_dns(cls.dport, cls.procs[0])

    def url(self, host="www.my-app.com"):
        return "https://%s:%d/my-app/data" % (host, self.tport)

    def test_every_phase_then_cache_hit(self):
        ca = os.path.join(CERTS, "ca.crt")
        code, j = jjson("--cacert", ca, "--dns-servers", "127.0.0.1:%d" % self.dport, self.url(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        validate(j, schema())
        ph = j["phases"]
        for name in ("url", "dns", "route", "tcp", "tls", "http", "lb"):
            self.assertTrue(ph[name]["reached"], name)
        self.assertEqual(ph["url"]["host"], "www.my-app.com")
        self.assertEqual(ph["url"]["path"], "/my-app/data")
        self.assertIn("Accept-Language: ko-KR,ko;q=0.9,en;q=0.8\r\n", ph["url"]["request"])
        # DNS: cache miss, hosts miss, then our dnsmasq answered with its TTL
        d = ph["dns"]
        self.assertEqual(d["source"], "server")
        self.assertEqual(d["server"], "127.0.0.1:%d/udp" % self.dport)
        self.assertEqual([s["source"] + ":" + s["result"] for s in d["steps"][:3]],
                         ["cache:miss", "os-cache:skipped", "hosts:miss"])
        self.assertEqual(d["answers"][0], {"type": "A", "address": "127.0.0.1", "ttl": 60})
        self.assertGreater(d["duration_us"], 0)
        # route: loopback, said plainly, no neighbour
        r = ph["route"]
        self.assertTrue(r["ok"] and r["loopback"])
        self.assertEqual(r["interface"], "lo")
        self.assertIsNone(r["neighbour"])
        self.assertEqual(r["ttl"], 64)
        # tcp: one attempt, connected, TCP_INFO filled
        t = ph["tcp"]
        self.assertEqual(t["remote"], "127.0.0.1:%d" % self.tport)
        self.assertEqual(t["attempts"][0]["result"], "connected")
        self.assertGreater(t["mss"], 0)
        self.assertGreater(t["cwnd"], 0)
        # tls: verified against the dev CA
        s = ph["tls"]
        self.assertTrue(s["verified"])
        self.assertEqual(s["sni"], "www.my-app.com")
        self.assertIn(s["version"], ("TLSv1.3", "TLSv1.2"))
        self.assertIn("DNS:www.my-app.com", s["certificate"]["sans"])
        self.assertEqual(j["http_code"], 200)
        times = [j[k] for k in ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer",
                                "time_starttransfer", "time_total")]
        self.assertEqual(times, sorted(times))
        self.assertGreater(times[0], 0)
        self.assertLess(times[-1], 5)
        # second run: the answer comes from journey's own cache, TTL counting down
        code, j2 = jjson("--cacert", ca, "--dns-servers", "127.0.0.1:%d" % self.dport, self.url(), env=self.env)
        self.assertEqual(code, 0, j2["error"])
        self.assertEqual(j2["phases"]["dns"]["source"], "cache")
        self.assertEqual(j2["phases"]["dns"]["steps"][0]["result"], "hit")
        self.assertTrue(0 < j2["phases"]["dns"]["answers"][0]["ttl"] <= 60)
        # --no-cache goes to the server again
        code, j3 = jjson("--no-cache", "--cacert", ca, "--dns-servers", "127.0.0.1:%d" % self.dport, self.url(),
                         env=self.env)
        self.assertEqual(j3["phases"]["dns"]["source"], "server")
        self.assertEqual(j3["phases"]["dns"]["steps"][0]["result"], "skipped")

    def test_fresh_connections_resume_tls(self):
        code, j = jjson("-n", "4", "--no-keepalive", "--cacert", os.path.join(CERTS, "ca.crt"),
                        "--resolve", "www.my-app.com:%d:127.0.0.1" % self.tport, self.url(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        self.assertEqual((j["runs"]["ok"], j["runs"]["reused_connections"]), (4, 0))
        self.assertEqual(j["runs"]["tls_resumed"], 3)
        self.assertFalse(j["phases"]["tls"]["resumed"])  # the first one is a full handshake

    def test_hosts_file(self):
        hosts = os.path.join(self.tmp.name, "hosts")
        with open(hosts, "w") as f:
            f.write("# test\n127.0.0.1 www.my-app.com\n")
        code, j = jjson("--hosts-file", hosts, "--cacert", os.path.join(CERTS, "ca.crt"),
                        "--dns-servers", "127.0.0.1:%d" % self.dport, self.url(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        d = j["phases"]["dns"]
        self.assertEqual(d["source"], "hosts")
        self.assertEqual(d["steps"][-1], {"source": "hosts", "result": "hit", "detail": hosts,
                                          "duration_us": d["steps"][-1]["duration_us"]})
        self.assertIsNone(d["answers"][0]["ttl"])

    def test_unresolvable_is_6(self):
        code, j = jjson("--dns-servers", "127.0.0.1:%d" % self.dport, self.url("nosuch.my-app.com"), env=self.env)
        self.assertEqual(code, 6)
        self.assertEqual(j["exit_code"], 6)
        self.assertEqual(j["failed_phase"], "dns")
        self.assertIn("nosuch.my-app.com", j["error"])
        self.assertFalse(j["phases"]["tcp"]["reached"])
        validate(j, schema())

    def test_human_output(self):
        r = journey("--cacert", os.path.join(CERTS, "ca.crt"), "--dns-servers", "127.0.0.1:%d" % self.dport,
                    self.url(), env=dict(self.env, NO_COLOR="1"))
        self.assertEqual(r.returncode, 0, r.stdout)
        for want in ("1 URL", "2 DNS", "3 route", "4 TCP", "5 TLS", "6 HTTP", "7 LB", "loopback",
                     "time_starttransfer", "127.0.0.1:%d/udp" % self.dport, "verify   ok"):
            self.assertIn(want, r.stdout)
        self.assertNotIn("\033[", r.stdout)


class Errors(Base):
    def test_wrong_ca_is_60(self):
        port = free_port()
        self.procs = [s_server(port)]
        try:
            other = os.path.join(self.tmp.name, "other-ca.crt")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", os.path.join(self.tmp.name, "k"), "-out", other, "-days", "1",
                            "-subj", "/CN=some other CA"], check=True, capture_output=True)
            code, j = jjson("--cacert", other, "--resolve", "www.my-app.com:%d:127.0.0.1" % port,
                            "https://www.my-app.com:%d/" % port, env=self.env)
            self.assertEqual(code, 60, j["error"])
            self.assertEqual(j["failed_phase"], "tls")
            self.assertIn("not trusted", j["error"])
            # -k goes on, loudly
            code, j = jjson("-k", "--resolve", "www.my-app.com:%d:127.0.0.1" % port,
                            "https://www.my-app.com:%d/" % port, env=self.env)
            self.assertEqual(code, 0, j["error"])
            self.assertTrue(j["phases"]["tls"]["insecure"])
            self.assertFalse(j["phases"]["tls"]["verified"])
            # a name the certificate does not carry is refused too
            code, j = jjson("--cacert", os.path.join(CERTS, "ca.crt"), "--resolve",
                            "wrong.example:%d:127.0.0.1" % port, "https://wrong.example:%d/" % port, env=self.env)
            self.assertEqual(code, 60, j["error"])
            # a CA file that is not PEM: 77, said plainly (the store is loaded once the ClientHello
            # is out, as curl does, so the failure comes in the tls phase)
            junk = os.path.join(self.tmp.name, "junk-ca.crt")
            with open(junk, "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
            code, j = jjson("--cacert", junk, "--resolve", "www.my-app.com:%d:127.0.0.1" % port,
                            "https://www.my-app.com:%d/" % port, env=self.env)
            self.assertEqual(code, 77, j["error"])
            self.assertEqual(j["failed_phase"], "tls")
            self.assertIn("cannot load CA certificates from " + junk, j["error"])
        finally:
            for p in self.procs:
                p.stop()

    def test_closed_port_is_7(self):
        port = free_port()
        code, j = jjson("http://127.0.0.1:%d/" % port, env=self.env)
        self.assertEqual(code, 7)
        self.assertEqual(j["failed_phase"], "tcp")
        self.assertEqual(j["phases"]["tcp"]["attempts"][0]["result"], "refused")
        self.assertEqual(j["phases"]["dns"]["source"], "literal")

    def test_max_time_against_slow_backend_is_28(self):
        port = free_port()
        be = Proc([BACKEND, "--listen", "127.0.0.1:%d" % port, "--name", "slow", "--delay-ms", "3000",
                   "--no-access-log"])
        try:
            wait_port(port)
            t0 = time.time()
            code, j = jjson("--max-time", "0.5", "http://127.0.0.1:%d/my-app/data" % port, env=self.env)
            took = time.time() - t0
            self.assertEqual(code, 28, j["error"])
            self.assertEqual(j["failed_phase"], "http")
            self.assertIn("--max-time", j["error"])
            self.assertLess(took, 2.5)
        finally:
            be.stop()

    def test_silent_dns_server_with_max_time_is_28(self):
        mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives, never answers
        mute.bind(("127.0.0.1", 0))
        try:
            code, j = jjson("--no-cache", "--max-time", "0.5", "--dns-servers", "127.0.0.1:%d" % mute.getsockname()[1],
                            "https://www.my-app.com/", env=self.env)
            self.assertEqual(code, 28, j["error"])
            self.assertEqual(j["failed_phase"], "dns")
            # c-ares alone would wait 2 tries x 2 s; the deadline cuts the phase at 0.5 s
            self.assertLess(j["phases"]["dns"]["duration_us"], 1500000)
        finally:
            mute.close()

    def test_fail_and_usage(self):
        port = free_port()
        be = Proc([BACKEND, "--listen", "127.0.0.1:%d" % port, "--name", "b1", "--no-access-log"])
        try:
            wait_port(port)
            self.assertEqual(journey("-s", "http://127.0.0.1:%d/nope" % port).returncode, 0)
            code, j = jjson("--fail", "http://127.0.0.1:%d/nope" % port)
            self.assertEqual((code, j["http_code"]), (22, 404))
        finally:
            be.stop()
        self.assertEqual(journey().returncode, 2)
        self.assertEqual(journey("-n", "0", "http://x/").returncode, 2)
        self.assertEqual(journey("--resolve", "bad", "http://x/").returncode, 2)
        self.assertEqual(journey("ftp://x/").returncode, 3)
        h = journey("--help")
        self.assertEqual(h.returncode, 0)
        for flag in ("--cacert", "-k", "--dns-servers", "--resolve", "--json", "-n", "-c", "-v", "-s",
                     "--no-cache", "--connect-timeout", "--max-time", "--fail", "--hosts-file", "--no-keepalive",
                     "--interval", "-o", "-I", "-H", "-X", "-4", "-6", "--data", "--data-binary", "--user-agent",
                     "--http1.0", "--include", "--dump-header", "--location", "--max-redirs", "--retry",
                     "--retry-delay", "--write-out", "--proxy", "--noproxy", "--cert", "--key", "--connect-to",
                     "--compressed", "--trace-path", "--html"):
            self.assertIn(flag, h.stdout)
        # every long option of --help is in the man page too
        man = open(os.path.join(HERE, "..", "..", "man", "journey.1")).read().replace("\\-", "-")
        for flag in set(re.findall(r"--[a-z0-9.-]+", h.stdout)):
            self.assertIn(flag, man)


def brotli_compress(data):
    """Real brotli bytes from Debian's libbrotlienc (there is no Python brotli module here)."""
    import ctypes
    enc = ctypes.CDLL("libbrotlienc.so.1")
    out = ctypes.create_string_buffer(len(data) + 1024)
    n = ctypes.c_size_t(len(out))
    ok = enc.BrotliEncoderCompress(11, 22, 0, ctypes.c_size_t(len(data)), data, ctypes.byref(n), out)
    assert ok == 1, "BrotliEncoderCompress failed"
    return out.raw[:n.value]


def framing_server(port, stop):
    """Raw HTTP/1.1 responses with each body framing, gzip and br."""
    body = b"journey " * 1000
    gz = gzip.compress(body)
    br = brotli_compress(body)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    ls.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        req = read_head(c)
        path = req.split(b" ")[1] if req.count(b" ") >= 2 else b"/"
        if path == b"/gzip":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(gz) + gz)
        elif path == b"/chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                      b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        elif path == b"/close":
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
        elif path == b"/br":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(br) + br)
        elif path == b"/zstd":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
                      b"abc")
        elif path == b"/garbage":
            c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        c.close()
    ls.close()


class Http(Base):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.stop = threading.Event()
        cls.th = threading.Thread(target=framing_server, args=(cls.port, cls.stop), daemon=True)
        cls.th.start()
        wait_port(cls.port)
        cls.bport = free_port()
        cls.procs = [Proc([BACKEND, "--listen", "127.0.0.1:%d" % cls.bport, "--name", "b1", "--no-access-log"])]
        wait_port(cls.bport)

    @classmethod
    def tearDownClass(cls):
        cls.stop.set()
        cls.th.join()
        super().tearDownClass()

    def get(self, path, *args):
        return jjson(*args, "http://127.0.0.1:%d%s" % (self.port, path))

    def test_gzip_decoded_to_file(self):
        out = os.path.join(self.tmp.name, "body")
        code, j = self.get("/gzip", "-o", out)
        self.assertEqual(code, 0, j["error"])
        h = j["phases"]["http"]
        self.assertEqual(h["transfer_mode"], "content-length")
        self.assertEqual(h["body_decoded_bytes"], 8000)
        self.assertLess(h["body_bytes"], 200)
        self.assertEqual(open(out, "rb").read(), b"journey " * 1000)

    def test_chunked_close_br_garbage(self):
        code, j = self.get("/chunked")
        self.assertEqual((code, j["phases"]["http"]["transfer_mode"], j["phases"]["http"]["body_bytes"]),
                         (0, "chunked", 11))
        code, j = self.get("/close")
        self.assertEqual((code, j["phases"]["http"]["transfer_mode"], j["phases"]["http"]["body_bytes"]),
                         (0, "close-delimited", 8000))
        code, j = self.get("/zstd")
        self.assertEqual(code, 0)
        self.assertIn("NOT decoded", j["phases"]["http"]["encoding_note"])
        code, j = self.get("/garbage")
        self.assertEqual(code, 8, j["error"])

    def test_br_decoded(self):
        """journey advertises br (as the seed's browser does), so it must decode it."""
        out = os.path.join(self.tmp.name, "body")
        code, j = self.get("/br", "--compressed", "-o", out)
        self.assertEqual(code, 0, j["error"])
        self.assertIn("br", j["phases"]["url"]["request"].split("Accept-Encoding: ")[1].split("\r\n")[0])
        h = j["phases"]["http"]
        self.assertEqual((h["content_encoding"], h["body_decoded_bytes"]), ("br", 8000))
        self.assertIn("br decoded", h["encoding_note"])
        self.assertEqual(open(out, "rb").read(), b"journey " * 1000)

    def test_output_dash_is_stdout(self):
        """-o - writes the body to standard output (not a file named "-"); the report moves to stderr."""
        r = journey("-o", "-", "--no-color", "http://127.0.0.1:%d/gzip" % self.port, env=dict(self.env))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "journey " * 1000)
        self.assertIn("6 HTTP", r.stderr)
        self.assertFalse(os.path.exists("-"))
        r = journey("--json", "-o", "-", "http://127.0.0.1:%d/chunked" % self.port)
        self.assertEqual((r.returncode, r.stdout), (0, "hello world"))
        self.assertEqual(json.loads(r.stderr)["size_download"], 11)

    def test_bare_host_is_http(self):
        """Like curl: no scheme means http (port 80 unless given)."""
        code, j = jjson("127.0.0.1:%d/my-app/data" % self.bport)
        self.assertEqual(code, 0, j["error"])
        self.assertEqual((j["scheme"], j["phases"]["url"]["port"], j["http_code"]), ("HTTP", self.bport, 200))
        self.assertFalse(j["phases"]["tls"]["used"])

    def test_tls_to_plain_port_never_says_verified(self):
        """https:// to a plain-HTTP server fails the handshake (35) and says nothing was verified."""
        url = "https://127.0.0.1:%d/my-app/data" % self.bport
        code, j = jjson("--cacert", os.path.join(CERTS, "ca.crt"), url)
        self.assertEqual((code, j["failed_phase"]), (35, "tls"), j["error"])
        t = j["phases"]["tls"]
        self.assertFalse(t["verified"])
        self.assertTrue(t["verify_result"].startswith("not verified"), t["verify_result"])
        r = journey("--no-color", "--cacert", os.path.join(CERTS, "ca.crt"), url)
        self.assertEqual(r.returncode, 35)
        self.assertNotIn("verify ok", r.stdout.replace("   ", " "))
        self.assertIn("not verified", r.stdout)

    def test_happy_eyeballs_falls_back(self):
        # ::1 first (nothing listens there), then 127.0.0.1: both attempts reported
        code, j = jjson("--resolve", "www.my-app.com:%d:[::1],127.0.0.1" % self.bport,
                        "http://www.my-app.com:%d/my-app/data" % self.bport)
        self.assertEqual(code, 0, j["error"])
        att = j["phases"]["tcp"]["attempts"]
        self.assertEqual([a["result"] for a in att], ["refused", "connected"])
        self.assertEqual(att[1]["address"], "127.0.0.1:%d" % self.bport)
        code, j = jjson("-6", "--resolve", "www.my-app.com:%d:[::1],127.0.0.1" % self.bport,
                        "http://www.my-app.com:%d/my-app/data" % self.bport)
        self.assertEqual(code, 7)

    def test_keepalive_runs_and_head(self):
        code, j = jjson("-n", "50", "-c", "2", "http://127.0.0.1:%d/my-app/data" % self.bport)
        self.assertEqual(code, 0, j["error"])
        validate(j, schema())
        runs = j["runs"]
        self.assertEqual((runs["ok"], runs["failed"]), (50, 0))
        self.assertEqual(runs["reused_connections"], 48)
        self.assertEqual(runs["status_codes"], {"200": 50})
        self.assertLessEqual(runs["phases"]["total"]["p50_us"], runs["phases"]["total"]["p99_us"])
        code, j = jjson("-n", "5", "--no-keepalive", "http://127.0.0.1:%d/my-app/data" % self.bport)
        self.assertEqual((code, j["runs"]["reused_connections"]), (0, 0))
        code, j = jjson("-I", "http://127.0.0.1:%d/my-app/data" % self.bport)
        self.assertEqual((code, j["phases"]["url"]["method"], j["phases"]["http"]["transfer_mode"]),
                         (0, "HEAD", "none"))


class Lb(Base):
    """journey -> dnsmasq -> journey-lb (TLS) -> three journey-backends."""
    @classmethod
    def setUpClass(cls):
        if LB == "NONE":
            raise unittest.SkipTest("journey-lb is not built")
        cls.dport, release = dns_port()
        ports = [free_port() for _ in range(3)]
        cls.lport = free_port()
        release()
        cls.procs = [dnsmasq(cls.dport)]
        wait_dns(cls.dport, cls.procs[0])
        for i, p in enumerate(ports):
            cls.procs.append(Proc([BACKEND, "--listen", "127.0.0.1:%d" % p, "--name", "b%d" % (i + 1),
                                   "--no-access-log"]))
            wait_port(p)
        argv = [LB, "--listen", "https://127.0.0.1:%d" % cls.lport, "--cert", os.path.join(CERTS, "server.crt"),
                "--key", os.path.join(CERTS, "server.key")]
        for i, p in enumerate(ports):
            argv += ["--backend", "b%d=127.0.0.1:%d" % (i + 1, p)]
        cls.procs.append(Proc(argv))
        wait_port(cls.lport)
        time.sleep(0.5)  # first health checks

    def args(self):
        return ["--cacert", os.path.join(CERTS, "ca.crt"), "--dns-servers", "127.0.0.1:%d" % self.dport,
                "https://www.my-app.com:%d/my-app/data" % self.lport]

    def test_lb_section(self):
        code, j = jjson(*self.args(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        validate(j, schema())
        lb = j["phases"]["lb"]
        self.assertTrue(lb["present"])
        self.assertIn(lb["served_by"], ("b1", "b2", "b3"))
        self.assertEqual(j["served_by"], lb["served_by"])
        self.assertTrue(j["request_id"])
        self.assertTrue(any(t["duration_us"] is not None for t in lb["server_timing"]))
        self.assertTrue(j["phases"]["tls"]["verified"])

    def test_json_names_match_curl(self):
        """curl -w '%{json}' and journey --json on the same request: the same names, the same
        values where both know them (sizes of the LB's varying header values excepted)."""
        url = "https://www.my-app.com:%d/my-app/data" % self.lport
        common = ["--cacert", os.path.join(CERTS, "ca.crt"), "--resolve", "www.my-app.com:%d:127.0.0.1" % self.lport]
        # both held to HTTP/1.1 (journey-lb offers h2 too): the same protocol on both sides
        code, c = curl_json("--http1.1", *common, url)
        self.assertEqual(code, 0, c)
        code, j = jjson("--no-cache", "--http1.1", *common, url, env=self.env)
        self.assertEqual(code, 0, j["error"])
        validate(j, schema())
        same = ("http_code", "response_code", "exitcode", "errormsg", "remote_ip", "remote_port", "local_ip",
                "size_download", "size_upload", "http_version", "num_connects", "num_redirects", "url_effective",
                "scheme", "content_type", "method", "num_headers", "num_certs", "ssl_verify_result")
        for k in same + CURL_TIMES + ("local_port", "size_header", "size_request", "speed_download", "time_redirect"):
            self.assertIn(k, j, k)
            self.assertIn(k, c, k)
        self.assertEqual({k: j[k] for k in same}, {k: c[k] for k in same})
        # Server-Timing durations and the request id vary in length from one response to the next
        self.assertLess(abs(j["size_header"] - c["size_header"]), 12)
        self.assertEqual(j["size_request"], len(j["phases"]["url"]["request"]))

    def test_html_page_in_chromium(self):
        """--html writes one self-contained page; headless Chromium renders it (DOM checked, the
        screenshot kept next to the test's logs)."""
        page = os.path.join(TMP, "journey.html")
        shot = os.path.join(TMP, "journey-html.png")
        code, j = jjson("--trace-path", "--html", page, *self.args(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        text = open(page).read()
        self.assertNotRegex(text, r'(src|href)=|@import|url\(')  # no external assets
        chrome = [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                  "--user-data-dir=" + os.path.join(TMP, "chrome")]
        code, dom, err = run_chromium(chrome + ["--dump-dom", "file://" + page], 90)
        self.assertEqual(code, 0, "chromium was killed after 90 s" if code is None else err[-500:])
        self.assertIn('id="waterfall"', dom, err[-500:])
        self.assertEqual(len(re.findall(r'class="wf"', dom)), 7)
        self.assertRegex(dom, r'id="status" class="ok">200')
        self.assertIn(j["served_by"], re.search(r'id="lb">(.*?)</table>', dom, re.S).group(1))
        self.assertIn("no hop", dom)
        code, _, err = run_chromium(chrome + ["--screenshot=" + shot, "--window-size=1100,1500", "file://" + page], 90)
        self.assertEqual(code, 0, "chromium was killed after 90 s" if code is None else err[-500:])
        self.assertGreater(os.path.getsize(shot), 10000)
        print("screenshot: %s" % shot)

    def test_spread_over_three_backends(self):
        code, j = jjson("-n", "100", "-c", "4", *self.args(), env=self.env)
        self.assertEqual(code, 0, j["error"])
        b = j["runs"]["backends"]
        self.assertEqual(sorted(b), ["b1", "b2", "b3"])
        # Round-robin over three equal servers (one schedule per pool, shared by the workers):
        # 100 requests are 34 + 33 + 33, whichever connection or worker carried them.
        self.assertEqual(sorted(b.values()), [33, 33, 34], b)


CURL_TIMES = ("time_namelookup", "time_connect", "time_appconnect", "time_pretransfer", "time_starttransfer",
              "time_total")


def lb_with_backends(cls, n):
    """journey-lb (TLS, the development certificate) in front of n journey-backends, on loopback."""
    ports = [free_port() for _ in range(n)]
    cls.lport = free_port()
    for i, p in enumerate(ports):
        cls.procs.append(Proc([BACKEND, "--listen", "127.0.0.1:%d" % p, "--name", "b%d" % (i + 1),
                               "--no-access-log"]))
        wait_port(p)
    argv = [LB, "--listen", "https://127.0.0.1:%d" % cls.lport, "--cert", os.path.join(CERTS, "server.crt"),
            "--key", os.path.join(CERTS, "server.key"), "--access-log", "off"]
    for i, p in enumerate(ports):
        argv += ["--backend", "b%d=127.0.0.1:%d" % (i + 1, p)]
    cls.procs.append(Proc(argv))
    wait_port(cls.lport)


def curl_json(*args):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{json}"] + list(args), capture_output=True,
                       text=True, timeout=30)
    return r.returncode, json.loads(r.stdout)


class CurlTimes(Base):
    """journey and curl on the same requests through journey-lb, interleaved: the time_* medians
    agree (within 0.3 ms or 15 %). Both stamp the same events (docs/client-json.md), so what is left
    is each program's own CPU work between two stamps (curl: building its request after the
    handshake, its larger ClientHello; journey: less of both), a few tens of microseconds on a quiet
    machine. Under load the scheduler stretches that work and preempts either program at random,
    so the comparison is inherently load-sensitive: it is registered only with
    -DJOURNEY_TIMING_TESTS=ON, in a build without sanitizers (ASan makes OpenSSL's many small
    allocations, SSL_CTX_new and the CA store, several times slower in journey and not in curl).
    To ride out a burst of load it measures in rounds of 20 pairs (after one warm-up pair) and
    judges the medians of all pairs so far after each round, at most three rounds: a real
    difference persists over 60 pairs, a burst does not."""
    ROUNDS, PAIRS = 3, 20

    @classmethod
    def setUpClass(cls):
        if LB == "NONE":
            raise unittest.SkipTest("journey-lb is not built")
        cls.procs = []
        lb_with_backends(cls, 1)
        time.sleep(0.3)

    def test_medians_match_curl(self):
        url = "https://www.my-app.com:%d/my-app/data" % self.lport
        common = ["--cacert", os.path.join(CERTS, "ca.crt"), "--resolve", "www.my-app.com:%d:127.0.0.1" % self.lport]
        jt, ct = {k: [] for k in CURL_TIMES}, {k: [] for k in CURL_TIMES}

        def pair(keep=True):  # journey then curl, on the same URL
            code, j = jjson("--no-cache", *common, url, env=self.env)
            self.assertEqual(code, 0, j["error"])
            code, c = curl_json(*common, url)
            self.assertEqual(code, 0, c)
            for k in CURL_TIMES if keep else ():
                jt[k].append(j[k])
                ct[k].append(c[k])

        pair(keep=False)  # warm-up: both programs' files in the page cache, the LB's first handshake
        for rnd in range(1, self.ROUNDS + 1):
            for _ in range(self.PAIRS):
                pair()
            bad = []
            print("\nload average %.2f on %d cores" % (os.getloadavg()[0], os.cpu_count() or 1))
            print("round %d (%d pairs) %-8s %12s %12s %8s" % (rnd, len(jt["time_total"]), "median", "journey ms",
                                                                 "curl ms", "ratio"))
            for k in CURL_TIMES:
                jm, cm = statistics.median(jt[k]), statistics.median(ct[k])
                ok = abs(jm - cm) <= max(0.0003, 0.15 * cm)
                print("%-28s %12.3f %12.3f %8.2f %s" % (k, jm * 1e3, cm * 1e3, jm / cm if cm else 0,
                                                         "ok" if ok else "DIFFERS"))
                if not ok:
                    bad.append(k)
            if not bad:
                break
        self.assertEqual(bad, [], "time_* medians differ from curl's by more than 0.3 ms and 15 %% over %d pairs"
                         % len(jt["time_total"]))


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(globals()[GROUP])
    ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    # The servers (journey-lb, journey-backend, dnsmasq, s_server) have exited by now (each
    # class stops its own); an ASan/LSan/UBSan report in their stderr fails the group.
    stop_all()
    for report in sanitizer_reports():
        ok = False
        print("--- sanitizer report of %s" % report)
    sys.exit(0 if ok else 1)
