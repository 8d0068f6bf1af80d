#!/usr/bin/env python3
"""HTTP/2 response bodies through journey-lb, checked byte for byte: the LB copies a backend's
body bytes straight into its DATA frames, so a wrong count, offset or end would show as a body
that differs from the backend's. Debian's python3-h2 is the client (run with /usr/bin/python3);
the backend is a Python HTTP/1.1 server that writes its bodies in pieces with pauses.

Cases:
  windows  1 MiB bodies, three streams at once, the client advertising a 5 000-byte stream window
           (frames cut by flow control at odd sizes) and not reading for a while in the middle
           (every stream blocked); then the same body chunked, and one with content-length in
           pieces, each whole and exact.
  empty    HEAD of the 1 MiB resource (its content-length, no body), 204 and 304 (no body),
           a chunked response of zero chunks, a chunked response without trailers: status and
           body exact, each stream ended.
  trailers a chunked response's trailer section arrives as a HEADERS frame with END_STREAM after
           the last DATA: allowed fields exact and in order (names lowercased), the ones that
           must not be trailers (framing, connection-specific, routing, authentication, response
           controls, content format) dropped; after zero chunks; after 1 MiB through a 5 000-byte
           stream window with a stalled reader (every DATA waits for the window, the trailers
           come last); a response without trailers still ends on its last DATA frame; a trailer
           section over max-header-size or max-headers resets that stream (a backend error in
           the log) and the connection goes on; an HTTP/1.1 client still gets the chunked bytes,
           trailer section included, as the backend sent them. A request whose body ends with
           trailers (HEADERS after DATA), with and without content-length, goes to the backend
           at once, its body whole (with a content-length: no trailer section, the fields
           dropped, never turned into header fields).
  abort    a backend closes its connection a third of the way into a 1 MiB body while the
           client has stopped reading (a small receive buffer: the LB's output to it is full,
           its DATA waits for room): that stream is reset, never ended as if whole, and what
           came of it is the start of the backend's body; a 1 MiB body on another stream of the
           same connection arrives whole, and the connection serves a request after.

usage: test_lb_h2_bodies.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import hashlib, http.server, os, socket, ssl, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import case_args, cert_paths, check, free_ports, run_case  # noqa: E402
import loopback  # noqa: E402

A = None
HOST = "www.my-app.com"
MIB = 1 << 20


def body_for(name):
    """Bytes that differ at every offset (a shifted or repeated piece would not match)."""
    seed = hashlib.sha256(name.encode()).digest()
    out, block = bytearray(), seed
    while len(out) < MIB:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:MIB])


# A trailer section: (name as sent, value, kept as a trailer over h2)
TRAILERS = [("X-Checksum", None, True), ("content-length", "5", False),
            ("Server-Timing", "db;dur=53", True), ("transfer-encoding", "chunked", False),
            ("te", "trailers", False), ("connection", "close", False), ("keep-alive", "1", False),
            ("trailer", "x-more", False), ("host", "evil.example", False),
            ("authorization", "Basic eA==", False), ("set-cookie", "a=b", False),
            ("cache-control", "no-store", False), ("content-type", "text/html", False),
            ("content-encoding", "gzip", False), ("if-match", '"x"', False),
            ("location", "/elsewhere", False), ("X-Empty", "", True),
            ("x-multi", "one", True), ("x-multi", "two", True)]


def trailer_section(body):
    return b"".join(b"%s: %s\r\n" % (n.encode(), (v if v is not None else
                    hashlib.sha256(body).hexdigest()).encode()) for n, v, _ in TRAILERS)


def trailers_expected(body):
    return [(n.lower(), v if v is not None else hashlib.sha256(body).hexdigest())
            for n, v, keep in TRAILERS if keep]


class Backend(http.server.BaseHTTPRequestHandler):
    """/big/NAME: 1 MiB with content-length, written in 7 pieces with pauses; /chunked/NAME: the
    same in chunks of odd sizes; /status/N: N with no body; /zero-chunks; /small-chunks;
    /trailers/NAME: /chunked/NAME with a trailer section (TRAILERS); /trailers-zero: zero chunks
    and the trailers; /trailers-huge/KIND: a trailer section over the LB's limit (KIND: bytes,
    fields)."""
    protocol_version = "HTTP/1.1"
    ABORT_AT = 3 * MIB // 8

    def pieces(self, b, n=7, pause=0.02):
        step = len(b) // n + 1
        for i in range(0, len(b), step):
            yield b[i:i + step]
            time.sleep(pause)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_POST(self):
        """The body's sha256, the request's framing, its field names and its trailer fields'
        names, for the client to check."""
        trailers = []
        if self.headers.get("transfer-encoding") == "chunked":
            b = bytearray()
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if not size:
                    break
                b += self.rfile.read(size)
                self.rfile.readline()
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                trailers.append(line.split(b":")[0].decode())
        else:
            b = self.rfile.read(int(self.headers.get("content-length", "0")))
        out = hashlib.sha256(b).hexdigest().encode()
        self.send_response(200)
        self.send_header("content-length", str(len(out)))
        self.send_header("x-framing", "length" if "content-length" in self.headers else
                         "chunked" if trailers or self.headers.get("transfer-encoding") else "other")
        self.send_header("x-names", ",".join(k.lower() for k in self.headers.keys()))
        self.send_header("x-trailer-names", ",".join(trailers))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self, head=False):
        parts = self.path.strip("/").split("/")
        if parts[0] == "abort":  # a promised 1 MiB, then the connection closed a third of the way
            b = body_for(parts[1])
            self.send_response(200)
            self.send_header("content-length", str(len(b)))
            self.end_headers()
            self.wfile.write(b[:self.ABORT_AT])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if parts[-1] == "probe" or parts[0] not in ("big", "chunked", "status", "zero-chunks", "small-chunks",
                                                    "trailers", "trailers-zero", "trailers-huge"):
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        if parts[0] == "status":
            self.send_response(int(parts[1]))
            self.send_header("etag", '"v1"')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        if parts[0] == "big":
            b = body_for(parts[1])
            self.send_header("content-length", str(len(b)))
            self.end_headers()
            if not head:
                for p in self.pieces(b):
                    self.wfile.write(p)
                    self.wfile.flush()
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        if head:
            return
        if parts[0] == "zero-chunks":
            self.wfile.write(b"0\r\n\r\n")
            return
        if parts[0] == "trailers-zero":
            self.wfile.write(b"0\r\n" + trailer_section(b"") + b"\r\n")
            return
        if parts[0] == "trailers-huge":
            self.wfile.write(b"5\r\nhello\r\n0\r\n")
            if parts[1] == "bytes":  # 40 kB of trailer lines, in pieces
                for i in range(40):
                    self.wfile.write(b"x-pad-%d: %s\r\n" % (i, b"p" * 1000))
                    self.wfile.flush()
            else:  # 101 small fields: over max-headers
                self.wfile.write(b"".join(b"x-f%d: v\r\n" % i for i in range(101)))
            self.wfile.write(b"\r\n")
            return
        b = body_for(parts[1]) if parts[0] in ("chunked", "trailers") else b"hello, h2"
        for p in self.pieces(b, n=13 if parts[0] in ("chunked", "trailers") else 3):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.flush()
        if parts[0] == "trailers":  # the section in two writes: a field cut between reads
            t = trailer_section(b)
            self.wfile.write(b"0\r\n" + t[:7])
            self.wfile.flush()
            time.sleep(0.05)
            self.wfile.write(t[7:] + b"\r\n")
            return
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *a):
        pass


def setup():
    port = free_ports(1)[0]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Backend)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    lb = loopback.start_lb(A.lb, A.certs, [("py", port)], "--workers", "1")
    return srv, lb


class Client:
    """One h2 connection (python3-h2) with the given stream window."""

    def __init__(self, port, window=65535, rcvbuf=None):
        import h2.config, h2.connection, h2.settings
        ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
        ctx.set_alpn_protocols(["h2"])
        raw = socket.socket()
        if rcvbuf:  # set before connecting: a small TCP window the LB's output fills at once
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", port))
        self.s = ctx.wrap_socket(raw, server_hostname=HOST)
        check(self.s.selected_alpn_protocol() == "h2", "ALPN h2")
        self.s.settimeout(30)
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                      header_encoding="utf-8"))
        self.c.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.c.initiate_connection()
        if window > 65535:  # the connection's window too
            self.c.increment_flow_control_window(window - 65535)
        self.s.sendall(self.c.data_to_send())

    def post_with_trailers(self, body, length):
        """POST body in two DATA frames, then trailers ending the stream: (headers, body)."""
        import h2.events
        sid = self.c.get_next_available_stream_id()
        h = [(":method", "POST"), (":scheme", "https"), (":path", "/post"), (":authority", HOST)]
        self.c.send_headers(sid, h + ([("content-length", str(len(body)))] if length else []))
        self.c.send_data(sid, body[:len(body) // 2])
        self.c.send_data(sid, body[len(body) // 2:])
        self.c.send_headers(sid, [("x-sum", "abc"), ("x-sum-2", "def")], end_stream=True)
        self.s.sendall(self.c.data_to_send())
        hdrs, got, t0 = {}, bytearray(), time.monotonic()
        self.s.settimeout(5)
        while True:
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                check(False, f"POST with trailers (content-length {length}): no answer in 5 s")
            check(data, "the LB closed the connection")
            for ev in self.c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    hdrs = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    got += ev.data
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    check(time.monotonic() - t0 < 2, "the request waited for a timeout")
                    self.s.settimeout(30)
                    return hdrs, bytes(got)
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    check(False, f"the LB ended a stream or the connection: {ev}")
            self.s.sendall(self.c.data_to_send())

    def fetch(self, paths, method="GET", stall_at=None, may_reset=()):
        """{path: (headers, body, ended)} for the paths requested at once. stall_at: once that
        many body bytes have come in all, stop reading (and granting window) for 1.5 s.
        may_reset: paths whose stream may be reset by the LB (ended is then "reset")."""
        import h2.events
        got, by_sid, total, stalled = {}, {}, 0, False
        self.trailers, self.events = {}, {}  # path: [(name, value)]; path: event kinds in order
        for p in paths:
            sid = self.c.get_next_available_stream_id()
            self.c.send_headers(sid, [(":method", method), (":scheme", "https"), (":path", p),
                                      (":authority", HOST)], end_stream=True)
            by_sid[sid] = p
            got[p] = [{}, bytearray(), False]
            self.events[p] = []
        self.s.sendall(self.c.data_to_send())
        while not all(g[2] for g in got.values()):
            if stall_at is not None and not stalled and total >= stall_at:
                stalled = True
                time.sleep(1.5)  # every stream's window is used up: the LB must wait, then resume
            data = self.s.recv(65536)
            check(data, "the LB closed the connection")
            for ev in self.c.receive_data(data):
                if getattr(ev, "stream_id", 0) in by_sid:
                    self.events[by_sid[ev.stream_id]].append(type(ev).__name__)
                if isinstance(ev, h2.events.TrailersReceived):
                    self.trailers[by_sid[ev.stream_id]] = list(ev.headers)
                elif isinstance(ev, h2.events.ResponseReceived):
                    got[by_sid[ev.stream_id]][0] = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    got[by_sid[ev.stream_id]][1] += ev.data
                    total += len(ev.data)
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    got[by_sid[ev.stream_id]][2] = True
                elif isinstance(ev, h2.events.StreamReset) and by_sid.get(ev.stream_id) in may_reset:
                    got[by_sid[ev.stream_id]][2] = "reset"
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    check(False, f"the LB ended a stream or the connection: {ev}")
            self.s.sendall(self.c.data_to_send())
        return {p: (h, bytes(b), e) for p, (h, b, e) in got.items()}


def case_windows():
    srv, lb = setup()
    c = Client(lb.https, window=5000)
    names = ["a", "b", "c"]
    got = c.fetch([f"/big/{n}" for n in names], stall_at=200000)
    for n in names:
        h, b, _ = got[f"/big/{n}"]
        check(h.get(":status") == "200", f"/big/{n}: status {h.get(':status')}")
        check(h.get("content-length") == str(MIB), f"/big/{n}: content-length {h.get('content-length')}")
        check(len(b) == MIB and b == body_for(n), f"/big/{n}: {len(b)} bytes, not the backend's body")
    got = c.fetch(["/chunked/d", "/big/e"])
    for p, n in (("/chunked/d", "d"), ("/big/e", "e")):
        h, b, _ = got[p]
        check(h.get(":status") == "200", f"{p}: status {h.get(':status')}")
        check(b == body_for(n), f"{p}: {len(b)} bytes, not the backend's body")
    check("transfer-encoding" not in got["/chunked/d"][0], "transfer-encoding went over h2")
    print("1 MiB bodies through a 5 000-byte window, stalled and resumed, chunked and in pieces: exact")
    srv.shutdown()


def case_empty():
    srv, lb = setup()
    c = Client(lb.https)
    got = c.fetch(["/big/h"], method="HEAD")["/big/h"]
    check(got[0].get(":status") == "200" and got[0].get("content-length") == str(MIB),
          f"HEAD: {got[0]}")
    check(got[1] == b"" and got[2], f"HEAD: a body of {len(got[1])} bytes")
    for code in ("204", "304"):
        h, b, ended = c.fetch([f"/status/{code}"])[f"/status/{code}"]
        check(h.get(":status") == code and b == b"" and ended, f"{code}: {h}, {len(b)} bytes")
    h, b, _ = c.fetch(["/zero-chunks"])["/zero-chunks"]
    check(h.get(":status") == "200" and b == b"", f"zero chunks: {h}, {b!r}")
    h, b, _ = c.fetch(["/small-chunks"])["/small-chunks"]
    check(h.get(":status") == "200" and b == b"hello, h2", f"small chunks: {h}, {b!r}")
    print("HEAD, 204, 304, zero chunks and small chunks: statuses and bodies exact")
    srv.shutdown()


def ends_with_trailers(c, p):
    """The stream's last frames: DATA (without END_STREAM), then the trailers' HEADERS ending it."""
    ev = [e for e in c.events[p] if e in ("DataReceived", "TrailersReceived", "StreamEnded")]
    return ev[-2:] == ["TrailersReceived", "StreamEnded"] and ev.count("TrailersReceived") == 1


def case_trailers():
    srv, lb = setup()
    c = Client(lb.https, window=5000)
    got = c.fetch(["/trailers/t", "/trailers/u"], stall_at=300000)
    for n in ("t", "u"):
        p = f"/trailers/{n}"
        h, b, ended = got[p]
        check(h.get(":status") == "200" and ended is True, f"{p}: status {h.get(':status')}")
        check(b == body_for(n), f"{p}: {len(b)} bytes, not the backend's body")
        check(c.trailers.get(p) == trailers_expected(b),
              f"{p}: trailers {c.trailers.get(p)}, expected {trailers_expected(b)}")
        check(ends_with_trailers(c, p), f"{p}: frames {c.events[p][-4:]}, not DATA then trailers")
    c2 = Client(lb.https)
    got = c2.fetch(["/trailers-zero"])
    h, b, ended = got["/trailers-zero"]
    check(h.get(":status") == "200" and b == b"" and ended is True, f"zero chunks: {h}, {b!r}")
    check(c2.trailers.get("/trailers-zero") == trailers_expected(b""),
          f"zero chunks: trailers {c2.trailers.get('/trailers-zero')}")
    check(ends_with_trailers(c2, "/trailers-zero"), f"zero chunks: {c2.events['/trailers-zero']}")
    got = c2.fetch(["/small-chunks"])
    check(got["/small-chunks"][1] == b"hello, h2" and "/small-chunks" not in c2.trailers
          and c2.events["/small-chunks"][-2:] == ["DataReceived", "StreamEnded"],
          f"no trailers: {c2.events['/small-chunks']}, the last DATA must end the stream")
    for kind in ("bytes", "fields"):
        p = f"/trailers-huge/{kind}"
        h, b, ended = c2.fetch([p], may_reset=(p,))[p]
        check(ended == "reset" and p not in c2.trailers, f"{p}: {ended}, trailers {c2.trailers.get(p)}")
        check(c2.fetch(["/small-chunks"])["/small-chunks"][1] == b"hello, h2", f"after {p}: no answer")
    for length in (True, False):  # request trailers: the body whole, at once; with a
        body = body_for("post")[:20000]  # content-length the trailer fields are dropped
        h, b = c2.post_with_trailers(body, length)
        check(h.get(":status") == "200" and b == hashlib.sha256(body).hexdigest().encode(),
              f"POST with trailers (content-length {length}): {h}, {b!r}")
        check("x-sum" not in h.get("x-names", "").split(","),
              f"POST with trailers: trailer fields turned into header fields: {h.get('x-names')}")
        check(h.get("x-framing") == ("length" if length else "chunked") and
              h.get("x-trailer-names") == ("" if length else "x-sum,x-sum-2"),
              f"POST with trailers (content-length {length}): forwarded as {h.get('x-framing')}, "
              f"trailers {h.get('x-trailer-names')!r}")
    why = "sent a trailer section over max-header-size or max-headers"
    lines = lambda: [l for l in (loopback.read(lb.outpath) + loopback.read(lb.errpath)).splitlines()
                     if why in l and "failed mid-response" in l]
    loopback.wait_for("the LB's log naming both oversized trailer sections as the backend's failures",
                      lambda: len(lines()) == 2, 5)
    # HTTP/1.1 client: the chunked bytes, trailer section included, as the backend sent them
    s = socket.create_connection(("127.0.0.1", lb.plain), timeout=10)
    s.sendall(b"GET /trailers-zero HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nConnection: close\r\n\r\n")
    raw = loopback.recv_all(s, timeout=10)
    s.close()
    check(raw.endswith(b"\r\n\r\n0\r\n" + trailer_section(b"") + b"\r\n"),
          f"HTTP/1.1: the trailer section was not relayed raw: {raw[-200:]!r}")
    print("trailers: exact and last after 1 MiB through a 5 000-byte window and after zero chunks, "
          "forbidden ones dropped; none: END_STREAM on the last DATA; oversized: stream reset; "
          "HTTP/1.1: raw; request trailers end the body, the request goes at once")
    srv.shutdown()


def case_abort():
    srv, lb = setup()
    c = Client(lb.https, window=16 * MIB, rcvbuf=4096)
    got = c.fetch(["/abort/x", "/big/y"], stall_at=64 * 1024, may_reset=("/abort/x",))
    h, b, ended = got["/abort/x"]
    check(h.get(":status") == "200", f"/abort/x: status {h.get(':status')}")
    check(ended == "reset", "/abort/x: the stream ended as if whole after the backend closed early")
    check(len(b) <= Backend.ABORT_AT and b == body_for("x")[:len(b)],
          f"/abort/x: {len(b)} bytes, not the start of the backend's body")
    h, b, ended = got["/big/y"]
    check(h.get(":status") == "200" and ended is True and b == body_for("y"),
          f"/big/y beside it: status {h.get(':status')}, {len(b)} bytes, not the backend's body")
    h, b, ended = c.fetch(["/big/z"])["/big/z"]
    check(h.get(":status") == "200" and b == body_for("z"), f"/big/z after: {len(b)} bytes")
    print(f"backend gone mid-body while its DATA waited for the client: stream reset after "
          f"{len(got['/abort/x'][1])} exact bytes; the stream beside it and the next one whole")
    srv.shutdown()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES)
    run_case(CASES[A.case])
