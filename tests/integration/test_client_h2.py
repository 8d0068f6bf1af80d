#!/usr/bin/env python3
"""journey over HTTP/2 against real servers on loopback: nghttpd (nghttp2's HTTP/2 server) with the
development certificate, over TLS (ALPN h2) and in cleartext (prior knowledge); openssl s_server
(no ALPN) and journey-lb in front of journey-backend for the HTTP/1.1 side; a CONNECT proxy built
here for -x. Every server is started here and stopped by its PID.

usage: test_client_h2.py JOURNEY CERTS_DIR BACKEND LB_OR_NONE
"""
import json, os, re, socket, subprocess, sys, threading, unittest

JOURNEY, CERTS, BACKEND, LB = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import (TMP, cert_paths, free_port, read, read_head, relay, sanitizer_reports, start, start_lb, stop,  # noqa: E402
                      stop_all, wait_port, wait_until)

_argv, sys.argv = sys.argv, sys.argv[:5] + ["Http"]
from test_client import schema, validate  # noqa: E402  (docs/client-json.md's schema; it reads sys.argv)
sys.argv = _argv
CRT, KEY, CA = cert_paths(CERTS)
HOST = "www.my-app.com"
WWW = os.path.join(TMP, "www")


def journey(*args, port, timeout=60):
    cmd = [JOURNEY, "--no-color", "--cacert", CA, "--resolve", "%s:%d:127.0.0.1" % (HOST, port)] + list(args)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    err = r.stderr.decode(errors="replace")
    if re.search(r"ERROR: AddressSanitizer|LeakSanitizer|runtime error:", err):
        raise AssertionError("journey %s: %s" % (" ".join(args), err[-3000:]))
    return r


def nghttpd(*extra):
    """nghttpd on a free loopback port serving WWW; -v logs every frame with the connection's id."""
    port = free_port()
    tls = [] if "--no-tls" in extra else [KEY, CRT]
    p = start(["nghttpd", "-v", "-a", "127.0.0.1", "-d", WWW] + list(extra) + [str(port)] + tls,
              "nghttpd-%d" % port)
    wait_port(port, p, "nghttpd")
    p.port = port
    return p


def requests_per_connection(p, total):
    """From nghttpd's -v log: {connection id: requests (HEADERS frames received)}, once total
    requests are logged (the log may trail the client's exit)."""
    seen = {}

    def count():
        seen.clear()
        for cid in re.findall(r"\[id=(\d+)\] \[[ .0-9]+\] recv HEADERS frame", read(p.outpath)):
            seen[cid] = seen.get(cid, 0) + 1
        return sum(seen.values()) >= total
    wait_until(count, 10)
    return sorted(seen.values())


def setUpModule():
    os.makedirs(os.path.join(WWW, "sub"), exist_ok=True)
    with open(os.path.join(WWW, "index.html"), "w") as f:
        f.write("hello over h2\n")
    with open(os.path.join(WWW, "sub", "index.html"), "w") as f:
        f.write("the sub page\n")
    with open(os.path.join(WWW, "big.bin"), "wb") as f:
        f.write(os.urandom(400000))


