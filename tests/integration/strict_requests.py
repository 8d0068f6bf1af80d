#!/usr/bin/env python3
"""Request integrity: what journey-lb forwards is exactly what it read, or nothing.

Two journey-backends record every byte they receive (--record): b1 serves the /my-app/ route,
b2 everything else (the "private" side). Each case sends raw requests to the LB's plain port and
checks what the client got and, from the recordings, exactly what each backend received:

  chunked       a bare CR in a chunk-size line, an extension or a trailer, whitespace after a
                size, obs-fold in trailers: 400 and nothing forwarded; trailers over
                max-header-size: 431; extensions count against max-body-size (413); a valid
                body with extensions and trailers is relayed byte for byte
  trailers      the trailer section is filtered as HTTP/2's (trailer_table.py, the same table):
                the backend gets the chunks as sent and only the kept fields, in order, also
                when the section comes one byte per write; only dropped fields: 0 CRLF CRLF;
                a section over max-header-size after a chunk went out: 431, none of it sent
  target        HTAB, FF, VT, DEL, controls or non-ASCII inside the target: 400, nothing forwarded
  absolute      GET http://host/path: routed by the path, forwarded in origin-form with the
                target's authority as the Host
  methods       QUERY, PROPFIND, DESCRIBE, a custom token: forwarded as received; CONNECT 501;
                with --methods an unlisted method gets 501 and nothing is forwarded
  paths         /my-app/../private/key.txt reaches b2 as /private/key.txt, never b1; %2F next to
                a dot segment: 400; normalize-path = off forwards the path as received
  differential  every row of the hardening table (hostile_requests.py) and the rows below: the
                bytes forwarded parse with h11 (an independent strict parser, Debian's
                python3-h11) into exactly the messages journey-lb saw: same count, method, target
                (as routed), header fields, body and trailers; a refused request forwards nothing

usage: strict_requests.py --lb PATH --backend PATH --certs DIR --case NAME
"""
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (TMP, check, free_ports, read, recv_all, run_main, start,  # noqa: E402
                           start_backend, status_of, wait_port, wait_until)
from hostile_requests import TABLE as HOSTILE  # noqa: E402
from trailer_table import forged_values, request_trailers  # noqa: E402

H = b"Host: www.my-app.com\r\n"
CLOSE = b"Connection: close\r\n"  # the answer ends with the connection: no wait for a timeout
CHUNKED = b"Transfer-Encoding: chunked\r\n"


def post(body, headers=CHUNKED, target=b"/my-app/data"):
    return b"POST " + target + b" HTTP/1.1\r\n" + H + CLOSE + headers + b"\r\n" + body


def get(target=b"/my-app/data", method=b"GET", headers=H):
    return method + b" " + target + b" HTTP/1.1\r\n" + headers + CLOSE + b"\r\n"


