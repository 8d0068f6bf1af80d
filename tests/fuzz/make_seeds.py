#!/usr/bin/env python3
"""Writes the seed corpora under corpus/<target>/ (run once; the files are committed).
Regression inputs of fixed crashes are added beside them by hand, named regress-*."""
import gzip, os, ssl, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


H = b"Host: www.my-app.com\r\n"
reqs = {
    "get": b"GET /my-app/data HTTP/1.1\r\n" + H + b"User-Agent: journey\r\nAccept: */*\r\n\r\n",
    "get10": b"GET /my-app/data HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "post_cl": b"POST /my-app/data HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
    "post_chunked": b"POST /my-app/data HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    "hop": b"GET /my-app/data?x=1 HTTP/1.1\r\n" + H + b"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
           b"TE: trailers\r\nX-Forwarded-For: 192.0.2.1\r\nVia: 1.1 other\r\nX-Request-Id: abc-123\r\n\r\n",
    "options": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\n" + H + b"\r\nGET /b HTTP/1.1\r\n" + H + b"\r\n",
    "cl_te": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "te_gzip": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "h2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http09": b"GET /\r\n\r\n",
}
# The requests journey-lb forwarded wrongly before lb/request_check.c (found by the hostile
# table, tests/integration/hostile_requests.py): replayed by every fuzz run from now on.
regress = {
    "regress-obs-fold-crlf-in-value": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "regress-bare-lf-request-line": b"GET /my-app/data HTTP/1.1\n" + H + b"\r\n",
    "regress-http09-forwarded": b"GET /my-app/data\r\n\r\n",
    "regress-http20-forwarded": b"GET /my-app/data HTTP/2.0\r\n" + H + b"\r\n",
    "regress-te-identity-body-as-request": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
    "regress-te-gzip-dropped": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "regress-two-hosts": b"GET / HTTP/1.1\r\n" + H + b"Host: other.example\r\n\r\n",
    "regress-connection-content-length": b"POST / HTTP/1.1\r\n" + H + b"Connection: Content-Length\r\nContent-Length: 4\r\n\r\nGET ",
    "regress-bad-trailer": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n",
    "regress-http10-no-host": b"GET /my-app/data HTTP/1.0\r\n\r\n",
}
# Strict chunks, targets, trailers and methods (tests/integration/strict_requests.py): a bare CR
# in a chunk-size line, an extension or a trailer ended the message at another byte.
CH = b"POST /my-app/data HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
regress.update({
    "regress-chunk-bare-cr-size-line": CH + b"5\r\nhello\r\n0\rX\r\n\r\n",
    "regress-chunk-bare-cr-last-chunk": CH + b"0\r\xff\nX-T: y\r\n\r\n",
    "regress-chunk-bare-cr-extension": CH + b"5;a\rb\r\nhello\r\n0\r\n\r\n",
    "regress-chunk-bare-cr-trailer": CH + b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n",
    "regress-chunk-trailer-obs-fold": CH + b"0\r\nX-T: y\r\n z\r\n\r\n",
    "regress-chunk-long-extension": CH + b"1;" + b"e" * 1100 + b"\r\na\r\n0\r\n\r\n",
    "regress-chunk-many-trailers": CH + b"0\r\n" + b"X-T: a\r\n" * 120 + b"\r\n",
    "regress-target-htab": b"GET /my-app/data\tHTTP/1.0 HTTP/1.1\r\n" + H + b"\r\n",
    "chunk_ext_trailers": CH + b"5;b=\"x y\"\r\nhello\r\n0;last\r\nX-T: y\r\nX-U:\tz\r\n\r\n",
    "chunk_trailers_filtered": CH + b"3\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX-Sum:abc \r\n"
                               b"Host: evil\r\nX-Empty:\r\nVia: 1.1 x\r\n\r\n",
    "absolute_form": b"GET http://www.my-app.com/my-app/../data?x=1 HTTP/1.1\r\nHost: other\r\n\r\n",
    "query_method": b"QUERY /my-app/%2e%2E/data HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nq=1",
})
for k, v in list(reqs.items()) + list(regress.items()):
    put("fuzz_lb_request", k, v)

