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
           controls, content format, those the response's Connection names) dropped; after zero
           chunks; after 1 MiB through a 5 000-byte
           stream window with a stalled reader (every DATA waits for the window, the trailers
           come last); a response without trailers still ends on its last DATA frame; a trailer
           section over max-header-size or max-headers resets that stream (a backend error in
           the log) and the connection goes on; an HTTP/1.1 client still gets the chunked bytes,
           trailer section included, as the backend sent them. A request whose body ends with
           trailers (HEADERS after DATA), with and without content-length, goes to the backend
           at once, its body whole: without one chunked with the trailer section, with one the
           fields dropped (Content-Length framing has no place for them), never turned into
           header fields.
  abort    a backend closes its connection a third of the way into a 1 MiB body while the
           client has stopped reading (a small receive buffer: the LB's output to it is full,
           its DATA waits for room): that stream is reset, never ended as if whole, and what
           came of it is the start of the backend's body; a 1 MiB body on another stream of the
           same connection arrives whole, and the connection serves a request after.

Request bodies without content-length (a pipe, a browser's streaming upload), against a raw
backend that records every byte it reads (Recorder):
  stream   1 MiB in 16 KiB DATA frames goes to the backend chunked (Transfer-Encoding: chunked,
           no Content-Length, strict chunk syntax) and whole (sha256); 20 000 bytes still go with
           a Content-Length; `curl --http2 -T -` from a pipe (200 000 bytes) gets 2xx, the
           backend the same bytes.
  req_trailers  a body over the buffer, one within it and none, each ending with trailers: the
           backend reads `0 CRLF x-checksum: ... CRLF CRLF x-after...`, the fields that must not be
           trailers (host, te, authorization, x-forwarded-for, x-request-id...) absent; with a
           content-length: Content-Length framing, no trailer field anywhere; a pseudo-header,
           a content-length that differs from the DATA or a connection-specific field in
           trailers: PROTOCOL_ERROR on that stream, nothing to the backend (one that matches is
           dropped); a trailer section over max-header-size: 431.
  slow     a backend that stops reading: the client is held by flow control (what it sent beyond
           what the backend read is at most the LB's 64 KiB and the kernel's socket buffers), the
           LB's RSS stays bounded; the backend reads again and the 32 MiB arrive whole.
  backend_dies  two backends that close their connection a third of the way into the body: 502,
           and the request reached one backend once (never retried once body bytes went out).
  max_body with max-body-size 200 kB: 1 MiB without content-length gets 413 and then RST_STREAM
           NO_ERROR (stop sending; RFC 9113 8.1), the backend's partial request closed, never
           ended; 150 kB goes through; HTTP/1.1 chunked gets 413 as well.
  body_timeout  a streaming body that stalls after 100 kB: 408 after client-body-timeout, the
           backend's request cancelled (its connection closed without the last chunk).
  trickle  a slow producer: HEADERS, then 10 small DATA frames 300 ms apart (2.7 s, with
           client-body-timeout 1s): each piece is at the backend as a chunk before the next is
           sent (the request went out chunked at the gather window, not when the body ended),
           the response 200 with the whole body at the backend; 3 000 bytes sent at once still go
           with a Content-Length; a trickle that stops gets 408 after client-body-timeout.

usage: test_lb_h2_bodies.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import hashlib, http.server, os, socket, ssl, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import case_args, cert_paths, check, free_ports, run_case  # noqa: E402
import loopback  # noqa: E402
from trailer_table import forged_values, request_trailers  # noqa: E402

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
        if parts[0] == "trailers-conn":  # the response's Connection names a trailer field
            self.send_response(200)
            self.send_header("connection", "x-hop, keep-alive")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"2\r\nok\r\n0\r\nx-hop: secret\r\nx-end: 1\r\n\r\n")
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
    got = c2.fetch(["/trailers-conn"])
    check(got["/trailers-conn"][1] == b"ok" and c2.trailers.get("/trailers-conn") == [("x-end", "1")],
          f"a trailer field the response's Connection names: {c2.trailers.get('/trailers-conn')}")
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


# ---- request bodies without content-length: a raw recording backend and an uploading client ----


