#!/usr/bin/env python3
"""WebSockets over HTTP/2 through journey-lb (RFC 8441 extended CONNECT): Debian's python3-h2 is
the client (run with /usr/bin/python3), WebSocket frames written by hand (tests/integration/
ws_common.py); the backends are journey-backend's /ws echo and a Python backend written out by
hand (WsBackend) that records what it receives and misbehaves on request.

Cases:
  echo       SETTINGS carry ENABLE_CONNECT_PROTOCOL=1; a CONNECT with :protocol websocket to
             journey-backend's /ws: :status 200, a text and a 200 000-byte binary message echoed,
             a request on another stream of the same connection served meanwhile, the close
             handshake, END_STREAM both ways; the tunnel open in /stats and /metrics while it
             lasts; the access-log line proto=h2 stream=1 method=CONNECT path=/ws status=200
             (the client's request) with both byte counts and the upgrade and tunnel phases.
  backend    what the backend receives: GET, Host from :authority, Upgrade: websocket,
             Connection: upgrade, a fresh Sec-WebSocket-Key (not the one the client slipped in),
             version 13, the subprotocols and extensions offered, X-Forwarded-*; the subprotocol
             chosen comes back on the 200, Upgrade/Connection/Sec-WebSocket-Accept do not; the
             client's END_STREAM arrives as the backend's end of input (FIN) after its bytes, and
             what the backend sends after that still reaches the client before END_STREAM.
  answers    a backend's 101 whose Sec-WebSocket-Accept is wrong or missing: 502 on the stream,
             that backend connection closed; a non-101 answer (journey-backend's 404 for a path
             it does not serve) relayed as an ordinary response.
  malformed  the table of bad extended CONNECTs with the error each gets (stream reset
             PROTOCOL_ERROR or a 4xx/501) and none reaching a backend; plain CONNECT refused as
             before; the connection serves a request after all of them.
  off        --h2-websocket off: ENABLE_CONNECT_PROTOCOL not offered, a CONNECT with :protocol
             reset with PROTOCOL_ERROR, never reaching a backend.
  slow       a client that sends into its tunnel without reading: the LB stops granting window
             once the backend stops taking bytes (what the client could send is the kernel's
             socket buffers on the way: < 32 MiB), its RSS does not grow while the tunnel stalls
             (< 512 KiB; a Release build grows ~200 KiB in all), a request on a second stream
             completes meanwhile; once the client reads, every echo arrives.
  reset      the client's RST_STREAM closes the backend's connection (the backend sees the
             close); a backend that resets its connection: RST_STREAM CANCEL; a tunnel silent
             for --tunnel-timeout: RST_STREAM CANCEL; the tunnel count back to 0.
  idle       30 h2 connections each with a request then a tunnel, quiet: the LB's RSS per
             connection < 100 KiB (the output and OpenSSL buffers given back); all work after.
  drain      90 tunnels on one h2 connection: the LB's RSS per idle tunnel; SIGTERM: they work
             during the drain, end at the shutdown deadline, one access-log line each, exit 0.
  chromium   headless Chromium loads a page through the LB over h2, its script opens
             new WebSocket('wss://...') and gets its echo; the net log shows the WebSocket's
             CONNECT with :protocol websocket sent on the HTTP/2 session (HTTP2_SESSION_SEND_HEADERS).

usage: test_lb_h2_ws.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import base64
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_lb_ws as lbws  # noqa: E402
from harden_common import rss_kib  # noqa: E402
from loopback import TMP, case_args, cert_paths, check, read, run_case, wait_for  # noqa: E402
from test_lb import RawBackend  # noqa: E402
from ws_common import accept_for, frame  # noqa: E402

A = None
HOST = "www.my-app.com"
CLOSE = 0x8


# ---------------------------------------------------------------- backends

class WsBackend(RawBackend):
    """An HTTP/1.1 backend written out by hand: /health 200; /page an HTML page (PAGE); /ws...
    the WebSocket handshake answered with a correct accept (/ws-bad-accept: a wrong one,
    /ws-no-accept: none), Sec-WebSocket-Protocol: the first offered; then /ws and /ws-sub echo
    every frame's payload back (unmasked) until the close frame, /ws-half echoes raw bytes until
    the client's FIN and then sends b"after-fin" and closes, /ws-reset sends b"bye" and resets
    the connection, /ws-hold reads until the connection closes. Every request but /health is
    recorded (requests); events: (path, "closed"/"fin") when the LB ends a tunnel."""
    PAGE = b""

    def __init__(self):
        super().__init__()
        self.requests, self.events = [], []
        self.echoed = threading.Event()

    def respond(self, c, method, path, hdrs, body):
        if path == "/health":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        self.requests.append((method, path, hdrs))
        if path == "/page":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                      % (len(self.PAGE), self.PAGE))
            return True
        if path == "/hold":  # the page's load waits for this: answered once an echo went back
            self.echoed.wait(20)
            time.sleep(0.3)
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return True
        if not path.startswith("/ws"):
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
            return True
        accept = accept_for(hdrs.get("sec-websocket-key", ""))
        head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        if path == "/ws-bad-accept":
            head += f"Sec-WebSocket-Accept: {accept_for('x' * 24)}\r\n"
        elif path != "/ws-no-accept":
            head += f"Sec-WebSocket-Accept: {accept}\r\n"
        if "sec-websocket-protocol" in hdrs:
            head += f"Sec-WebSocket-Protocol: {hdrs['sec-websocket-protocol'].split(',')[0].strip()}\r\n"
        c.sendall((head + "\r\n").encode())
        self.tunnel(c, path.split("?")[0])
        return False

    def tunnel(self, c, path):
        c.settimeout(30)
        try:
            if path == "/ws-reset":
                c.sendall(b"bye")
                time.sleep(0.2)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if path in ("/ws-half", "/ws-hold"):
                got = b""
                while True:
                    x = c.recv(65536)
                    if not x:
                        break
                    got += x
                    if path == "/ws-half":
                        c.sendall(x)
                self.events.append((path, "fin", got))
                if path == "/ws-half":
                    c.sendall(b"after-fin")
                return
            buf = b""
            while True:
                x = c.recv(65536)
                if not x:
                    self.events.append((path, "closed", b""))
                    return
                buf += x
                while len(buf) >= 6:
                    n, off = buf[1] & 0x7F, 2
                    if n == 126:
                        n, off = struct.unpack("!H", buf[2:4])[0], 4
                    elif n == 127:
                        n, off = struct.unpack("!Q", buf[2:10])[0], 10
                    if len(buf) < off + 4 + n:
                        break
                    op, key = buf[0] & 0x0F, buf[off:off + 4]
                    data = bytes(b ^ key[i % 4] for i, b in enumerate(buf[off + 4:off + 4 + n]))
                    buf = buf[off + 4 + n:]
                    ln = bytes([n]) if n < 126 else (bytes([126]) + struct.pack("!H", n) if n < 65536
                                                    else bytes([127]) + struct.pack("!Q", n))
                    c.sendall(bytes([0x80 | op]) + ln + data)
                    self.echoed.set()
                    if op == CLOSE:
                        self.events.append((path, "closed", b""))
                        return
        except OSError as e:
            self.events.append((path, "closed", str(e).encode()))


def journey_backend():
    return lbws.start_backends(1)[0]


def tunnels(lb):
    """(open, total) as /stats says, checked against /metrics."""
    t = json.loads(lbws.admin(lb, "/stats"))["tunnels"]
    m = lbws.admin(lb, "/metrics")
    o = re.search(r"^journey_lb_tunnels_open(?:\{[^}]*\})? (\d+)", m, re.M)
    check(o and int(o.group(1)) == t["open"], f"/metrics tunnels_open vs /stats {t}")
    return t["open"], t["total"]


# ---------------------------------------------------------------- the h2 client

class H2:
    """One h2 connection (python3-h2): streams' headers, bytes, ends and resets as they come."""

    def __init__(self, port, validate=True, conn_window=16 << 20):
        import h2.config
        import h2.connection
        ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
        ctx.set_alpn_protocols(["h2"])
        self.s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                                 server_hostname=HOST)
        check(self.s.selected_alpn_protocol() == "h2", "ALPN h2")
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=validate,
            normalize_outbound_headers=validate))
        self.c.initiate_connection()
        self.c.increment_flow_control_window(conn_window)  # the tunnel's stream window is its own
        self.flush()
        self.heads, self.data, self.ended, self.resets, self.settings = {}, {}, set(), {}, None
        self.hold = set()  # streams whose DATA is not acknowledged (no WINDOW_UPDATE)
        self.draining = False  # GOAWAY expected
        self.unacked = {}
        self.until(lambda: self.settings is not None)

    def flush(self):
        out = self.c.data_to_send()
        if out:
            self.s.sendall(out)

    def read_once(self, timeout):
        import h2.events
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return False
        check(d, "journey-lb closed the connection")
        for ev in self.c.receive_data(d):
            sid = getattr(ev, "stream_id", None)
            if isinstance(ev, h2.events.RemoteSettingsChanged) and self.settings is None:
                self.settings = {int(k): v.new_value for k, v in ev.changed_settings.items()}
            elif isinstance(ev, h2.events.ResponseReceived):
                self.heads[sid] = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                self.data[sid] = self.data.get(sid, b"") + ev.data
                if sid in self.hold:
                    self.unacked[sid] = self.unacked.get(sid, 0) + ev.flow_controlled_length
                elif ev.flow_controlled_length:
                    self.c.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended.add(sid)
            elif isinstance(ev, h2.events.StreamReset):
                self.resets[sid] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                check(self.draining, f"journey-lb ended the connection: {ev}")
        self.flush()
        return True

    def until(self, cond, timeout=10, what="an answer"):
        deadline = time.monotonic() + timeout
        while not cond():
            check(time.monotonic() < deadline, f"no {what} within {timeout} s")
            self.read_once(0.2)

    def release(self, sid):
        self.hold.discard(sid)
        if self.unacked.get(sid):
            self.c.acknowledge_received_data(self.unacked.pop(sid), sid)
            self.flush()

    def open(self, path="/ws", extra=(), end=False, method="CONNECT", protocol="websocket",
             scheme="https", authority=HOST):
        sid = self.c.get_next_available_stream_id()
        h = [(":method", method)]
        if protocol is not None:
            h.append((":protocol", protocol))
        if scheme is not None:
            h.append((":scheme", scheme))
        if path is not None:
            h.append((":path", path))
        if authority is not None:
            h.append((":authority", authority))
        h += [("sec-websocket-version", "13")] + list(extra)
        self.c.send_headers(sid, h, end_stream=end)
        self.flush()
        return sid

    def answer(self, sid, timeout=10):
        """(status, {name: value}) of a stream's response, or ("reset", code)."""
        self.until(lambda: sid in self.heads or sid in self.resets, timeout, f"answer on stream {sid}")
        if sid in self.resets and sid not in self.heads:
            return "reset", self.resets[sid]
        h = dict(self.heads[sid])
        return h[":status"], h

    def send(self, sid, data, end=False):
        while data:
            room = min(self.c.local_flow_control_window(sid), self.c.max_outbound_frame_size)
            if room <= 0:
                self.read_once(0.2)
                continue
            self.c.send_data(sid, data[:room])
            data = data[room:]
            self.flush()
        if end:
            self.c.end_stream(sid)
            self.flush()

    def get(self, path="/my-app/data"):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "GET"), (":scheme", "https"), (":path", path),
                                  (":authority", HOST)], end_stream=True)
        self.flush()
        return sid

    def frames(self, sid, count, timeout=20):
        """The next `count` server WebSocket frames of the stream: [(opcode, payload)]."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            b = self.data.get(sid, b"")
            got = parse_frame(b)
            if got:
                op, payload, used = got
                self.data[sid] = b[used:]
                out.append((op, payload))
                continue
            check(time.monotonic() < deadline, f"{len(out)} of {count} frames on stream {sid}")
            check(sid not in self.resets, f"stream {sid} reset ({self.resets.get(sid)})")
            self.read_once(0.2)
        return out


def parse_frame(b):
    if len(b) < 2:
        return None
    n, off = b[1] & 0x7F, 2
    check(not b[1] & 0x80, "a server frame must not be masked")
    if n == 126:
        if len(b) < 4:
            return None
        n, off = struct.unpack("!H", b[2:4])[0], 4
    elif n == 127:
        if len(b) < 10:
            return None
        n, off = struct.unpack("!Q", b[2:10])[0], 10
    if len(b) < off + n:
        return None
    return b[0] & 0x0F, b[off:off + n], off + n


def access_lines(lb, pattern):
    return [line for line in read(lb.outpath).splitlines() if re.search(pattern, line)]


# ---------------------------------------------------------------- cases

def case_echo():
    be = journey_backend()
    lb = lbws.start_lb([be])
    c = H2(lb.https)
    check(c.settings.get(8) == 1, f"SETTINGS_ENABLE_CONNECT_PROTOCOL not 1: {c.settings}")
    sid = c.open("/ws")
    status, h = c.answer(sid)
    check(status == "200", f"extended CONNECT: {status} {h}")
    check(not {"upgrade", "connection", "sec-websocket-accept"} & set(h), f"hop fields on h2: {h}")
    check(tunnels(lb)[0] == 1, "one tunnel open in /stats while it lasts")
    c.send(sid, frame(0x1, b"hello over h2"))
    big = os.urandom(200000)
    c.send(sid, frame(0x2, big))
    other = c.get()  # another stream of the same connection, served while the tunnel is open
    got = c.frames(sid, 2)
    check(got == [(0x1, b"hello over h2"), (0x2, big)], f"echoes: {[(o, len(p)) for o, p in got]}")
    c.until(lambda: other in c.ended, what="the other stream's response")
    check(dict(c.heads[other])[":status"] == "200" and b'"backend":"b1"' in c.data[other],
          "a request on another stream during the tunnel")
    c.send(sid, frame(CLOSE, struct.pack("!H", 1000) + b"done"))
    op, payload = c.frames(sid, 1)[0]
    check(op == CLOSE and payload[:2] == struct.pack("!H", 1000), f"close echoed: {op} {payload!r}")
    c.until(lambda: sid in c.ended, what="END_STREAM after the backend closed")
    c.send(sid, b"", end=True)
    wait_for("the tunnel closed in /stats", lambda: tunnels(lb)[0] == 0, 5)
    check(tunnels(lb)[1] >= 1, "tunnels total counted")
    check(json.loads(lbws.admin(lb, "/stats"))["h2"]["websockets"] == 1 and
          'journey_h2_events_total{event="websockets"} 1' in lbws.admin(lb, "/metrics"),
          "the WebSocket counted among HTTP/2's in /stats and /metrics")
    wait_for("the tunnel's access-log line", lambda: access_lines(lb, r"stream=1 .*path=/ws "), 5)
    line = access_lines(lb, r"stream=1 .*path=/ws ")[0]
    f = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    # The client's request, as for any request: its extended CONNECT (the backend got a GET).
    check(f.get("proto") == "h2" and f.get("method") == "CONNECT" and f.get("path") == "/ws" and
          f.get("status") == "200", f"access log: {line}")
    check(int(f["bytes_in"]) > 200000 and int(f["bytes_out"]) > 200000, f"byte counts: {line}")
    check("upgrade_ms" in f and "tunnel_ms" in f and f.get("term") == "ok", f"phases: {line}")
    print(f"tunnel over h2: 2 messages echoed, a request beside it, closed cleanly\n{line}")


def case_backend():
    wb = WsBackend()
    wb.start()
    lb = lbws.start_lb([wb])
    c = H2(lb.https)
    sid = c.open("/ws-half?x=1", extra=[("sec-websocket-protocol", "chat, superchat"),
                                         ("sec-websocket-extensions", "permessage-deflate"),
                                         ("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA==")])
    status, h = c.answer(sid)
    check(status == "200" and h.get("sec-websocket-protocol") == "chat", f"answer: {status} {h}")
    method, path, hdrs = wb.requests[-1]
    check((method, path) == ("GET", "/ws-half?x=1"), f"request line: {method} {path}")
    check(hdrs.get("host") == HOST and hdrs.get("upgrade") == "websocket" and
          hdrs.get("connection", "").lower() == "upgrade", f"upgrade fields: {hdrs}")
    key = hdrs.get("sec-websocket-key", "")
    check(key != "AAAAAAAAAAAAAAAAAAAAAA==" and len(base64.b64decode(key)) == 16,
          f"a fresh 16-byte key, not the client's: {key!r}")
    check(hdrs.get("sec-websocket-version") == "13" and
          hdrs.get("sec-websocket-protocol") == "chat, superchat" and
          hdrs.get("sec-websocket-extensions") == "permessage-deflate", f"fields: {hdrs}")
    check(hdrs.get("x-forwarded-proto") == "https" and hdrs.get("x-forwarded-for") == "127.0.0.1",
          f"X-Forwarded-*: {hdrs}")
    c.send(sid, b"raw bytes both ways", end=True)  # END_STREAM: the backend's end of input
    c.until(lambda: sid in c.ended, what="END_STREAM after the backend closed")
    check(c.data[sid] == b"raw bytes both waysafter-fin", f"bytes back: {c.data[sid]!r}")
    check(("/ws-half", "fin", b"raw bytes both ways") in wb.events, f"backend saw: {wb.events}")
    print("the backend got GET with Upgrade, a fresh key, version, subprotocols, extensions and "
          "X-Forwarded-*; END_STREAM became its FIN, its bytes after it came back")


def case_answers():
    wb = WsBackend()
    wb.start()
    be = journey_backend()
    lb = lbws.start_lb([wb])
    c = H2(lb.https)
    for path in ("/ws-bad-accept", "/ws-no-accept"):
        sid = c.open(path)
        status, h = c.answer(sid)
        check(status == "502", f"{path}: {status} {h}")
        wait_for(f"{path}: backend connection closed", lambda: (path, "closed", b"") in wb.events, 5)
    check("Sec-WebSocket-Accept" in read(lb.errpath), "the log names the failed accept")
    lb2 = lbws.start_lb([be])
    c2 = H2(lb2.https)
    sid = c2.open("/nope")
    status, h = c2.answer(sid)
    c2.until(lambda: sid in c2.ended, what="the 404's end")
    check(status == "404" and c2.data.get(sid), f"non-101 relayed: {status} {c2.data.get(sid)!r}")
    check(tunnels(lb)[1] == 0 and tunnels(lb2)[1] == 0, "no tunnel counted")
    print("wrong and missing Sec-WebSocket-Accept: 502, backend connection closed; 404 relayed")


MALFORMED = [  # (what, open() arguments, expected: "reset" (PROTOCOL_ERROR) or a status)
    ("no :path", dict(path=None), "reset"),
    ("no :scheme", dict(scheme=None), "reset"),
    (":protocol with GET", dict(method="GET"), "reset"),
    (":protocol other than websocket", dict(protocol="h2c"), "501"),
    ("ends its stream", dict(end=True), "400"),
    ("content-length", dict(extra=[("content-length", "0")]), "400"),
    ("plain CONNECT", dict(protocol=None, path=None, scheme=None), "400"),
    ("CONNECT without :protocol", dict(protocol=None), "reset"),
]


def case_malformed():
    wb = WsBackend()
    wb.start()
    lb = lbws.start_lb([wb])
    c = H2(lb.https, validate=False)
    for what, kw, want in MALFORMED:
        sid = c.open(**kw)
        status, h = c.answer(sid)
        if want == "reset":
            check(status == "reset" and h == 1, f"{what}: {status} {h}, not PROTOCOL_ERROR")
        else:
            check(status == want, f"{what}: {status}, not {want}")
        print(f"{what}: {status} {h if status == 'reset' else ''}")
    check(not wb.requests, f"a malformed CONNECT reached the backend: {wb.requests}")
    sid = c.get("/after")
    check(c.answer(sid)[0] == "404" and wb.requests[-1][1] == "/after", "the connection goes on")


def case_off():
    wb = WsBackend()
    wb.start()
    lb = lbws.start_lb([wb], "--h2-websocket", "off")
    c = H2(lb.https, validate=False)
    check(not c.settings.get(8), f"ENABLE_CONNECT_PROTOCOL offered with off: {c.settings}")
    sid = c.open("/ws")
    status, code = c.answer(sid)
    check(status == "reset" and code == 1, f"CONNECT with :protocol when off: {status} {code}")
    check(not wb.requests, f"it reached the backend: {wb.requests}")
    r = subprocess.run([A.lb, "--h2-websocket", "maybe"], capture_output=True, text=True)
    check(r.returncode != 0 and "h2-websocket 'maybe'" in r.stderr, f"a bad value: {r.stderr}")
    print("off: no ENABLE_CONNECT_PROTOCOL, :protocol reset with PROTOCOL_ERROR; bad value named")


def case_slow():
    be = journey_backend()
    lb = lbws.start_lb([be])
    c = H2(lb.https, conn_window=256 << 20)
    sid = c.open("/ws")
    check(c.answer(sid)[0] == "200", "tunnel open")
    c.hold.add(sid)  # the client reads nothing of this stream: no WINDOW_UPDATE for it
    msg = frame(0x2, os.urandom(16384))
    # The client sends as long as the LB grants window. The LB grants it only as the backend's
    # socket takes the bytes, and stops reading the backend once the stream's 64 KiB of DATA
    # wait for the client: the backend stops reading, the kernel's socket buffers on the way
    # fill (MiBs: autotuned), and the window closes. The stall is reached when nothing more
    # could be sent for 2 s.
    rss0, sent, t0, last, stall = rss_kib(lb.pid), 0, time.monotonic(), (0, time.monotonic()), None
    while time.monotonic() < t0 + 40:
        if c.c.local_flow_control_window(sid) >= len(msg):
            c.send(sid, msg)
            sent += len(msg)
            last = (sent, time.monotonic())
        else:
            c.read_once(0.1)
        if time.monotonic() - last[1] > 2 and stall is None:
            stall = (sent, rss_kib(lb.pid), rss_kib(be.pid))
            other = c.get()  # a second stream of the same connection, served while it stalls
            c.until(lambda: other in c.ended, what="the other stream's response while the tunnel stalls")
            check(dict(c.heads[other])[":status"] == "200", "the other stream's answer")
        if stall and time.monotonic() - last[1] > 5:
            break
    check(stall, f"the LB never stopped granting window: {sent} bytes taken in 40 s")
    grew, stalled_grew = rss_kib(lb.pid) - rss0, rss_kib(lb.pid) - stall[1]
    be_grew = rss_kib(be.pid) - stall[2]
    server = json.loads(lbws.admin(lb, "/stats"))["pools"][0]["servers"][0]
    print(f"stalled tunnel: {sent} bytes taken from the client before the window closed; LB RSS "
          f"+{grew} KiB in all (sanitizer builds keep freed blocks in quarantine), "
          f"+{stalled_grew} KiB while stalled; backend +{be_grew} KiB while stalled, health "
          f"checks {server['last_check']['recent']}")
    check(sent == stall[0] and sent < 32 << 20, f"journey-lb took {sent} bytes (kernel buffers: < 32 MiB)")
    check(stalled_grew < 512, f"journey-lb RSS grew {stalled_grew} KiB while the tunnel stalled")
    # The backend behind the stalled tunnel stops reading too: bounded, and its health checks
    # (beside the tunnel, on their own connections) keep passing.
    check(be_grew < 512, f"journey-backend RSS grew {be_grew} KiB while the tunnel stalled")
    check(server["health"] == "up" and "-" not in server["last_check"]["recent"],
          f"the backend's health checks while the tunnel stalled: {server}")
    # In all, a Release build grows ~200 KiB; a sanitizer build keeps every freed block in
    # quarantine (tens of MiB for the bytes that passed), so the bound that holds for both is the
    # stalled phase's: nothing is allocated while the tunnel waits.
    c.release(sid)
    count = sent // len(msg)
    got = c.frames(sid, count, timeout=60)
    check(len(got) == count and all(op == 2 and len(p) == 16384 for op, p in got),
          f"{len(got)} of {count} echoes after the stall")


def case_reset():
    wb = WsBackend()
    wb.start()
    lb = lbws.start_lb([wb], "--tunnel-timeout", "1s")
    c = H2(lb.https)
    sid = c.open("/ws-hold")
    check(c.answer(sid)[0] == "200", "tunnel open")
    c.send(sid, b"something")
    time.sleep(0.2)
    c.c.reset_stream(sid, 8)  # CANCEL
    c.flush()
    wait_for("the backend sees its connection closed after the client's RST_STREAM",
             lambda: any(e[0] == "/ws-hold" for e in wb.events), 5)
    check([e for e in wb.events if e[0] == "/ws-hold"][0][2] == b"something", f"{wb.events}")
    sid = c.open("/ws-reset")
    check(c.answer(sid)[0] == "200", "tunnel open")
    c.until(lambda: sid in c.resets, what="RST_STREAM after the backend's reset")
    check(c.resets[sid] == 8 and c.data.get(sid) == b"bye", f"{c.resets[sid]} {c.data.get(sid)!r}")
    sid = c.open("/ws")
    check(c.answer(sid)[0] == "200", "tunnel open")
    t0 = time.monotonic()
    c.until(lambda: sid in c.resets, timeout=5, what="RST_STREAM at the tunnel timeout")
    check(c.resets[sid] == 8 and time.monotonic() - t0 > 0.8, f"timeout: {c.resets[sid]}")
    wait_for("no tunnel open", lambda: tunnels(lb)[0] == 0, 5)
    check(tunnels(lb)[1] == 3, f"three tunnels counted: {tunnels(lb)}")
    terms = [dict(re.findall(r'(\w+)=(\S+)', ln)).get("term") for ln in access_lines(lb, "path=/ws")]
    check(sorted(terms) == ["backend-reset", "client-reset", "tunnel-timeout"], f"terms: {terms}")
    print("client RST_STREAM closed the backend side; backend reset and tunnel timeout: CANCEL")


def case_idle():
    """30 h2 connections, each having served a request and then opened a tunnel that echoed a
    40 KB message, go quiet: each gives back its output buffer and OpenSSL's record buffers
    (250 ms after its last byte, as a connection without streams does), so the LB's RSS per
    connection stays small (Release: 110 KiB kept before, 30 KiB now; ASan without quarantine:
    155 KiB before, 65-80 KiB now, its red zones counting); then every tunnel echoes
    again and every connection serves a request (the buffers come back)."""
    # Under ASan, freed blocks wait in a quarantine (256 MB) instead of being reused: what the
    # connections gave back would still count. Without it, RSS is what is held.
    os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                         "quarantine_size_mb=0"]))
    be = journey_backend()
    lb = lbws.start_lb([be], "--workers", "1", "--access-log", "off")

    def tunnel():
        c = H2(lb.https)
        g = c.get()
        c.until(lambda: g in c.ended, what="the first request's response")
        sid = c.open("/ws")
        check(c.answer(sid)[0] == "200", "tunnel open")
        m = os.urandom(40000)
        c.send(sid, frame(0x2, m))
        check(c.frames(sid, 1) == [(2, m)], "the 40 KB echo")
        return c, sid

    warm = [tunnel() for _ in range(10)]  # the worker's free lists and first blocks exist
    time.sleep(1)
    rss0 = rss_kib(lb.pid)
    conns = [tunnel() for _ in range(30)]
    time.sleep(1)  # quiet: past 250 ms, and past the worker's 300 ms trim tick
    per = (rss_kib(lb.pid) - rss0) / len(conns)
    print(f"idle: {per:.1f} KiB of LB RSS per quiet h2 connection with a tunnel")
    check(per < 100, f"{per:.1f} KiB per quiet connection: its buffers were kept")
    for c, sid in conns + warm:
        m = os.urandom(20000)
        c.send(sid, frame(0x2, m))
        check(c.frames(sid, 1) == [(2, m)], "an echo after the quiet")
        g = c.get()
        c.until(lambda: g in c.ended, what="a request after the quiet")
        check(dict(c.heads[g])[":status"] == "200", "the request's answer after the quiet")
        c.s.close()
    print("idle: every tunnel echoed and every connection served a request after the quiet")


def case_drain():
    """90 tunnels on one h2 connection, each having echoed a message: the LB's RSS per idle
    tunnel (no buffer held on the client side once its bytes are written); then SIGTERM: the
    tunnels keep working during the drain delay, then GOAWAY, the tunnels end at the shutdown
    deadline, one access-log line each, exit 0."""
    be = journey_backend()
    lb = lbws.start_lb([be], "--drain-delay", "1s", "--shutdown-timeout", "2s")
    c = H2(lb.https)
    rss0 = rss_kib(lb.pid)
    sids = [c.open("/ws") for _ in range(90)]
    for sid in sids:
        check(c.answer(sid)[0] == "200", f"tunnel {sid} open")
        c.send(sid, frame(0x1, b"m%d" % sid))
    for sid in sids:
        check(c.frames(sid, 1) == [(0x1, b"m%d" % sid)], f"echo on {sid}")
    time.sleep(0.3)
    per = (rss_kib(lb.pid) - rss0) / len(sids)
    print(f"90 idle WebSockets on one h2 connection: LB RSS +{per:.1f} KiB per tunnel")
    # Release build: ~14 KiB (the stream, its head block, the backend connection, TLS on one
    # side); sanitizer builds keep freed blocks in quarantine and their own red zones.
    check(per < 120, f"{per:.1f} KiB per idle h2 tunnel")
    c.draining = True
    lb.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    # During the drain delay (/healthz 503, no GOAWAY yet: python3-h2 takes no DATA after one).
    c.send(sids[0], frame(0x1, b"during drain"))
    check(c.frames(sids[0], 1) == [(0x1, b"during drain")], "a tunnel works during the drain")
    c.s.settimeout(10)
    try:  # GOAWAY, then the tunnels end at the shutdown deadline and the connection closes
        while c.s.recv(65536):
            pass
    except OSError:
        pass
    rc = lb.wait(10)
    took = time.monotonic() - t0
    check(rc == 0 and took < 6, f"journey-lb exit {rc} {took:.1f}s after SIGTERM")
    lines = access_lines(lb, r"proto=h2 .*path=/ws ")
    check(len(lines) == 90, f"one access-log line per tunnel: {len(lines)}")
    print(f"SIGTERM: tunnels served during the drain, ended by the deadline, exit 0 in {took:.1f}s")


PAGE = b"""<!doctype html><html><body><pre id="out">pending</pre><img src="/hold"><script>
const ws = new WebSocket('wss://' + location.host + '/ws');
ws.onopen = () => ws.send('hello from chromium over h2');
ws.onmessage = (e) => { document.getElementById('out').textContent = 'echo:' + e.data; ws.close(); };
ws.onerror = () => { document.getElementById('out').textContent = 'error'; };
</script></body></html>"""


def case_chromium():
    from browser import chromium_args, find_chromium, netlog_events, run_chromium
    chromium = find_chromium()
    wb = WsBackend()
    wb.PAGE = PAGE
    wb.start()
    lb = lbws.start_lb([wb])
    netlog = os.path.join(TMP, "netlog-ws.json")
    # --dump-dom returns at load; the virtual time budget lets the script's echo come first.
    code, dom, err = run_chromium(chromium_args(chromium, netlog, A.certs) + [
                                  "--virtual-time-budget=5000", "--dump-dom",
                                  f"https://{HOST}:{lb.https}/page"], 180)
    check(code == 0, "chromium was killed after 180 s" if code is None
          else f"chromium exit {code}: {err[-800:]}")
    check("echo:hello from chromium over h2" in dom, f"the page says: {dom[-300:]!r}")
    events = netlog_events(netlog)
    sessions = {sid for t, _, sid, p in events
                if t == "HTTP2_SESSION" and p.get("host") == f"{HOST}:{lb.https}"}
    connects = [p.get("headers", []) for t, _, sid, p in events if sid in sessions and
                t == "HTTP2_SESSION_SEND_HEADERS" and ":method: CONNECT" in p.get("headers", [])]
    check(connects and ":protocol: websocket" in connects[0] and ":path: /ws" in connects[0],
          f"no extended CONNECT on the h2 session in the net log: {connects}")
    check([m for m, p, _ in wb.requests if p == "/ws"] == ["GET"], f"backend: {wb.requests}")
    # The page's load (then --dump-dom) waits for /hold, which the backend answers only after it
    # has echoed the message: the DOM is read after the echo, not after a guessed delay.
    print(f"Chromium opened its WebSocket over the h2 session: {connects[0]}")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = lbws.A = case_args(CASES)
    run_case(CASES[A.case])
