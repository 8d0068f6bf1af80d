#!/usr/bin/env python3
"""journey's curl-compatible flags against real processes on loopback: journey-backend (its
--record file shows the bytes that arrived), a raw-socket redirecting server, a CONNECT proxy and
openssl s_server asking for a client certificate. Every server is started here and stopped by its
PID (or its thread).

usage: test_client_flags.py JOURNEY CERTS_DIR BACKEND
"""
import json, os, socket, subprocess, sys, tempfile, threading, time, unittest

JOURNEY, CERTS, BACKEND = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from loopback import free_port, read, start, stop, wait_port, wait_until  # noqa: E402


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
        got = self.recorded_after(m)
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
        # -i without -o: the report shows the response headers
        r = journey("-i", "--no-color", self.url())
        self.assertIn(b"< Content-Type: application/json", r.stdout)


if __name__ == "__main__":
    ok = unittest.main(argv=[sys.argv[0]] + sys.argv[4:], exit=False).result.wasSuccessful()
    sys.exit(0 if ok else 1)