body = b'{"backend":"b1"}'
resps = {
    "cl": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "close": b"HTTP/1.0 200 OK\r\nX-Backend: b1\r\n\r\nbody until close",
    "204": b"HTTP/1.1 204 No Content\r\nX-Request-Id: r1\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
    "100": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "conn_listed": b"HTTP/1.1 503 Service Unavailable\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nContent-Length: 4\r\n\r\ndown",
    "conn_content_length": b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 4\r\n\r\nbody",
    "conn_te": b"HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "204_length": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
    "te_gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "103": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}
for k, v in resps.items():
    for flags in (0, 2, 1):
        put("fuzz_lb_response", f"{k}-{flags}", bytes([flags]) + v)

with open(os.path.join(HERE, "..", "..", "lb", "journey-lb.conf"), "rb") as f:
    put("fuzz_lb_config", "example", f.read())
put("fuzz_lb_config", "pools", b"[lb]\nlisten = http://127.0.0.1:8080\nworkers = 1\nalgorithm = least-conn\n"
    b"client-header-timeout = 5s\nmax-body-size = 1m\n[pool my-app]\nbackend = b1=127.0.0.1:9001,weight=3\n"
    b"backend = b2=[::1]:9002\nroute = /my-app/\n[pool other]\nalgorithm = round-robin\n"
    b"backend = c1=127.0.0.1:9101\nroute = /other/\n")
put("fuzz_lb_config", "errors", b"[lb]\nlisten = ftp://x\nworkers = many\n[pool]\nbackend = =:\nroute = nope\n[weird\n")
put("fuzz_lb_config", "hash", b"[lb]\nlisten = http://127.0.0.1:8080\nalgorithm = hash\nhash-key = header:X-User\n"
    b"backend = b1=127.0.0.1:9001\n[pool p]\nalgorithm = hash\nhash-key = cookie:session\n"
    b"backend = c1=127.0.0.1:9101,weight=2\nroute = /p/\n[pool q]\nhash-key = path\nbackend = d1=127.0.0.1:9201\n")
# hash-key value, request target, then header lines (fuzz_lb_hash_key.c)
put("fuzz_lb_hash_key", "cookies", b'cookie:session\n/my-app/data?x=1\nHost: www.my-app.com\n'
    b'Cookie: theme=dark; session="s-42" ; b=2\nCookie: session=late\n')
put("fuzz_lb_hash_key", "header", b"header:X-User\nhttp://www.my-app.com:8443/a/b?q#f\nx-user:   alice \t\nX-User: bob\n")
put("fuzz_lb_hash_key", "odd", b"path\n*\nCookie: ;;  ; novalue; =x; empty=; ok = yes\n")

st = b"Server-Timing: queue;dur=0.02, connect;dur=0.3, backend;dur=1.2, total;dur=1.6\r\nX-Served-By: b1\r\nX-Request-Id: 0f8fad5b\r\n"
gz = gzip.compress(body, mtime=0)  # deterministic: the same bytes on every run
dfl = zlib.compress(body)
cresps = {
    "cl": b"HTTP/1.1 200 OK\r\n" + st + b"Content-Length: %d\r\n\r\n" % len(body) + body,
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(gz) + gz,
    "deflate_chunked": b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%x\r\n" % len(dfl) + dfl + b"\r\n0\r\n\r\n",
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    "br": b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc",
    "404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
}
for k, v in cresps.items():
    put("fuzz_client_http", k, b"\x00\x10" + v)
    put("fuzz_client_http", k + "-head", b"\x01\xff" + v)


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


# HTTP/2 from the server (fuzz_client_h2): HPACK by hand from the static table (0x88 :status 200,
# 0x8d :status 404, 0x5c content-length with indexing, 0x0f 0x10 content-type literal)
SETTINGS = frame(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535))
ACK = frame(4, 1, 0, b"")
OK_HEAD = frame(1, 4, 1, b"\x88\x5c\x012")
h2resps = {
    "ok": SETTINGS + ACK + OK_HEAD + frame(0, 1, 1, b"ok"),
    "no_length": SETTINGS + frame(1, 4, 1, b"\x88") + frame(0, 0, 1, b"a" * 100) + frame(0, 1, 1, b"b"),
    "short_body": SETTINGS + OK_HEAD + frame(0, 1, 1, b"o"),
    "rst": SETTINGS + frame(3, 0, 1, struct.pack(">I", 7)),
    "goaway": SETTINGS + OK_HEAD + frame(7, 0, 0, struct.pack(">II", 1, 0)) + frame(0, 1, 1, b"ok"),
    "interim": SETTINGS + frame(1, 4, 1, b"\x08\x03103") + OK_HEAD + frame(0, 1, 1, b"ok"),
    "trailers": SETTINGS + frame(1, 4, 1, b"\x88") + frame(0, 0, 1, b"ok") + frame(1, 5, 1, b"\x40\x01x\x01y"),
    "continuation": SETTINGS + frame(1, 0, 1, b"\x88") + frame(9, 4, 1, b"\x5c\x012") + frame(0, 1, 1, b"ok"),
    "window_ping": SETTINGS + frame(8, 0, 0, struct.pack(">I", 1000)) + frame(6, 0, 0, bytes(8)) + OK_HEAD
                   + frame(0, 1, 1, b"ok"),
    "two_streams": SETTINGS + OK_HEAD + frame(1, 4, 3, b"\x8d\x5c\x010") + frame(0, 1, 3, b"")
                   + frame(0, 1, 1, b"ok"),
}
for k, v in h2resps.items():
    put("fuzz_client_h2", k, b"\x02\x20" + v)
    put("fuzz_client_h2", k + "-head", b"\x01\xff" + v)