class Recorder:
    """A raw HTTP/1.1 backend: every byte each connection brings is recorded (self.conns: one dict
    per connection, raw bytes and whether it ended), each request's head parsed and its body read by
    its framing, a chunked one strictly (hex size, CRLF after the data, trailer lines, blank line).
    The answer: 200 with "sha256 framing trailer-lines" of the decoded body.
    mode "die": close the connection once die_at body bytes were read; "stall": stop reading after
    stall_at body bytes until self.go is set (a small receive buffer, so that the kernel holds little)."""

    def __init__(self, mode="normal", die_at=0, stall_at=0):
        self.mode, self.die_at, self.stall_at = mode, die_at, stall_at
        self.go, self.conns, self.heads, self.body_read = threading.Event(), [], [], 0
        self.raws = []  # each whole request's bytes
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mode == "stall":
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.port = free_ports(1)[0]
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            rec = {"raw": bytearray(), "eof": False}
            self.conns.append(rec)
            threading.Thread(target=self.serve, args=(s, rec), daemon=True).start()

    def serve(self, s, rec):
        buf = bytearray()

        def fill():
            d = s.recv(65536)
            if not d:
                rec["eof"] = True
                raise EOFError
            rec["raw"] += d
            buf.extend(d)

        def line():
            while b"\r\n" not in buf:
                fill()
            i = buf.index(b"\r\n")
            out = bytes(buf[:i])
            del buf[:i + 2]
            return out

        def take(n):
            out = bytearray()
            while len(out) < n:
                if self.mode == "stall" and self.body_read >= self.stall_at:
                    self.go.wait()
                if self.mode == "die" and self.body_read >= self.die_at:
                    raise ConnectionAbortedError
                if not buf:
                    fill()
                k = min(n - len(out), len(buf), 16384)
                out += buf[:k]
                del buf[:k]
                self.body_read += k
            return bytes(out)

        try:
            while True:
                head, start = [], len(rec["raw"]) - len(buf)
                while (l := line()) != b"":
                    head.append(l.decode("latin-1"))
                self.heads.append(head)
                fields = {}
                for h in head[1:]:
                    n, _, v = h.partition(":")
                    fields.setdefault(n.strip().lower(), []).append(v.strip())
                body, trailers = bytearray(), []
                if fields.get("transfer-encoding") == ["chunked"]:
                    framing = "chunked"
                    while True:
                        size_line = line()
                        check(size_line and all(c in b"0123456789abcdefABCDEF" for c in size_line),
                              f"backend: bad chunk-size line {size_line!r}")
                        size = int(size_line, 16)
                        if not size:
                            break
                        body += take(size)
                        check(line() == b"", "backend: no CRLF after a chunk's data")
                    while (l := line()) != b"":
                        trailers.append(l.decode("latin-1"))
                elif "content-length" in fields:
                    framing = "length"
                    body = take(int(fields["content-length"][0]))
                else:
                    framing = "none"
                self.raws.append(bytes(rec["raw"][start:len(rec["raw"]) - len(buf)]))
                out = ("%s %s %s" % (hashlib.sha256(body).hexdigest(), framing,
                                     "|".join(trailers))).encode()
                s.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out))
        except (EOFError, ConnectionError, OSError, AssertionError):
            pass
        finally:
            s.close()

    def close(self):
        self.go.set()
        self.lsock.close()


def lb_for(*recorders, flags=()):
    return loopback.start_lb(A.lb, A.certs, [(f"r{i}", r.port) for i, r in enumerate(recorders)],
                             "--workers", "1", *flags)