class H2(unittest.TestCase):
    """journey -> nghttpd over TLS: ALPN h2 by default."""

    def setUp(self):
        self.srv = nghttpd()
        self.url = "https://%s:%d" % (HOST, self.srv.port)

    def tearDown(self):
        stop(self.srv, timeout=5, must=False)

    def run_json(self, *args):
        r = journey("--json", *args, port=self.srv.port)
        self.assertEqual(r.returncode, 0, r.stderr.decode() + r.stdout.decode()[:2000])
        return json.loads(r.stdout)

    def test_json_http_version_2_with_settings_and_frames(self):
        j = self.run_json(self.url + "/")
        validate(j, schema())
        http = j["phases"]["http"]
        self.assertEqual(j["http_version"], "2")  # curl's %{json} name
        self.assertEqual(http["version"], "2")
        self.assertEqual(http["status"], 200)
        self.assertEqual(j["phases"]["tls"]["alpn"], "h2")
        h2 = http["h2"]
        self.assertEqual((h2["negotiated"], h2["stream_id"]), ("alpn", 1))
        self.assertIn("max_concurrent_streams", h2["settings"])  # nghttpd announces 100
        self.assertEqual(h2["settings"]["max_concurrent_streams"], 100)
        kinds = [(f["direction"], f["type"], f["stream"]) for f in h2["frames"]]
        self.assertIn(("sent", "SETTINGS", 0), kinds)
        self.assertIn(("received", "SETTINGS", 0), kinds)
        self.assertIn(("sent", "HEADERS", 1), kinds)
        self.assertIn(("received", "HEADERS", 1), kinds)
        last = [f for f in h2["frames"] if f["stream"] == 1][-1]
        self.assertEqual((last["type"], last["length"], last["flags"]), ("DATA", 14, ["END_STREAM"]))
        times = [f["t_us"] for f in h2["frames"]]
        self.assertEqual(times, sorted(times))
        hp = h2["hpack"]
        self.assertTrue(0 < hp["request_bytes"] < hp["request_raw_bytes"], hp)
        self.assertTrue(0 < hp["response_bytes"] < hp["response_raw_bytes"], hp)
        self.assertEqual(http["body_bytes"], 14)

    def test_human_report_and_write_out(self):
        r = journey(self.url + "/", port=self.srv.port)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("200  HTTP/2  body 14 bytes", out)
        self.assertIn("ALPN h2, stream 1, HPACK headers: request", out)
        self.assertRegex(out, r"SETTINGS max_concurrent_streams=100")
        self.assertRegex(out, r"> HEADERS\s+stream 1 .*END_STREAM END_HEADERS")
        self.assertRegex(out, r"< DATA\s+stream 1  14 B  END_STREAM")
        self.assertIn("(sent over HTTP/2 as header fields", out)
        out = journey("-v", self.url + "/", port=self.srv.port).stdout.decode()
        self.assertIn("> :method: GET\n           > :scheme: https\n           > :authority: %s:%d\n"
                      "           > :path: /\n" % (HOST, self.srv.port), out)
        self.assertNotIn("> Host:", out)
        self.assertIn("< content-length: 14\n", out)
        page = os.path.join(TMP, "h2.html")
        r = journey("-s", "--html", page, "-w", "%{http_version} %{http_code}", self.url + "/", port=self.srv.port)
        self.assertEqual(r.stdout.decode(), "2 200")
        html = read(page)
        self.assertIn('<pre id="h2">h2       ALPN h2, stream 1', html)
        self.assertRegex(html, r"&lt; DATA\s+stream 1  14 B  END_STREAM")

    def test_include_dump_header_output(self):
        dump = os.path.join(TMP, "h2.head")
        r = journey("-s", "-i", "-D", dump, "-o", "-", self.url + "/", port=self.srv.port)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = r.stdout.decode()
        self.assertTrue(out.startswith("HTTP/2 200 \r\n"), out)  # as curl -i writes it
        self.assertIn("\r\ncontent-length: 14\r\n", out)
        self.assertTrue(out.endswith("\r\n\r\nhello over h2\n"), out)
        with open(dump, "rb") as f:
            self.assertTrue(f.read().startswith(b"HTTP/2 200 \r\n"))
        # a body larger than the windows: WINDOW_UPDATE frames, the bytes intact
        big = os.path.join(TMP, "big.out")
        j = self.run_json("-o", big, self.url + "/big.bin")
        with open(big, "rb") as a, open(os.path.join(WWW, "big.bin"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        frames = j["phases"]["http"]["h2"]["frames"]
        self.assertIn(("sent", "WINDOW_UPDATE"), [(f["direction"], f["type"]) for f in frames])
        data = [f for f in frames if f["type"] == "DATA"]
        self.assertEqual(sum(f["length"] for f in data), 400000)
        self.assertEqual(sum(f["count"] for f in data) <= j["phases"]["http"]["h2"]["frames_total"], True)

    def test_location_follows_over_h2(self):
        j = self.run_json("-L", self.url + "/sub")  # nghttpd answers 301 to /sub/
        self.assertEqual(j["http_code"], 200)
        self.assertEqual(j["num_redirects"], 1)
        self.assertEqual(j["phases"]["http"]["version"], "2")

    def test_connect_to(self):
        j = self.run_json("--connect-to", "%s:443:127.0.0.1:%d" % (HOST, self.srv.port), "https://%s/" % HOST)
        self.assertEqual((j["http_version"], j["http_code"], j["remote_port"]), ("2", 200, self.srv.port))
        self.assertEqual(j["phases"]["tls"]["sni"], HOST)

    def test_streams_share_one_connection(self):
        j = self.run_json("-n", "40", "-c", "8", self.url + "/")
        validate(j, schema())
        runs = j["runs"]
        self.assertEqual((runs["ok"], runs["failed"]), (40, 0))
        self.assertEqual(runs["h2_streams"], 40)
        self.assertEqual(runs["h2_connections"], 1)
        self.assertEqual(runs["h2_streams_at_once"], 8)
        self.assertEqual(requests_per_connection(self.srv, 40), [40])  # the server's side: one connection
        r = journey("-n", "40", "-c", "8", self.url + "/", port=self.srv.port)
        self.assertIn("HTTP/2: 40 streams over 1 connection (40.0 per connection, up to 8 at once on each)",
                      r.stdout.decode())

    def test_connections_spread_streams(self):
        j = self.run_json("-n", "40", "-c", "8", "--connections", "2", self.url + "/")
        self.assertEqual(j["runs"]["ok"], 40)
        self.assertEqual(j["runs"]["h2_connections"], 2)
        self.assertEqual(j["runs"]["h2_streams_at_once"], 4)
        per = requests_per_connection(self.srv, 40)  # whichever connection frees a stream first takes the next
        self.assertEqual((len(per), sum(per)), (2, 40), per)
        self.assertGreaterEqual(min(per), 4, per)  # each started with its 4 streams

    def test_http2_flag_and_post(self):
        j = self.run_json("--http2", "-d", "a=1", self.url + "/")
        self.assertEqual(j["phases"]["http"]["version"], "2")
        sent = [f for f in j["phases"]["http"]["h2"]["frames"] if f["direction"] == "sent" and f["stream"] == 1]
        self.assertEqual([(f["type"], f["length"]) for f in sent if f["type"] == "DATA"], [("DATA", 3)])

    def test_proxy_tunnel_then_alpn(self):
        seen, ls = [], socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        th = threading.Thread(target=tunnel_once, args=(ls, seen), daemon=True)
        th.start()
        j = self.run_json("-x", "127.0.0.1:%d" % ls.getsockname()[1], self.url + "/")
        th.join(10)
        self.assertEqual(seen, ["CONNECT %s:%d HTTP/1.1" % (HOST, self.srv.port)])
        self.assertEqual(j["phases"]["tls"]["alpn"], "h2")
        self.assertEqual(j["phases"]["http"]["version"], "2")


def tunnel_once(ls, seen):
    """A CONNECT proxy for one connection, to loopback only."""
    ls.settimeout(20)
    c, _ = ls.accept()
    head = read_head(c)
    line = head.split(b"\r\n")[0].decode()
    seen.append(line)
    up = socket.create_connection(("127.0.0.1", int(line.split(" ")[1].rsplit(":", 1)[1])))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

    t = threading.Thread(target=relay, args=(up, c), daemon=True)
    t.start()
    relay(c, up)
    t.join(5)
    c.close()
    up.close()
    ls.close()


class Cleartext(unittest.TestCase):
    """--http2 on http://: HTTP/2 with prior knowledge; without it, http stays HTTP/1.1."""

    def test_prior_knowledge(self):
        srv = nghttpd("--no-tls")
        try:
            r = journey("--json", "--http2", "http://%s:%d/" % (HOST, srv.port), port=srv.port)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            j = json.loads(r.stdout)
            self.assertEqual(j["phases"]["http"]["version"], "2")
            validate(j, schema())
            self.assertEqual(j["phases"]["http"]["h2"]["stream_id"], 1)
            self.assertEqual(j["phases"]["http"]["h2"]["negotiated"], "prior-knowledge")
            self.assertEqual(j["phases"]["tls"]["used"], False)
            self.assertEqual(j["size_download"], 14)
        finally:
            stop(srv, timeout=5, must=False)


class Http11(unittest.TestCase):
    """The HTTP/1.1 side: --http1.1 gives the report as before; --http2 refuses a server
    without h2 with a clear error."""

    def test_http2_flag_against_http1_server(self):
        port = free_port()
        p = start(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", CRT, "-key", KEY, "-www",
                   "-quiet"], "s_server")
        wait_port(port, p, "openssl s_server")
        try:
            r = journey("--http2", "https://%s:%d/" % (HOST, port), port=port)
            self.assertEqual(r.returncode, 16, r.stdout.decode())
            self.assertIn("the server did not agree to HTTP/2 (ALPN none): leave out --http2",
                          r.stdout.decode() + r.stderr.decode())
        finally:
            stop(p, timeout=5, must=False)

    def test_http11_through_lb_unchanged(self):
        if LB == "NONE":
            self.skipTest("journey-lb is not built")
        bport = free_port()
        be = start([BACKEND, "--listen", "127.0.0.1:%d" % bport, "--name", "b1"], "backend")
        wait_port(bport, be, "journey-backend")
        lb = start_lb(LB, CERTS, [("b1", bport)])
        try:
            url = "https://%s:%d/my-app/data" % (HOST, lb.https)
            r = journey("--http1.1", "-i", url, port=lb.https)
            out = r.stdout.decode()
            self.assertEqual(r.returncode, 0, out + r.stderr.decode())
            self.assertIn("ALPN http/1.1", out)
            self.assertRegex(out, r"6 HTTP .* 200 OK HTTP/1\.1  body \d+ bytes \(content-length\)")
            self.assertNotIn("h2       ALPN", out)
            self.assertNotIn("SETTINGS", out)
            self.assertIn("served by b1", out)
            j = json.loads(journey("--http1.1", "--json", url, port=lb.https).stdout)
            validate(j, schema())
            self.assertEqual((j["http_version"], j["phases"]["http"]["h2"]), ("1.1", None))
            r = journey("--http1.1", "-s", "-D", "-", "-o", "/dev/null", url, port=lb.https)
            self.assertTrue(r.stdout.decode().startswith("HTTP/1.1 200 OK\r\n"), r.stdout.decode())
        finally:
            stop(lb, timeout=5, must=False)
            stop(be, timeout=5, must=False)


class ThroughLb(unittest.TestCase):
    """journey -> journey-lb -> journey-backend with ALPN left to the LB: HTTP/2 once journey-lb
    offers h2 (skipped, saying so, while it offers http/1.1 only)."""

    def test_h2_through_lb(self):
        if LB == "NONE":
            self.skipTest("journey-lb is not built")
        bport = free_port()
        be = start([BACKEND, "--listen", "127.0.0.1:%d" % bport, "--name", "b1"], "backend-h2")
        wait_port(bport, be, "journey-backend")
        lb = start_lb(LB, CERTS, [("b1", bport)], name="lb-h2")
        try:
            url = "https://%s:%d/my-app/data" % (HOST, lb.https)
            r = journey("--json", url, port=lb.https)
            self.assertEqual(r.returncode, 0, r.stdout.decode()[:2000])
            j = json.loads(r.stdout)
            validate(j, schema())
            if j["phases"]["tls"]["alpn"] != "h2":
                # HTTP/1.1 chosen by the server: -c's other connections open after all
                self.assertEqual((j["phases"]["tls"]["alpn"], j["http_version"]), ("http/1.1", "1.1"))
                j = json.loads(journey("--json", "-n", "12", "-c", "3", url, port=lb.https).stdout)
                runs = j["runs"]
                self.assertEqual((runs["ok"], runs["reused_connections"], runs["h2_streams"]), (12, 9, 0))
                self.skipTest("journey-lb answered ALPN http/1.1: it does not offer h2 yet")
            self.assertEqual((j["http_version"], j["http_code"], j["served_by"]), ("2", 200, "b1"))
            self.assertTrue(j["phases"]["http"]["h2"]["settings"], j["phases"]["http"]["h2"])
            self.assertTrue(j["phases"]["lb"]["present"])  # Server-Timing on the stream's response
            j = json.loads(journey("--json", "-n", "30", "-c", "5", url, port=lb.https).stdout)
            self.assertEqual((j["runs"]["ok"], j["runs"]["h2_connections"], j["runs"]["h2_streams"]), (30, 1, 30))
        finally:
            stop(lb, timeout=5, must=False)
            stop(be, timeout=5, must=False)


def odd_server(ls, stop_ev):
    """Cleartext HTTP/2 (python3-h2) with answers journey must report: / 200 "ok", /reset
    RST_STREAM REFUSED_STREAM, /slow never answers, /goaway GOAWAY between the head and the body."""
    import h2.config, h2.connection, h2.events  # Debian's python3-h2

    def serve(c):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        with c:
            while not stop_ev.is_set():
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if not isinstance(ev, h2.events.RequestReceived):
                        continue
                    sid, path = ev.stream_id, dict(ev.headers)[b":path"]
                    if path == b"/reset":
                        conn.reset_stream(sid, error_code=7)
                    elif path == b"/goaway":
                        conn.send_headers(sid, [(":status", "200"), ("content-length", "2")])
                        goaway = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + sid.to_bytes(4, "big") + bytes(4)
                        c.sendall(conn.data_to_send() + goaway)  # by hand: h2 sends no DATA after its own
                        conn.send_data(sid, b"ok", end_stream=True)
                    elif path != b"/slow":
                        conn.send_headers(sid, [(":status", "200"), ("content-length", "2")])
                        conn.send_data(sid, b"ok", end_stream=True)
                c.sendall(conn.data_to_send())

    ls.settimeout(0.2)
    while not stop_ev.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    ls.close()


class Odd(unittest.TestCase):
    """RST_STREAM, GOAWAY and a server that never answers, reported as such."""

    @classmethod
    def setUpClass(cls):
        cls.stop_ev, ls = threading.Event(), socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        cls.port = ls.getsockname()[1]
        cls.th = threading.Thread(target=odd_server, args=(ls, cls.stop_ev), daemon=True)
        cls.th.start()

    @classmethod
    def tearDownClass(cls):
        cls.stop_ev.set()
        cls.th.join(5)

    def run_json(self, path, *args):
        r = journey("--json", "--http2", *args, "http://%s:%d%s" % (HOST, self.port, path), port=self.port)
        return r.returncode, json.loads(r.stdout)

    def test_reset_stream(self):
        code, j = self.run_json("/reset")
        self.assertEqual(code, 92)  # curl's CURLE_HTTP2_STREAM
        self.assertIn("the server reset stream 1 with REFUSED_STREAM", j["errormsg"])
        rst = [f for f in j["phases"]["http"]["h2"]["frames"] if f["type"] == "RST_STREAM"]
        self.assertEqual([(f["direction"], f["stream"], f["error"]) for f in rst], [("received", 1, "REFUSED_STREAM")])

    def test_goaway_then_a_new_connection(self):
        code, j = self.run_json("/goaway", "-n", "3")
        self.assertEqual(code, 0, j["errormsg"])
        goaway = [f for f in j["phases"]["http"]["h2"]["frames"] if f["type"] == "GOAWAY"]
        self.assertEqual([(f["direction"], f["error"]) for f in goaway], [("received", "NO_ERROR")])
        self.assertEqual((j["runs"]["ok"], j["runs"]["h2_connections"]), (3, 3))

    def test_max_time_cancels_the_stream(self):
        code, j = self.run_json("/slow", "-m", "1")
        self.assertEqual(code, 28)
        self.assertIn("timed out after 1.000 s during the http phase (--max-time)", j["errormsg"])
        rst = [f for f in j["phases"]["http"]["h2"]["frames"] if f["type"] == "RST_STREAM"]
        self.assertEqual([(f["direction"], f["error"]) for f in rst], [("sent", "CANCEL")])
        code, j = self.run_json("/", "-n", "6", "-c", "3")  # the server still serves others
        self.assertEqual((code, j["runs"]["ok"]), (0, 6))


def tearDownModule():
    stop_all()


if __name__ == "__main__":
    argv = [sys.argv[0]] + sys.argv[5:]
    prog = unittest.main(argv=argv, exit=False, verbosity=2)
    reports = sanitizer_reports()
    if reports:
        print(reports)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