def name(n):
    return b"".join(bytes([len(p)]) + p for p in n.split(b".")) + b"\x00"


def dns_answer(qtype, answers):
    hdr = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, len(answers), 0, 0)
    q = name(b"www.my-app.com") + struct.pack(">HH", qtype, 1)
    out = hdr + q
    for owner, t, data in answers:
        out += name(owner) + struct.pack(">HHIH", t, 1, 300, len(data)) + data
    return out


a = dns_answer(1, [(b"www.my-app.com", 5, name(b"lb.my-app.com")), (b"lb.my-app.com", 1, bytes([203, 0, 113, 67]))])
put("fuzz_client_dns", "a_cname", b"\x00" + a)
put("fuzz_client_dns", "a_two", b"\x00" + dns_answer(1, [(b"www.my-app.com", 1, bytes([192, 0, 2, 1])),
                                                          (b"www.my-app.com", 1, bytes([192, 0, 2, 2]))]))
put("fuzz_client_dns", "aaaa", b"\x01" + dns_answer(28, [(b"www.my-app.com", 28, bytes(15) + b"\x01")]))
put("fuzz_client_dns", "nodata", b"\x00" + dns_answer(1, []))

# A real ClientHello (TLS 1.3 and 1.2-only) from Python's OpenSSL over memory BIOs.
for label, maxv in (("tls13", ssl.TLSVersion.TLSv1_3), ("tls12", ssl.TLSVersion.TLSv1_2)):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = maxv
    ctx.set_alpn_protocols(["http/1.1"])
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    s = ctx.wrap_bio(i, o, server_hostname="www.my-app.com")
    try:
        s.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = o.read()
    put("fuzz_tls_server", label, b"\x00" + hello)
    put("fuzz_tls_server", label + "-split", b"\x03" + hello)
put("fuzz_tls_server", "plain_http", b"\x00GET / HTTP/1.1\r\n\r\n")


# fuzz_backend_ws: byte 0 even = a request head for the handshake; odd = an echo session whose
# input interleaves a control byte (piece size, how much the socket drains) before each piece.
def ws_frame(opcode, payload, fin=True, key=b"\x01\x02\x03\x04"):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_handshake(extra=b"", upgrade=b"Upgrade: websocket\r\n", version=b"13"):
    return (b"GET /ws HTTP/1.1\r\n" + H + upgrade + b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: " + version +
            b"\r\n" + extra + b"\r\n")


put("fuzz_backend_ws", "handshake-good", b"\x00" + ws_handshake(b"X-Request-Id: r1\r\n"))
put("fuzz_backend_ws", "handshake-no-upgrade", b"\x00" + ws_handshake(upgrade=b""))
put("fuzz_backend_ws", "handshake-version-8", b"\x00" + ws_handshake(version=b"8"))
put("fuzz_backend_ws", "session-text-ping-close", b"\x01\x7f" + ws_frame(1, b"hello") + b"\x45" +
    ws_frame(9, b"p") + b"\xff" + ws_frame(8, struct.pack("!H", 1000) + b"bye"))