def lb_rss_kib(lb):
    with open(f"/proc/{lb.pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def upload(c, body, length=False, trailers=None, frame=16384, path="/upload", stall_after=None,
           on_blocked=None, validate=True, paced=None):
    """POST body on a new stream of Client c, DATA frames of `frame` bytes as the windows allow,
    then `trailers` (a HEADERS frame ending the stream) if given. stall_after: stop sending after
    that many bytes (and wait for the answer). on_blocked(sent): called once when the windows have
    been shut for a second. paced(sent): called after each DATA frame, written on its own (it may
    wait, check). Returns (headers, response body, reset error code or None, sent)."""
    import h2.events, h2.exceptions
    sid = c.c.get_next_available_stream_id()
    h = [(":method", "POST"), (":scheme", "https"), (":path", path), (":authority", HOST)]
    if length:
        h.append(("content-length", str(len(body))))
    c.c.send_headers(sid, h, end_stream=not body and not trailers)
    c.s.sendall(c.c.data_to_send())
    off, done, hdrs, got, reset, blocked_once = 0, False, {}, bytearray(), None, False
    sent_trailers = not trailers
    while not done:
        limit = len(body) if stall_after is None else min(stall_after, len(body))
        try:
            while off < limit:
                w = min(c.c.local_flow_control_window(sid), c.c.max_outbound_frame_size, frame,
                        limit - off)
                if w <= 0:
                    break
                c.c.send_data(sid, body[off:off + w], end_stream=off + w == len(body) and not trailers)
                off += w
                if paced:
                    c.s.sendall(c.c.data_to_send())
                    paced(off)
            if off == len(body) and not sent_trailers:
                if not validate:
                    c.c.config.validate_outbound_headers = False
                    c.c.config.normalize_outbound_headers = False
                c.c.send_headers(sid, trailers, end_stream=True)
                sent_trailers = True
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            off = limit = len(body)  # answered early: nothing more to send
            sent_trailers = True
        c.s.sendall(c.c.data_to_send())
        c.s.settimeout(1)
        try:
            data = c.s.recv(65536)
        except socket.timeout:
            if off < limit and on_blocked and not blocked_once:
                blocked_once = True
                on_blocked(off)
            continue
        finally:
            c.s.settimeout(30)
        check(data, "the LB closed the connection")
        for ev in c.c.receive_data(data):
            if getattr(ev, "stream_id", None) != sid:
                continue
            if isinstance(ev, h2.events.ResponseReceived):
                hdrs = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                got += ev.data
                c.c.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
            elif isinstance(ev, h2.events.StreamReset):
                reset, done = ev.error_code, True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                check(False, f"the LB ended the connection: {ev}")
        c.s.sendall(c.c.data_to_send())
    return hdrs, bytes(got), reset, off


def answer_of(body):
    """What a Recorder answers for body: (sha256, framing, trailer lines)."""
    sha, framing, trl = body.decode().split(" ", 2)
    return sha, framing, trl.split("|") if trl else []


def head_fields(head):
    return [l.split(":")[0].lower() for l in head[1:]]


def random_body(n, seed):
    import random as _r
    return _r.Random(seed).randbytes(n)


