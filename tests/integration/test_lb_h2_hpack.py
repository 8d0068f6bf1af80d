#!/usr/bin/env python3
"""HPACK of journey-lb's HTTP/2 responses with its own response fields on (the defaults:
Server-Timing, X-Served-By, X-Request-Id). Debian's python3-h2 is the client (run with
/usr/bin/python3); its HPACK decoder mirrors the LB's encoder, so the decoder's dynamic table is
what the LB keeps for the connection. The backend is a Python HTTP/1.1 server with fixed fields.

Cases:
  table  60 requests one after another on one connection: every response has the backend's
         fields then Server-Timing, X-Served-By, X-Request-Id, in the order and with the values
         an HTTP/1.1 client of the same LB gets (Server-Timing and X-Request-Id differ per
         request: their form is checked, and the request ids are all different); the backend's
         Set-Cookie always, Server-Timing and X-Request-Id from the second response on, arrive
         as never-indexed literals (RFC 7541 section 6.2.3), the other fields as indexed or
         indexable ones; the dynamic table holds no Set-Cookie entry, only the first
         response's Server-Timing and X-Request-Id (their names, for the later responses to
         refer to), and stays the same from the second response on (a value that never repeats
         would be one more entry per response).
  local  answers made by the LB itself (503: its only backend is down): X-Request-Id and
         Server-Timing never indexed, the table unchanged from one answer to the next; a 501
         for a method over 64 characters (answered before any routing) has its X-Request-Id too.

usage: test_lb_h2_hpack.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import http.server, os, re, socket, ssl, sys, threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import case_args, cert_paths, check, free_ports, read_head, run_case  # noqa: E402
import loopback  # noqa: E402

A = None
HOST = "www.my-app.com"
BODY = b"hello from the backend\n"
NEVER = ("server-timing", "x-request-id", "set-cookie")
TIMING = re.compile(r"^[a-z]+;dur=[0-9.]+(, [a-z]+;dur=[0-9.]+)*$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Backend(http.server.BaseHTTPRequestHandler):
    """The same fields on every response (no Date: a value that changes every second would be a
    new table entry now and then, whatever the LB does)."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response_only(200)
        for n, v in (("Content-Type", "text/plain"), ("Cache-Control", "no-cache"),
                     ("Set-Cookie", "sid=31d4d96e407aad42; HttpOnly"), ("X-App", "v1"),
                     ("Content-Length", str(len(BODY)))):
            self.send_header(n, v)
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *a):
        pass


def setup(backend=True):
    port = free_ports(1)[0]
    if backend:  # else nothing listens there: every request gets the LB's 503
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Backend)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    return loopback.start_lb(A.lb, A.certs, [("app", port)], "--workers", "1")


def tls(port, alpn):
    ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
    ctx.set_alpn_protocols([alpn])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                        server_hostname=HOST)
    check(s.selected_alpn_protocol() == alpn, f"ALPN {alpn}")
    return s