put("fuzz_backend_ws", "session-fragments", b"\x01\x10" + ws_frame(2, b"a" * 100, fin=False) +
    b"\x50" + ws_frame(0, b"b" * 100) + b"\x3f" + ws_frame(1, "é".encode()))
put("fuzz_backend_ws", "session-big", b"\x01\x3f" + ws_frame(2, bytes(range(256)) * 12))


# fuzz_lb_h2: frames after the client preface (the target skips it), HPACK literals by hand.
def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(fields):
    out = b""
    for n, v in fields:  # literal without indexing, new name, no Huffman (lengths < 127)
        out += b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v
    return out


H2_REQ = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"www.my-app.com"),
          (b":path", b"/my-app/data")]
h2_settings = h2_frame(4, 0, 0)
put("fuzz_lb_h2", "get", h2_settings + h2_frame(1, 5, 1, hpack_literal(H2_REQ + [(b"cookie", b"a=1"),
                                                                                (b"cookie", b"b=2")])))
put("fuzz_lb_h2", "post-cl", h2_settings + h2_frame(1, 4, 1, hpack_literal(
    [(b":method", b"POST")] + H2_REQ[1:] + [(b"content-length", b"5")])) + h2_frame(0, 1, 1, b"hello"))
put("fuzz_lb_h2", "continuation", h2_settings + h2_frame(1, 1, 1, hpack_literal(H2_REQ[:2])) +
    h2_frame(9, 4, 1, hpack_literal(H2_REQ[2:])))
put("fuzz_lb_h2", "host-and-reset", h2_settings + h2_frame(1, 5, 1, hpack_literal(
    H2_REQ[:2] + H2_REQ[3:] + [(b"host", b"h.example"), (b"te", b"trailers")])) +
    h2_frame(1, 5, 3, hpack_literal(H2_REQ)) + h2_frame(3, 0, 3, struct.pack(">I", 8)))
WS_REQ = [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
          (b":path", b"/ws"), (b":authority", b"www.my-app.com"), (b"sec-websocket-version", b"13")]
put("fuzz_lb_h2", "ws-connect", h2_settings + h2_frame(1, 4, 1, hpack_literal(
    WS_REQ + [(b"sec-websocket-protocol", b"chat, superchat"),
              (b"sec-websocket-key", b"AAAAAAAAAAAAAAAAAAAAAA==")])) + h2_frame(0, 0, 1, b"\x81\x85abcd"))
put("fuzz_lb_h2", "ws-connect-bad", h2_settings +
    h2_frame(1, 4, 1, hpack_literal(WS_REQ[:3] + WS_REQ[4:])) +                    # no :path
    h2_frame(1, 4, 3, hpack_literal([(b":method", b"GET")] + WS_REQ[1:])) +        # not CONNECT
    h2_frame(1, 4, 5, hpack_literal(WS_REQ[:1] + [(b":protocol", b"h2c")] + WS_REQ[2:])) +
    h2_frame(1, 5, 7, hpack_literal(WS_REQ)) +                                      # ended
    h2_frame(1, 4, 9, hpack_literal(WS_REQ[:1] + WS_REQ[4:5])))                     # plain CONNECT
POST_NO_LENGTH = [(b":method", b"POST")] + H2_REQ[1:]
put("fuzz_lb_h2", "post-trailers", h2_settings + h2_frame(1, 4, 1, hpack_literal(POST_NO_LENGTH)) +
    h2_frame(0, 0, 1, b"hello") + h2_frame(1, 5, 1, hpack_literal(
        [(b"x-checksum", b"abc"), (b"host", b"evil.example"), (b"x-forwarded-for", b"6.6.6.6"),
         (b"grpc-status", b"0")])))
put("fuzz_lb_h2", "post-long", h2_settings + h2_frame(1, 4, 1, hpack_literal(POST_NO_LENGTH)) +
    b"".join(h2_frame(0, 0, 1, bytes([i]) * 16000) for i in range(4)) + h2_frame(0, 1, 1, b"end"))
print("seeds written")