def case_stream():
    rec = Recorder()
    lb = lb_for(rec)
    c = Client(lb.https)
    body = random_body(MIB, 1)
    h, b, reset, _ = upload(c, body)
    check(h.get(":status") == "200" and reset is None, f"1 MiB without content-length: {h}, reset {reset}")
    sha, framing, _ = answer_of(b)
    check(framing == "chunked" and sha == hashlib.sha256(body).hexdigest(),
          f"1 MiB: the backend read {framing}, sha256 {sha}")
    head = rec.heads[-1]
    check("transfer-encoding: chunked" in [l.lower() for l in head] and
          "content-length" not in head_fields(head), f"1 MiB: forwarded head {head}")
    check(rec.raws[-1].endswith(b"\r\n0\r\n\r\n"), "1 MiB: the body did not end with the last-chunk")
    small = random_body(20000, 2)
    h, b, reset, _ = upload(c, small)
    sha, framing, _ = answer_of(b)
    check(h.get(":status") == "200" and framing == "length" and sha == hashlib.sha256(small).hexdigest(),
          f"20 000 bytes without content-length: {h}, forwarded {framing}")
    check(["content-length", "20000"] == [x.strip().lower() for x in
          next(l for l in rec.heads[-1] if l.lower().startswith("content-length")).split(":")],
          f"20 000 bytes: head {rec.heads[-1]}")
    import subprocess
    piped = random_body(200000, 3)
    r = subprocess.run(["curl", "-sS", "--http2", "--max-time", "30", "--cacert", cert_paths(A.certs)[2],
                        "--resolve", f"{HOST}:{lb.https}:127.0.0.1", "-T", "-", "-o", "-",
                        "-w", "\n%{http_code} %{http_version}", f"https://{HOST}:{lb.https}/curl"],
                       input=piped, capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace").rsplit("\n", 1)
    check(r.returncode == 0 and out[-1] == "200 2", f"curl -T - from a pipe: {r.returncode} {out[-1]!r} {r.stderr!r}")
    sha, framing, _ = answer_of(out[0].encode())
    check(sha == hashlib.sha256(piped).hexdigest() and framing == "chunked",
          f"curl -T -: the backend read {framing}, sha256 {sha}")
    print("1 MiB in 16 KiB DATA frames: chunked to the backend, whole; 20 000 bytes: with its length; "
          "curl --http2 -T - from a pipe: 200, the backend read the same 200 000 bytes")
    rec.close()


def case_req_trailers():
    rec = Recorder()
    lb = lb_for(rec)
    c = Client(lb.https)
    for n, label in ((100000, "over the buffer"), (3000, "within the buffer"), (0, "no DATA")):
        body = random_body(n, n)
        digest = hashlib.sha256(body).hexdigest()
        rows = request_trailers(digest)  # the table strict_requests.py holds HTTP/1.1 to
        trl = [(name, v) for name, v, _ in rows]
        h, b, reset, _ = upload(c, body, trailers=trl)
        check(h.get(":status") == "200" and reset is None, f"{label}: {h}, reset {reset}")
        sha, framing, lines = answer_of(b)
        check(framing == "chunked" and sha == digest, f"{label}: the backend read {framing}, {sha}")
        check(lines == [f"{name}: {v}" for name, v, kept in rows if kept],
              f"{label}: trailer lines {lines}")
        raw = rec.raws[-1]
        check(raw.endswith(b"0\r\nx-checksum: %s\r\nx-after: 1\r\n\r\n" % digest.encode()),
              f"{label}: the backend's last bytes {raw[-120:]!r}")
        check(not any(v in raw for v in forged_values(rows)),
              f"{label}: a forbidden trailer reached the backend")
    body = random_body(100000, 7)
    h, b, reset, _ = upload(c, body, length=True, trailers=[("x-checksum", "abc")])
    sha, framing, lines = answer_of(b)
    check(h.get(":status") == "200" and framing == "length" and not lines and
          sha == hashlib.sha256(body).hexdigest(), f"with content-length: {framing}, {lines}")
    check(b"x-checksum" not in rec.raws[-1], "with content-length: the trailer field was forwarded")
    import h2.errors
    heads = len(rec.heads)
    for bad in ((":path", "/x"), ("content-length", "5"), ("connection", "close"),
                ("transfer-encoding", "chunked")):  # malformed (RFC 9113 8.1, 8.1.1, 8.2.2):
        h, b, reset, _ = upload(c, b"abc", trailers=[bad], validate=False)  # nghttp2's checks
        check(reset == h2.errors.ErrorCodes.PROTOCOL_ERROR and not h,
              f"{bad[0]} in trailers: {h}, reset {reset}")
    check(len(rec.heads) == heads, "a request with malformed trailers reached the backend")
    h, b, reset, _ = upload(c, b"abc", trailers=[("content-length", "3"), ("x-ok", "1")])
    check(h.get(":status") == "200" and answer_of(b)[1:] == ("chunked", ["x-ok: 1"]) and
          rec.raws[-1].endswith(b"\r\n3\r\nabc\r\n0\r\nx-ok: 1\r\n\r\n"),
          f"a content-length trailer that matches the body: {h}, the backend read {rec.raws[-1][-60:]!r}")
    c2 = Client(lb.https)
    heads = len(rec.heads)
    h, b, reset, _ = upload(c2, b"abc", trailers=[(f"x-pad-{i}", "p" * 1000) for i in range(20)])
    check(h.get(":status") == "431" and len(rec.heads) == heads,
          f"trailers over max-header-size: {h.get(':status')}, reset {reset}, backend requests {len(rec.heads) - heads}")
    h, b, reset, _ = upload(c2, b"after")
    check(h.get(":status") == "200", f"the connection after a 431: {h}")
    print("trailers after a body over the buffer, within it and alone: the backend read the chunked "
          "trailer section, forbidden fields absent; with content-length: dropped; a pseudo-header: "
          "PROTOCOL_ERROR; over max-header-size: 431")
    rec.close()


def case_slow():
    rec = Recorder(mode="stall", stall_at=MIB)
    lb = lb_for(rec, flags=("--max-body-size", "0"))
    c = Client(lb.https, window=16 * MIB)
    body = random_body(32 * MIB, 4)
    rss0 = lb_rss_kib(lb)
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        kernel = int(f.read().split()[2]) + 65536  # the LB's send buffer at most, the backend's receive buffer
    seen = {}

    def blocked(sent):
        time.sleep(0.5)
        seen["sent"], seen["read"], seen["rss"] = sent, rec.body_read, lb_rss_kib(lb)
        rec.go.set()

    h, b, reset, sent = upload(c, body, on_blocked=blocked)
    check("sent" in seen, "the client was never held: the LB took 32 MiB from a backend that stopped reading")
    ahead = seen["sent"] - seen["read"]
    check(ahead <= 65536 + kernel + 65536,
          f"held: {seen['sent']} bytes sent, {seen['read']} read by the backend: {ahead} ahead, "
          f"over 64 KiB + the kernel's {kernel}")
    check(seen["rss"] - rss0 < 8 * 1024, f"the LB's RSS grew {seen['rss'] - rss0} KiB while held")
    sha, framing, _ = answer_of(b)
    check(h.get(":status") == "200" and sha == hashlib.sha256(body).hexdigest(),
          f"32 MiB after the backend read again: {h}, sha256 {sha}")
    print(f"backend stopped reading: client held at {seen['sent']} bytes sent, {seen['read']} read "
          f"({ahead} ahead), LB RSS +{seen['rss'] - rss0} KiB; then 32 MiB whole")
    rec.close()


def case_backend_dies():
    recs = [Recorder(mode="die", die_at=300000), Recorder(mode="die", die_at=300000)]
    lb = lb_for(*recs)
    c = Client(lb.https)
    body = random_body(MIB, 5)
    h, b, reset, _ = upload(c, body)
    check(h.get(":status") == "502", f"backend gone mid-body: {h.get(':status')}, reset {reset}")
    check(sum(len(r.heads) for r in recs) == 1,
          f"the request reached the backends {sum(len(r.heads) for r in recs)} times")
    h, b, reset, _ = upload(c, b"small", length=True)
    check(h.get(":status") == "200", f"the connection after: {h}")
    print("backend gone a third into a streamed body: 502, the request sent once, never retried")
    for r in recs:
        r.close()


def case_max_body():
    rec = Recorder()
    lb = lb_for(rec, flags=("--max-body-size", "200k"))
    c = Client(lb.https)
    h, b, reset, _ = upload(c, random_body(MIB, 6))
    check(h.get(":status") == "413", f"1 MiB without content-length over max-body-size: {h}, reset {reset}")
    check(reset == 0, f"after the 413 the client was not asked to stop sending (RST_STREAM NO_ERROR): {reset}")
    loopback.wait_for("the partial request's backend connection closed",
                      lambda: rec.conns and rec.conns[-1]["eof"], 5)
    check(not bytes(rec.conns[-1]["raw"]).endswith(b"0\r\n\r\n"), "the partial body was ended as if whole")
    ok = random_body(150000, 8)
    h, b, reset, _ = upload(c, ok)
    check(h.get(":status") == "200" and answer_of(b)[0] == hashlib.sha256(ok).hexdigest(),
          f"150 kB under max-body-size: {h}")
    s = socket.create_connection(("127.0.0.1", lb.plain), timeout=10)
    s.sendall(b"POST /h1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
              b"".join(b"4000\r\n" + b"a" * 0x4000 + b"\r\n" for _ in range(16)))
    raw = loopback.recv_all(s, timeout=10)
    s.close()
    check(raw.startswith(b"HTTP/1.1 413"), f"HTTP/1.1 chunked over max-body-size: {raw[:40]!r}")
    print("max-body-size 200k: 1 MiB streamed without content-length: 413, the backend's partial "
          "request closed; 150 kB: 200; HTTP/1.1 chunked: 413 too")
    rec.close()


def case_body_timeout():
    rec = Recorder()
    lb = lb_for(rec, flags=("--client-body-timeout", "1s"))
    c = Client(lb.https)
    t0 = time.monotonic()
    h, b, reset, _ = upload(c, random_body(MIB, 9), stall_after=100000)
    took = time.monotonic() - t0
    check(h.get(":status") == "408" and 0.9 < took < 5, f"stalled streaming body: {h.get(':status')} "
          f"after {took:.1f} s, reset {reset}")
    loopback.wait_for("the backend's request cancelled (connection closed)",
                      lambda: rec.conns and rec.conns[-1]["eof"], 5)
    raw = bytes(rec.conns[-1]["raw"])
    check(b"transfer-encoding: chunked" in raw.lower() and not raw.endswith(b"0\r\n\r\n"),
          "the stalled request was not streaming, or was ended as if whole")
    print(f"a streaming body stalled after 100 kB: 408 after {took:.1f} s, the backend's request closed")
    rec.close()


def case_trickle():
    rec = Recorder()
    lb = lb_for(rec, flags=("--client-body-timeout", "1s"))
    c = Client(lb.https)
    piece, n = 40, 10
    body = random_body(piece * n, 12)
    t0, lags = time.monotonic(), []

    def raw(path=b"/trickle"):  # the connection that carries the request (not a health check's)
        return next((bytes(r["raw"]) for r in reversed(rec.conns)
                     if b" " + path + b" HTTP/1.1" in r["raw"]), b"")

    def paced(sent):  # piece i is at the backend, as a chunk of its own, before i+1 is sent
        i, at = sent // piece - 1, time.monotonic()
        if i == n - 1:
            return
        chunk = b"%x\r\n%s\r\n" % (piece, body[sent - piece:sent])
        check(loopback.wait_until(lambda: chunk in raw(), 0.28, step=0.005),
              f"piece {i} of {n} not at the backend {time.monotonic() - at:.2f} s after it was sent "
              f"({n - 1 - i} still to come): the backend read {raw()[-200:]!r}")
        lags.append(time.monotonic() - at)
        time.sleep(max(0.0, t0 + 0.3 * (i + 1) - time.monotonic()))

    h, b, reset, _ = upload(c, body, frame=piece, path="/trickle", paced=paced)
    took = time.monotonic() - t0
    head = rec.heads[0]
    check("transfer-encoding: chunked" in [l.lower() for l in head] and
          "content-length" not in head_fields(head), f"trickled body: forwarded head {head}")
    sha, framing, _ = answer_of(b)
    check(h.get(":status") == "200" and reset is None and framing == "chunked" and
          sha == hashlib.sha256(body).hexdigest(),
          f"trickled body over {took:.1f} s (client-body-timeout 1s): {h.get(':status')}, reset "
          f"{reset}, the backend read {framing}, sha256 {sha}")
    check(rec.raws[-1].endswith(b"\r\n0\r\n\r\n"), "trickled body: not ended by the last-chunk")
    # A body that ends at once (HEADERS, then its DATA in another write) still has its length.
    small = random_body(3000, 10)
    h, b, reset, _ = upload(c, small, frame=1000)
    sha, framing, _ = answer_of(b)
    check(h.get(":status") == "200" and framing == "length" and sha == hashlib.sha256(small).hexdigest()
          and "content-length: 3000" in [l.lower() for l in rec.heads[-1]],
          f"3 000 bytes at once without content-length: {h}, forwarded {framing}, head {rec.heads[-1]}")
    # A trickle that stops: 408 after client-body-timeout, the backend's request cancelled.
    c2 = Client(lb.https)
    t1 = time.monotonic()
    stopped = random_body(1000, 11)
    h, b, reset, _ = upload(c2, stopped, frame=100, stall_after=200, path="/stopped")
    stalled = time.monotonic() - t1
    check(h.get(":status") == "408" and 0.9 < stalled < 5, f"a trickle that stops after 200 bytes: "
          f"{h.get(':status')} after {stalled:.1f} s")
    loopback.wait_for("the stalled request's backend connection closed",
                      lambda: any(r["eof"] and b"POST /stopped " in r["raw"] for r in rec.conns), 5)
    last = raw(b"/stopped")
    check(b"transfer-encoding: chunked" in last.lower() and stopped[:100] in last and
          not last.endswith(b"0\r\n\r\n"), f"the stalled trickle at the backend: {last[-120:]!r}")
    print(f"10 pieces 300 ms apart over {took:.1f} s (client-body-timeout 1s): each at the backend "
          f"{lags[0] * 1000:.0f} ms (the first) and {max(lags[1:]) * 1000:.0f} ms at most after it was "
          f"sent, chunked, whole, 200; 3 000 bytes at "
          f"once: with its length; a trickle that stops: 408 after {stalled:.1f} s")
    rec.close()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES)
    run_case(CASES[A.case])