# Refused before anything goes out: name, bytes, status (the five variants of the red-team pass
# first, then their neighbours).
REFUSED = [
    ("chunk_bare_cr_size_line", post(b"5\r\nhello\r\n0\rX\r\n\r\n"), 400),
    ("chunk_bare_cr_last_chunk", post(b"0\r\xff\nX-T: y\r\n\r\n"), 400),
    ("chunk_bare_cr_extension", post(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_bare_cr_trailer", post(b"5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n"), 400),
    ("chunk_bare_cr_end", post(b"5\r\nhello\r\n0\r\n\r\r\n"), 400),
    ("chunk_space_after_size", post(b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_trailer_obs_fold", post(b"0\r\nX-T: y\r\n z\r\n\r\n"), 400),
    ("chunk_trailer_space_name", post(b"0\r\nX T: y\r\n\r\n"), 400),
    ("chunk_trailer_bare_lf", post(b"0\r\nX-T: y\nX-U: z\r\n\r\n"), 400),
    ("chunk_ext_too_long", post(b"5;" + b"e" * 1100 + b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_trailers_too_large", post(b"0\r\nX-T: " + b"a" * 9000 + b"\r\n\r\n"), 431),
    ("chunk_too_many_trailers", post(b"0\r\n" + b"X-T: a\r\n" * 101 + b"\r\n"), 431),
    ("target_htab", b"GET /my-app/data\tHTTP/1.0 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_ff", get(b"/my-app/a\x0cb"), 400),
    ("target_vt", get(b"/my-app/a\x0bb"), 400),
    ("target_del", get(b"/my-app/a\x7fb"), 400),
    ("target_ctl", get(b"/my-app/a\x01b"), 400),
    ("target_non_ascii", get(b"/my-app/caf\xc3\xa9"), 400),
    ("path_above_root", get(b"/my-app/../../etc/passwd"), 400),
    ("path_dotdot_encoded_slash", get(b"/my-app/..%2Fprivate/key.txt"), 400),
    ("path_bad_percent", get(b"/my-app/%zz"), 400),
    ("absolute_userinfo", get(b"http://user@www.my-app.com/my-app/data"), 400),
    ("connect", get(b"www.my-app.com:443", b"CONNECT"), 501),
]

# Forwarded: name, bytes, the target the backend must get, the backend ("b1" or "b2").
ACCEPTED = [
    ("plain_get", get(), b"/my-app/data", "b1"),
    ("chunked_ext_trailers", post(b"5;b=\"x y\"\r\nhello\r\n0;last\r\nX-T: y\r\nX-U:\tz\r\n\r\n"),
     b"/my-app/data", "b1"),
    ("chunked_many", post(b"1\r\na\r\n" * 50 + b"0\r\n\r\n"), b"/my-app/data", "b1"),
    ("content_length", post(b"hello", b"Content-Length: 5\r\n"), b"/my-app/data", "b1"),
    ("obs_text_value", get(headers=H + b"X-A: caf\xc3\xa9\r\n"), b"/my-app/data", "b1"),
    ("absolute_form", get(b"http://www.my-app.com/my-app/data?x=1", headers=b"Host: other\r\n"),
     b"/my-app/data?x=1", "b1"),
    ("absolute_form_no_path", get(b"HTTP://www.my-app.com:8080"), b"/", "b2"),
    ("query_method", post(b"q=1", b"Content-Length: 3\r\n").replace(b"POST", b"QUERY", 1),
     b"/my-app/data", "b1"),
    ("propfind", get(method=b"PROPFIND"), b"/my-app/data", "b1"),
    ("describe", get(method=b"DESCRIBE"), b"/my-app/data", "b1"),
    ("custom_method", get(method=b"X-CUSTOM.1"), b"/my-app/data", "b1"),
    ("dot_segments", get(b"/my-app/../private/key.txt"), b"/private/key.txt", "b2"),
    ("encoded_dots", get(b"/my-app/%2e%2E/private/key.txt"), b"/private/key.txt", "b2"),
    ("slashes_and_unreserved", get(b"//my-app///%64ata/./x?y=/../z"), b"/my-app/data/x?y=/../z", "b1"),
    ("encoded_slash", get(b"/my-app/a%2fb"), b"/my-app/a%2Fb", "b1"),
]


class Env:
    """journey-lb with /my-app/ -> b1 and everything else -> b2, each recording what it gets."""

    def __init__(self, a, *extra):
        self.a = a
        self.rec = {n: os.path.join(TMP, f"{n}.record") for n in ("b1", "b2")}
        for path in self.rec.values():
            open(path, "wb").close()
        self.b = {n: start_backend(a.backend, n, "--record", self.rec[n]) for n in ("b1", "b2")}
        plain, = free_ports(1)
        conf = os.path.join(TMP, "strict.conf")
        with open(conf, "w") as f:
            f.write(f"[lb]\nlisten = http://127.0.0.1:{plain}\nworkers = 1\nmax-body-size = 64k\n"
                    f"max-header-size = 8k\nmax-headers = 100\nclient-header-timeout = 2s\n"
                    f"backend = b2=127.0.0.1:{self.b['b2'].port}\n"
                    f"[pool my-app]\nbackend = b1=127.0.0.1:{self.b['b1'].port}\nroute = /my-app/\n")
        self.lb = start([a.lb, "--config", conf, *extra], "lb")
        wait_port(plain, self.lb, "journey-lb")
        self.plain = plain

    def recorded(self):
        return {n: open(p, "rb").read() for n, p in self.rec.items()}

    def send(self, data, timeout=4.0):
        s = socket.create_connection(("127.0.0.1", self.plain), 5)
        s.sendall(data)
        out = recv_all(s, timeout)
        s.close()
        return out

    def exchange(self, data):
        """Sends data; returns (response, {backend: bytes it received meanwhile}). The LB writes
        the response after the backend answered, so the recordings are whole by then; a short
        quiet period catches bytes a refused request must not have sent."""
        before = self.recorded()
        out = self.send(data)
        deadline = time.time() + 0.3
        last = None
        while True:
            now = self.recorded()
            if now != last:
                last, deadline = now, time.time() + 0.2
            elif time.time() >= deadline:
                break
            time.sleep(0.02)
        return out, {n: now[n][len(before[n]):] for n in now}

    def access_lines(self, n):
        return [x for x in read(self.lb.outpath).splitlines() if " method=" in x][-n:]


def refused(env, rows):
    fails = []
    for name, data, want in rows:
        out, got = env.exchange(data)
        st = status_of(out)
        leaked = b"".join(got.values())
        print(f"{name:34} client got {st} backends got {len(leaked)} bytes")
        if st != want:
            fails.append(f"{name}: status {st}, expected {want}: {out[:200]!r}")
        if leaked:
            fails.append(f"{name}: {len(leaked)} bytes reached a backend: {leaked[:200]!r}")
    check(not fails, "\n".join(fails))


def case_chunked(a):
    env = Env(a)
    refused(env, [r for r in REFUSED if r[0].startswith("chunk_")])
    # a valid body with extensions and trailers goes on byte for byte
    body = b"5;b=\"x y\"\r\nhello\r\n0;last\r\nX-T: y\r\n\r\n"
    out, got = env.exchange(post(body))
    check(b"\r\nX-Backend: b1\r\n" in out, f"valid chunked body: the backend's answer expected: {out[:200]!r}")
    head, _, rest = got["b1"].partition(b"\r\n\r\n")
    check(rest == body, f"the backend must get the chunked body as sent: {got['b1']!r}")
    # chunk extensions count against max-body-size (64k): 100 chunks of 1 data byte and a 1000-
    # byte extension each pass it long before the data does
    big = b"".join(b"1;" + b"e" * 1000 + b"\r\na\r\n" for _ in range(100)) + b"0\r\n\r\n"
    out, got = env.exchange(post(big))
    print("extensions over max-body-size:", status_of(out), len(got["b1"]), "bytes forwarded")
    check(status_of(out) == 413 and len(got["b1"]) < 64 * 1024 + 4096,
          f"extensions must count against max-body-size: {status_of(out)} {len(got['b1'])}")


def trailer_section(rows):
    return b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v, _ in rows)


def body_forwarded(got):
    """What b1 received after the forwarded head."""
    return got["b1"].partition(b"\r\n\r\n")[2]


def case_trailers(a):
    env = Env(a)
    data = b"hello, trailers"
    chunks = b"5;x=1\r\n" + data[:5] + b"\r\n%x\r\n" % (len(data) - 5) + data[5:] + b"\r\n0\r\n"
    # the table HTTP/2 is held to (test_lb_h2_bodies.py), and a Content-Length (HTTP/2 refuses
    # one that does not match as malformed; here it is dropped)
    rows = request_trailers(hashlib.sha256(data).hexdigest()) + [("Content-Length", "5", False)]
    rows = [(n.title(), v, k) for n, v, k in rows]  # as an HTTP/1.1 client writes them
    want = chunks + trailer_section([r for r in rows if r[2]]) + b"\r\n"
    out, got = env.exchange(post(chunks + trailer_section(rows) + b"\r\n"))
    check(b"\r\nX-Backend: b1\r\n" in out, f"trailers: the backend's answer expected: {out[:200]!r}")
    check(body_forwarded(got) == want,
          f"trailers: the backend must get only the kept trailers: {body_forwarded(got)!r}")
    check(not any(v in got["b1"] for v in forged_values(rows[:-1])), "a forbidden value reached b1")
    # the same request, its trailer section one byte per TCP write (names and values cut anywhere)
    before = env.recorded()
    s = socket.create_connection(("127.0.0.1", env.plain), 5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(post(chunks))
    for i, byte in enumerate(trailer_section(rows) + b"\r\n"):
        s.sendall(bytes([byte]))
        if i % 8 == 0:
            time.sleep(0.002)
    out = recv_all(s, 4.0)
    s.close()
    time.sleep(0.2)
    got = {n: env.recorded()[n][len(before[n]):] for n in before}
    check(b"\r\nX-Backend: b1\r\n" in out and body_forwarded(got) == want,
          f"trailers byte by byte: {out[:100]!r}, the backend got {body_forwarded(got)!r}")
    # only fields that are dropped: the body ends with the last-chunk and the blank line
    out, got = env.exchange(post(b"3\r\nabc\r\n0\r\n" + trailer_section(
        [r for r in rows if not r[2]]) + b"\r\n"))
    check(b"\r\nX-Backend: b1\r\n" in out and body_forwarded(got) == b"3\r\nabc\r\n0\r\n\r\n",
          f"only forbidden trailers: the backend got {body_forwarded(got)!r}")
    # a trailer section over max-header-size (8k) after a chunk that already went out: 431, and
    # nothing of the section reaches the backend (at most the last-chunk line, never its end)
    before = env.recorded()
    s = socket.create_connection(("127.0.0.1", env.plain), 5)
    s.sendall(post(b"5\r\nhello\r\n"))
    check(wait_until(lambda: env.recorded()["b1"].endswith(b"5\r\nhello\r\n"), 5),
          "the first chunk did not reach the backend in 5 s")
    s.sendall(b"0\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(12)))
    out = recv_all(s, 4.0)
    s.close()
    time.sleep(0.2)
    rest = body_forwarded({n: env.recorded()[n][len(before[n]):] for n in before})
    check(status_of(out) == 431, f"trailers over max-header-size: {out[:200]!r}")
    check(rest in (b"5\r\nhello\r\n", b"5\r\nhello\r\n0\r\n"),
          f"trailers over max-header-size: the backend got {rest[:200]!r}")
    print("trailers: only the kept fields reach the backend, whole or byte by byte; only forbidden "
          "ones: 0 CRLF CRLF; over max-header-size after the first chunk: 431, nothing of them sent")


def case_target(a):
    refused(Env(a), [r for r in REFUSED if r[0].startswith("target_")])


def forwarded(env, name, data, target, backend, method=None):
    out, got = env.exchange(data)
    st = status_of(out)
    other = "b2" if backend == "b1" else "b1"
    line = got[backend].split(b"\r\n", 1)[0]
    print(f"{name:28} client got {st}; {backend} got {line!r}; {other} got {len(got[other])} bytes")
    m = method or data.split(b" ", 1)[0]
    check(line == m + b" " + target + b" HTTP/1.1", f"{name}: {backend} got {got[backend][:300]!r}")
    check(not got[other], f"{name}: {other} must get nothing: {got[other][:200]!r}")
    return out, got[backend]


def case_absolute(a):
    env = Env(a)
    out, got = forwarded(env, "absolute_form",
                         get(b"http://www.my-app.com/my-app/data?x=1", headers=b"Host: other\r\n"),
                         b"/my-app/data?x=1", "b1")
    check(status_of(out) == 200, f"absolute-form: {out[:200]!r}")
    check(b"\r\nHost: www.my-app.com\r\n" in got and b"other" not in got,
          f"the authority must replace the Host header: {got!r}")
    out, got = forwarded(env, "absolute_form_no_path", get(b"HTTP://www.my-app.com:8080"), b"/", "b2")
    check(b"\r\nHost: www.my-app.com:8080\r\n" in got, f"Host from the authority: {got!r}")
    refused(env, [r for r in REFUSED if r[0].startswith("absolute_")])


def case_methods(a):
    env = Env(a)
    for name, data, target, backend in ACCEPTED:
        if name in ("query_method", "propfind", "describe", "custom_method"):
            out, got = forwarded(env, name, data, target, backend)
            check(status_of(out) is not None, f"{name}: no answer: {out!r}")
            if name == "query_method":
                check(got.endswith(b"\r\n\r\nq=1"), f"QUERY's body: {got!r}")
    lines = env.access_lines(4)
    check(any("method=QUERY" in x for x in lines) and any("method=X-CUSTOM.1" in x for x in lines),
          f"the access log names the method as received: {lines}")
    refused(env, [r for r in REFUSED if r[0] == "connect"])
    # an allow-list: the others get 501 and nothing is forwarded
    env2 = Env(a, "--methods", "GET HEAD QUERY")
    refused(env2, [("post_not_listed", post(b"hello", b"Content-Length: 5\r\n"), 501),
                   ("propfind_not_listed", get(method=b"PROPFIND"), 501)])
    forwarded(env2, "query_listed", get(method=b"QUERY"), b"/my-app/data", "b1")


def case_paths(a):
    env = Env(a)
    for name, data, target, backend in ACCEPTED:
        if name in ("dot_segments", "encoded_dots", "slashes_and_unreserved", "encoded_slash"):
            forwarded(env, name, data, target, backend)
    refused(env, [r for r in REFUSED if r[0].startswith("path_")])
    # normalize-path = off: routed by the normalised path, forwarded as received
    env2 = Env(a, "--normalize-path", "off")
    forwarded(env2, "as_received", get(b"/my-app/../private/key.txt"), b"/my-app/../private/key.txt",
              "b2")
    forwarded(env2, "as_received_b1", get(b"//my-app/./data"), b"//my-app/./data", "b1")


# ---- the differential check ----

ADDED = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"via", b"x-request-id"}
HOP = {b"connection", b"keep-alive", b"te", b"trailer", b"upgrade", b"transfer-encoding",
       b"proxy-connection"}


def h11_messages(data, role):
    """Parses data with h11 as the server side: a list of (Request, body, trailers); raises on
    anything h11 refuses or leaves unparsed."""
    import h11
    msgs = []
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    cur = None
    while True:
        ev = conn.next_event()
        if isinstance(ev, h11.Request):
            cur = [ev, b"", []]
        elif isinstance(ev, h11.Data):
            cur[1] += ev.data
        elif isinstance(ev, h11.EndOfMessage):
            cur[2] = list(ev.headers)
            msgs.append(tuple(cur))
            cur = None
            # answered, ready for a next pipelined request (unless it asked to close)
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            if conn.their_state is h11.MUST_CLOSE:
                break
            conn.start_next_cycle()
        elif ev is h11.NEED_DATA:
            break
        else:
            raise AssertionError(f"{role}: unexpected h11 event {ev!r}")
    check(cur is None and not conn.trailing_data[0],
          f"{role}: bytes h11 could not place in a message: {conn.trailing_data[0][:200]!r}")
    return msgs


def fields(req, drop_host):
    conn_named = {t.strip().lower() for k, v in req.headers if k == b"connection" for t in v.split(b",")}
    return [(k, v) for k, v in req.headers
            if k not in ADDED and k not in HOP and k not in conn_named and k != b"content-length"
            and not (drop_host and k == b"host")]


def case_differential(a):
    env = Env(a)
    rows = [(n, d, None, None) for n, d, _ in HOSTILE] + [(n, d, None, None) for n, d, _ in REFUSED]
    rows += ACCEPTED
    fails = []
    for name, data, target, backend in rows:
        out, got = env.exchange(data)
        sent = b"".join(got.values())
        st = status_of(out)
        try:
            if not sent:
                # refused: the LB answered itself, with an error, and nothing reached a backend
                if target is not None:
                    fails.append(f"{name}: should have been forwarded, got {st}: {out[:200]!r}")
                elif st is None or st < 400:
                    fails.append(f"{name}: nothing forwarded but the client got {st}")
                print(f"{name:34} refused {st}")
                continue
            fwd = h11_messages(sent, f"{name}: forwarded")
            cli = h11_messages(data, f"{name}: as sent by the client")
            check(len(fwd) == 1 and len(cli) == 1,
                  f"{name}: {len(cli)} message(s) sent, {len(fwd)} forwarded")
            (fr, fb, ft), (cr, cb, ct) = fwd[0], cli[0]
            want_target = target if target is not None else cr.target
            absolute = not cr.target.startswith(b"/")
            check(fr.method == cr.method, f"{name}: method {fr.method!r} != {cr.method!r}")
            check(fr.target == want_target, f"{name}: target {fr.target!r}, expected {want_target!r}")
            check(fields(fr, absolute) == fields(cr, absolute),
                  f"{name}: header fields differ:\n  sent {fields(cr, absolute)}\n  fwd  {fields(fr, absolute)}")
            check(fb == cb and ft == ct, f"{name}: body/trailers differ: {cb!r}/{ct!r} -> {fb!r}/{ft!r}")
            logged = f"method={cr.method.decode()} "
            wait_until(lambda: any(logged in x for x in env.access_lines(1)), 5)
            check(any(logged in x for x in env.access_lines(1)),
                  f"{name}: the LB logged {env.access_lines(1)}")
            print(f"{name:34} forwarded, h11 reads the same message ({len(fb)} body bytes)")
        except AssertionError as e:
            fails.append(str(e))
    print(f"{len(rows)} requests, {len(fails)} differences")
    check(not fails, "\n".join(fails))


if __name__ == "__main__":
    run_main(globals())