class H2:
    """One h2 connection; every header block the decoder decodes is kept as hpack returned it
    (NeverIndexedHeaderTuple for a never-indexed literal)."""

    def __init__(self, port):
        import h2.config, h2.connection
        self.s = tls(port, "h2")
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                      header_encoding="utf-8"))
        self.blocks = []
        decode = self.c.decoder.decode

        def keep(data, raw=False):
            out = decode(data, raw=raw)
            self.blocks.append(out)
            return out
        self.c.decoder.decode = keep
        self.c.initiate_connection()
        self.s.sendall(self.c.data_to_send())

    def get(self, path, method="GET"):
        """(fields as decoded, in order, with their hpack types; body) of one request."""
        import h2.events
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", method), (":scheme", "https"), (":path", path),
                                  (":authority", HOST)], end_stream=True)
        self.s.sendall(self.c.data_to_send())
        self.blocks.clear()
        body, ended = bytearray(), False
        while not ended:
            data = self.s.recv(65536)
            check(data, "the LB closed the connection")
            for ev in self.c.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    ended = True
                elif isinstance(ev, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    check(False, f"the LB ended a stream or the connection: {ev}")
            self.s.sendall(self.c.data_to_send())
        check(len(self.blocks) == 1, f"{path}: {len(self.blocks)} header blocks, expected 1")
        return [(str(n, "latin-1") if isinstance(n, bytes) else n,
                 str(v, "latin-1") if isinstance(v, bytes) else v, f) for n, v, f in
                ((h[0], h[1], type(h).__name__) for h in self.blocks[0])], bytes(body)

    def table(self):
        return [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
                for n, v in self.c.decoder.header_table.dynamic_entries]


def h1_fields(port, path):
    """The same request over HTTP/1.1: [(lowercased name, value)] of the response, in order."""
    s = tls(port, "http/1.1")
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    head = read_head(s).decode("latin-1").split("\r\n\r\n")[0]
    s.close()
    lines = head.split("\r\n")
    check(lines[0].startswith("HTTP/1.1 200"), f"HTTP/1.1: {lines[0]}")
    return [(ln.split(":", 1)[0].lower(), ln.split(":", 1)[1].strip()) for ln in lines[1:] if ln]


def check_never(fields, what, never=NEVER):
    for n, v, kind in fields:
        want = "NeverIndexedHeaderTuple" if n in never else "HeaderTuple"
        check(kind == want, f"{what}: {n} came as {kind}, expected {want}")


def check_table(table, what, allowed=()):
    for e in table:
        check(e[0] not in NEVER or e in allowed, f"{what}: the dynamic table holds {e}")


def case_table():
    lb = setup()
    one = h1_fields(lb.https, "/page")
    hop = ("connection", "keep-alive", "transfer-encoding")
    one = [(n, v) for n, v in one if n not in hop]
    check([n for n, _ in one][-3:] == ["server-timing", "x-served-by", "x-request-id"],
          f"HTTP/1.1 fields: {one}")
    c = H2(lb.https)
    ids, first = set(), None
    for i in range(60):
        fields, body = c.get(f"/page/{i}")
        check(body == BODY, f"request {i}: body {body!r}")
        check(fields[0][:2] == (":status", "200"), f"request {i}: {fields[0]}")
        got = [(n, v) for n, v, _ in fields[1:]]
        check([n for n, _ in got] == [n for n, _ in one],
              f"request {i}: fields {[n for n, _ in got]}, HTTP/1.1 gets {[n for n, _ in one]}")
        for (n, v), (_, v1) in zip(got, one):
            if n == "server-timing":
                check(TIMING.match(v) and "total;dur=" in v, f"request {i}: server-timing {v!r}")
            elif n == "x-request-id":
                check(UUID.match(v) and v not in ids, f"request {i}: x-request-id {v!r}")
                ids.add(v)
            else:
                check(v == v1, f"request {i}: {n}: {v!r}, HTTP/1.1 gets {v1!r}")
        check_never(fields, f"request {i}", NEVER if i else ("set-cookie",))
        t = c.table()
        if i == 0:
            ours = [(n, v) for n, v in got if n in ("server-timing", "x-request-id")]
            first = t
        check_table(t, f"after request {i}", ours)
        check(t == first, f"after request {i}: the dynamic table changed: {t}, was {first}")
    check(any(n == "x-served-by" for n, _ in first), f"x-served-by is not indexed: {first}")
    check(all(e in first for e in ours), f"the first response's own fields not indexed: {first}")
    print(f"60 responses: dynamic table {len(first)} entries, "
          f"{sum(len(n) + len(v) + 32 for n, v in first)} bytes, all along")


def case_local():
    lb = setup(backend=False)
    c = H2(lb.https)
    tables = []
    for i in range(10):
        fields, body = c.get(f"/x/{i}")
        check(fields[0][:2] == (":status", "503"), f"answer {i}: {fields[0]}")
        names = [n for n, _, _ in fields]
        want = [":status", "content-type", "content-length", "x-request-id", "server-timing"]
        check(names == want, f"answer {i}: fields {names}")
        check_never(fields, f"answer {i}")
        tables.append(c.table())
        check_table(tables[-1], f"after answer {i}")
    check(all(t == tables[1] for t in tables[1:]), f"the dynamic table changed: {tables}")
    # answered before the request goes anywhere (a method over 64 characters): its id too
    fields, body = c.get("/x/m", method="M" * 70)
    names = [n for n, _, _ in fields]
    rid = dict((n, v) for n, v, _ in fields).get("x-request-id", "")
    check(fields[0][:2] == (":status", "501") and len(rid) == 36,
          f"501 for an over-long method: fields {names}, x-request-id {rid!r}")
    check_never(fields, "the 501")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES)
    run_case(CASES[A.case])
