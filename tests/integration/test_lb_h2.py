#!/usr/bin/env python3
"""HTTP/2 through journey-lb: curl, nghttp and h2load as clients, journey-backend behind, and a
table of RFC 9113 rules sent as raw frames (Debian's python3-h2 HPACK encoder, so run with
/usr/bin/python3), each with the error code the LB must answer and nothing reaching a backend.

usage: test_lb_h2.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import argparse, json, os, re, socket, ssl, struct, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP as tmpdir, cert_paths, check, free_ports, read, run_case, start,  # noqa: E402
                      wait_port, wait_until)
import loopback  # noqa: E402

A = None
HOST = "www.my-app.com"


def start_backends(n=3, record=False):
    bs = []
    for i, port in enumerate(free_ports(n), 1):
        cmd = [A.backend, "--listen", f"127.0.0.1:{port}", "--name", f"b{i}"]
        if record:
            cmd += ["--record", os.path.join(tmpdir, f"b{i}.rec")]
        p = start(cmd, f"b{i}")
        wait_port(port, p, f"backend b{i}")
        p.port = port
        bs.append(p)
    return bs


def start_lb(backends, *flags):
    return loopback.start_lb(A.lb, A.certs, [(b.name, b.port) for b in backends], "--workers", "2",
                             *flags)


def curl(lb, *args, url_path="/my-app/data", tls=True, timeout=30):
    port = lb.https if tls else lb.plain
    scheme = "https" if tls else "http"
    cmd = ["curl", "-sS", "--max-time", str(timeout), "--cacert", cert_paths(A.certs)[2],
           "--resolve", f"{HOST}:{port}:127.0.0.1", *args, f"{scheme}://{HOST}:{port}{url_path}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10)


def recorded(bs):
    """Requests the backends have read (their --record files)."""
    return sum(len(re.findall(r"(?m)^[A-Z]+ /\S* HTTP/1\.1$", read(os.path.join(tmpdir, f"{b.name}.rec"))))
               for b in bs)


# ---------------------------------------------------------------- clients

def case_curl():
    bs = start_backends()
    lb = start_lb(bs)
    r = curl(lb, "--http2", "-w", "\n%{http_version}", "-D", "-")
    check(r.returncode == 0, f"curl --http2 failed: {r.stderr}")
    head, _, rest = r.stdout.partition("\n\n")  # text mode: CRLF read as LF
    body, _, version = rest.rpartition("\n")
    print("curl --http2:", head.splitlines()[0], "http_version", version)
    check(version == "2", f"curl --http2 must negotiate h2 through ALPN, got {version!r}")
    check(json.loads(body)["backend"] in ("b1", "b2", "b3"), f"the backend's body: {body!r}")
    check(re.search(r"(?m)^server-timing: .*total;dur=", head), f"Server-Timing on the stream: {head}")
    check(not re.search(r"(?mi)^(connection|keep-alive|transfer-encoding):", head),
          f"no connection-specific field in an h2 response: {head}")
    check(json.loads(body)["http_version"] == "1.1", "the backend is spoken to in HTTP/1.1")
    # cookies split over several fields reach the backend joined (RFC 9113 section 8.2.3)
    r = curl(lb, "--http2", "-H", "cookie: a=1", "-H", "cookie: b=2", "-o", "/dev/null",
             "-w", "%{http_version} %{http_code}")
    check(r.stdout == "2 200", f"cookies: {r.stdout} {r.stderr}")
    r = curl(lb, "--http1.1", "-o", "/dev/null", "-w", "%{http_version}")
    check(r.stdout == "1.1", f"curl --http1.1 still gets HTTP/1.1: {r.stdout!r}")
    # a 1 MB body goes through flow control to the backend (405: the path takes GET only)
    big = os.path.join(tmpdir, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(1000000))
    r = curl(lb, "--http2", "--data-binary", f"@{big}", "-o", "/dev/null", "-w", "%{http_version} %{http_code}")
    check(r.stdout == "2 405", f"1 MB POST over h2: {r.stdout} {r.stderr}")
    check(wait_until(lambda: re.search(r"proto=h2 stream=\d+ method=POST .*status=405 bytes_in=100\d{4} ",
                                       read(lb.outpath)), 10),
          f"access log with proto=h2, stream= and the whole body forwarded: {read(lb.outpath)[-800:]}")
    lb2 = start_lb(bs, "--alpn", "http/1.1")
    r = curl(lb2, "--http2", "-o", "/dev/null", "-w", "%{http_version}")
    check(r.stdout == "1.1", f"alpn = http/1.1 offers HTTP/1.1 only: {r.stdout!r}")


def case_nghttp():
    bs = start_backends()
    lb = start_lb(bs)
    r = subprocess.run(["nghttp", "-nv", f"https://127.0.0.1:{lb.https}/my-app/data"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout
    check(r.returncode == 0, f"nghttp failed: {out[-500:]} {r.stderr}")
    for want in [r"recv SETTINGS frame", r"SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100",
                 r"recv HEADERS frame", r"recv \(stream_id=\d+\) :status: 200",
                 r"recv DATA frame <length=0, flags=0x01"]:
        check(re.search(want, out), f"nghttp -nv should show {want}: {out[-1500:]}")
    print("nghttp -nv: SETTINGS, HEADERS, DATA with END_STREAM")


def h2load(url, n, c, m, timeout=600):
    r = subprocess.run(["h2load", "-n", str(n), "-c", str(c), "-m", str(m), url],
                       capture_output=True, text=True, timeout=timeout)
    return r.stdout


def case_h2load():
    bs = start_backends()
    lb = start_lb(bs, "--access-log", "off")
    out = h2load(f"https://127.0.0.1:{lb.https}/my-app/data", 20000, 16, 10)
    line = [x for x in out.splitlines() if x.startswith("status codes")]
    print(line, [x for x in out.splitlines() if x.startswith("finished")])
    check(re.search(r"requests: 20000 total, 20000 started, 20000 done, 20000 succeeded", out),
          f"h2load: every request must succeed: {out[-800:]}")
    check(re.search(r"status codes: 20000 2xx", out), f"h2load: all 2xx: {out[-800:]}")


def case_h2c():
    bs = start_backends(1)
    lb = start_lb(bs, "--h2c", "on")
    r = curl(lb, "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
             tls=False)
    check(r.stdout == "2 200", f"h2c with prior knowledge: {r.stdout} {r.stderr}")
    r = curl(lb, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", tls=False)
    check(r.stdout == "1.1 200", f"HTTP/1.1 on the same plain listener: {r.stdout} {r.stderr}")
    out = h2load(f"http://127.0.0.1:{lb.plain}/my-app/data", 2000, 4, 10)
    check(re.search(r"status codes: 2000 2xx", out), f"h2load over h2c: {out[-600:]}")
    lb2 = start_lb(bs)
    r = curl(lb2, "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", tls=False)
    check(r.stdout != "200", f"h2c is off by default: {r.stdout}")


def case_retry():
    bs = start_backends()
    lb = start_lb(bs, "--health-check", "none")
    bs[1].kill()
    bs[1].wait()
    urls = [f"https://127.0.0.1:{lb.https}/my-app/data?i={i}" for i in range(30)]  # 30 streams, 1 connection
    r = subprocess.run(["nghttp", "-n", "-s", *urls], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"nghttp: {r.stdout[-500:]} {r.stderr}")
    log = read(lb.outpath)
    statuses = re.findall(r"proto=h2 stream=\d+ .*?status=(\d+)", log)
    check(len(statuses) == 30 and set(statuses) == {"200"}, f"30 streams all 200: {statuses}")
    check(re.search(r"retries=[12] ", log), "the access log should show retried h2 requests")
    for b in (bs[0], bs[2]):
        b.kill()
        b.wait()
    r = curl(lb, "--http2", "-w", "\n%{http_version} %{http_code}")
    check(r.stdout.endswith("2 503") and "no backend server available" in r.stdout,
          f"all down over h2: 503 with the reason: {r.stdout!r}")


# ---------------------------------------------------------------- RFC 9113 table (raw frames)

DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINUPD, CONT = 0, 1, 3, 4, 6, 7, 8, 9
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
          5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
          9: "COMPRESSION_ERROR", 11: "ENHANCE_YOUR_CALM"}


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_block(headers):
    import hpack
    return hpack.Encoder().encode([(k.encode(), v.encode()) for k, v in headers])


def req(authority, path="/my-app/data", method="GET", extra=()):
    return [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path),
            *extra]


class H2Raw:
    """One TLS connection with ALPN h2 that writes frames as given and reads the server's."""

    def __init__(self, port):
        ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
        ctx.set_alpn_protocols(["h2"])
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                                 server_hostname=HOST)
        check(self.s.selected_alpn_protocol() == "h2", "ALPN h2")
        self.buf = b""
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.s.sendall(data)

    def frames(self, timeout=5.0):
        """Frames until the server closes or `timeout` of silence."""
        self.s.settimeout(timeout)
        out = []
        while True:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                out.append((ftype, flags, sid, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
                if ftype in (RST, GOAWAY):
                    return out
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError, ssl.SSLError):
                return out
            if not d:
                return out
            self.buf += d


def first_error(frames):
    for ftype, _, sid, p in frames:
        if ftype == RST:
            return ("RST_STREAM", sid, ERRORS.get(int.from_bytes(p[:4], "big")))
        if ftype == GOAWAY:
            return ("GOAWAY", 0, ERRORS.get(int.from_bytes(p[4:8], "big")))
    return None


def case_rfc9113():
    bs = start_backends(1, record=True)
    lb = start_lb(bs)
    auth = f"{HOST}:{lb.https}"
    good = hpack_block(req(auth))
    rules = [
        ("connection-specific header field", [frame(HEADERS, 5, 1, hpack_block(req(auth, extra=[("connection", "keep-alive")])))],
         ("RST_STREAM", 1, "PROTOCOL_ERROR")),
        ("uppercase header name", [frame(HEADERS, 5, 1, hpack_block(req(auth, extra=[("X-Upper", "1")])))],
         ("RST_STREAM", 1, "PROTOCOL_ERROR")),
        ("duplicate pseudo-header", [frame(HEADERS, 5, 1, hpack_block(req(auth) + [(":path", "/x")]))],
         ("RST_STREAM", 1, "PROTOCOL_ERROR")),
        ("pseudo-header after a regular field", [frame(HEADERS, 5, 1, hpack_block(
            [(":method", "GET"), (":scheme", "https"), ("accept", "*/*"), (":path", "/my-app/data")]))],
         ("RST_STREAM", 1, "PROTOCOL_ERROR")),
        ("content-length against DATA", [frame(HEADERS, 4, 1, hpack_block(req(auth, "/p", "POST", [("content-length", "10")]))),
                                         frame(DATA, 1, 1, b"12345")],
         ("RST_STREAM", 1, "PROTOCOL_ERROR")),
        ("DATA on a closed (idle) stream", [frame(DATA, 1, 3, b"x")],
         ("GOAWAY", 0, "PROTOCOL_ERROR")),
        ("stream id lower than one already opened", [frame(HEADERS, 5, 3, good), frame(HEADERS, 5, 1, good)],
         ("GOAWAY", 0, "PROTOCOL_ERROR")),
        ("stream id reused after its response", [frame(HEADERS, 5, 1, good), "wait", frame(HEADERS, 5, 1, good)],
         ("GOAWAY", 0, "PROTOCOL_ERROR")),
        ("even (server) stream id", [frame(HEADERS, 5, 2, good)], ("GOAWAY", 0, "PROTOCOL_ERROR")),
        ("frame larger than SETTINGS_MAX_FRAME_SIZE", [frame(HEADERS, 5, 1, good + b"\0" * 17000)],
         ("GOAWAY", 0, "FRAME_SIZE_ERROR")),
    ]
    bad = []
    for name, frames, want in rules:
        before = recorded(bs)
        c = H2Raw(lb.https)
        seen = []
        for f in frames:
            if f == "wait":  # the first response, whole (END_STREAM), before the next frame
                while not any(t == DATA and fl & 1 for t, fl, _, _ in seen):
                    more = c.frames(timeout=10)
                    check(more, f"{name}: no response to the first request")
                    seen += more
                continue
            c.send(f)
        got = first_error(seen + c.frames())
        c.s.close()
        reached = recorded(bs) - before
        allowed = 1 if name.startswith("stream id") else 0  # their first request is a good one
        print(f"  {name:45} -> {got}  (want {want}; backend got {reached} request(s), at most {allowed})")
        if got != want or reached > allowed:
            bad.append(name)
    check(not bad, f"RFC 9113 rules not answered as expected: {bad}")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    A = ap.parse_args()
    run_case(CASES[A.case])
