#!/usr/bin/env python3
"""Request smuggling and malformed HTTP against journey-lb (issue 10).

Each row of TABLE is one hostile request sent in one write to the LB's plain port (and the
smuggling rows also over TLS). The test asserts the exact status the LB answers, that it closes
the connection, and that NOT ONE BYTE reached the backend: journey-backend runs with
--record FILE, which appends every byte it receives, so "nothing reached it" is a file that did
not grow. A control row first proves the recorder sees what the LB forwards.

Statuses follow RFC 9112/9110 as a strict front proxy should (HAProxy/nginx agree on most):
  400  framing that two parsers could read differently (CL+TE, duplicate or malformed
       Content-Length, Transfer-Encoding whose final coding is not chunked, obs-fold, whitespace
       before the colon, bare LF/CR, NUL and control characters, malformed chunks, authority-form
       targets, which a reverse proxy does not route, user info in an absolute-form, HTTP/0.9)
  413  a declared body (Content-Length or one chunk's size) above max-body-size
  431  a head above max-header-size or max-headers
  501  an unknown transfer coding before chunked; a method longer than 64 bytes; CONNECT
(a method llhttp does not know, QUERY or a custom token, is forwarded: strict_requests.py)
  505  an HTTP version other than 1.0/1.1 (HTTP/2 preface included)

usage: hostile_requests.py --lb PATH --backend PATH --certs DIR --case table|pipelined
"""
import os
import re
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harden_common import (check, read, recv_all, run_main, start_backend, start_lb,  # noqa: E402
                           status_of, wait_until, TMP)

H = b"Host: www.my-app.com\r\n"


def req(first=b"GET /my-app/data HTTP/1.1", headers=H, body=b""):
    return first + b"\r\n" + headers + b"\r\n" + body


def post(headers, body):
    return req(b"POST /my-app/data HTTP/1.1", H + headers, body)


# name, request bytes, expected status
TABLE = [
    # --- body framing: the classic smuggling vectors
    ("cl_and_te", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("te_and_cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"), 400),
    ("cl_twice_different", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400),
    ("cl_twice_same", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400),
    ("cl_list", post(b"Content-Length: 5, 5\r\n", b"hello"), 400),
    ("cl_negative", post(b"Content-Length: -1\r\n", b"hello"), 400),
    ("cl_plus_sign", post(b"Content-Length: +5\r\n", b"hello"), 400),
    ("cl_hex", post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    ("cl_inner_space", post(b"Content-Length: 1 0\r\n", b"helloworld"), 400),
    ("cl_empty", post(b"Content-Length:\r\n", b""), 400),
    ("cl_overflow", post(b"Content-Length: 99999999999999999999999\r\n", b"x"), 400),
    ("te_chunked_identity", post(b"Transfer-Encoding: chunked, identity\r\n", b"0\r\n\r\n"), 400),
    ("te_identity", post(b"Transfer-Encoding: identity\r\n", b"hello"), 400),
    ("te_xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 400),
    ("te_chunked_twice", post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"), 400),
    ("te_two_fields", post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
                           b"0\r\n\r\n"), 400),
    ("te_gzip_then_chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    ("te_in_http10", req(b"POST /my-app/data HTTP/1.0",
                         H + b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), 400),
    ("te_obs_fold", post(b"Transfer-Encoding:\r\n chunked\r\n", b"0\r\n\r\n"), 400),
    ("te_vertical_tab", post(b"Transfer-Encoding:\x0bchunked\r\n", b"0\r\n\r\n"), 400),
    ("te_space_before_colon", post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400),
    # --- header syntax
    ("obs_fold", req(headers=H + b"X-A: a\r\n b\r\n"), 400),
    ("space_before_colon", req(headers=b"Host : www.my-app.com\r\n"), 400),
    ("tab_before_colon", req(headers=H + b"X-A\t: a\r\n"), 400),
    ("header_without_colon", req(headers=H + b"X-A a\r\n"), 400),
    ("empty_header_name", req(headers=H + b": a\r\n"), 400),
    ("non_token_name", req(headers=H + b"X(A): a\r\n"), 400),
    ("leading_space_first_header", req(headers=b" X-A: a\r\n" + H), 400),
    ("bare_lf_request_line", b"GET /my-app/data HTTP/1.1\n" + H + b"\r\n", 400),
    ("bare_lf_headers", b"GET /my-app/data HTTP/1.1\r\nHost: www.my-app.com\nX-A: a\n\n", 400),
    ("bare_cr_in_value", req(headers=H + b"X-A: a\rb\r\n"), 400),
    ("nul_in_value", req(headers=H + b"X-A: a\x00b\r\n"), 400),
    ("nul_in_name", req(headers=H + b"X-\x00A: a\r\n"), 400),
    ("ctl_in_value", req(headers=H + b"X-A: a\x01b\r\n"), 400),
    ("del_in_value", req(headers=H + b"X-A: a\x7fb\r\n"), 400),
    ("missing_host", req(headers=b""), 400),
    ("two_hosts", req(headers=H + b"Host: other.example\r\n"), 400),
    ("host_with_space", req(headers=b"Host: www.my-app.com evil\r\n"), 400),
    # --- request line
    ("nul_in_target", req(b"GET /my-app/\x00data HTTP/1.1"), 400),
    ("space_in_target", req(b"GET /my-app/ data HTTP/1.1"), 400),
    ("double_space", req(b"GET  /my-app/data HTTP/1.1"), 400),
    ("no_target", req(b"GET HTTP/1.1"), 400),
    ("absolute_form_userinfo", req(b"GET http://u@evil.example/my-app/data HTTP/1.1"), 400),
    ("authority_form_get", req(b"GET www.my-app.com:443 HTTP/1.1"), 400),
    ("authority_form_connect", req(b"CONNECT www.my-app.com:443 HTTP/1.1"), 501),
    ("asterisk_form_get", req(b"GET * HTTP/1.1"), 400),
    ("http09", b"GET /my-app/data\r\n\r\n", 400),
    ("lowercase_version", req(b"GET /my-app/data http/1.1"), 400),
    ("version_garbage", req(b"GET /my-app/data HTTP/1.1x"), 400),
    ("http20_line", req(b"GET /my-app/data HTTP/2.0"), 505),
    ("http30_line", req(b"GET /my-app/data HTTP/3.0"), 505),
    ("h2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("method_too_long", req(b"M" * 65 + b" /my-app/data HTTP/1.1"), 501),
    ("non_token_method", req(b"G(T /my-app/data HTTP/1.1"), 400),
    # --- chunked bodies (the head arrives whole: the body is checked before anything is sent)
    ("chunk_size_not_hex", post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_0x", post(b"Transfer-Encoding: chunked\r\n", b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_negative", post(b"Transfer-Encoding: chunked\r\n", b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow", post(b"Transfer-Encoding: chunked\r\n",
                                 b"FFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_oversized", post(b"Transfer-Encoding: chunked\r\n", b"7FFFFFFF\r\nhello"), 413),
    ("chunk_ext_ctl", post(b"Transfer-Encoding: chunked\r\n", b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_ext_bare_lf", post(b"Transfer-Encoding: chunked\r\n", b"5;a=b\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_data_too_long", post(b"Transfer-Encoding: chunked\r\n", b"3\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_missing_crlf", post(b"Transfer-Encoding: chunked\r\n", b"5\r\nhelloX0\r\n\r\n"), 400),
    ("chunk_bad_trailer", post(b"Transfer-Encoding: chunked\r\n", b"0\r\nBad Trailer: x\r\n\r\n"), 400),
    # --- limits
    ("body_over_limit", post(b"Content-Length: 2000000\r\n", b"x" * 100), 413),
    ("header_over_limit", req(headers=H + b"X-Big: " + b"a" * 9000 + b"\r\n"), 431),
    ("too_many_headers", req(headers=H + b"".join(b"X-H%d: 1\r\n" % i for i in range(120))), 431),
]

# Rows also sent over TLS: the decrypted bytes take the same parser, but prove it.
TLS_ROWS = ("cl_and_te", "te_chunked_identity", "obs_fold", "bare_lf_headers", "nul_in_value",
            "chunk_size_not_hex", "h2_preface", "absolute_form_userinfo")


class Setup:
    def __init__(self, a):
        self.a = a
        self.record = os.path.join(TMP, "backend.record")
        self.b = start_backend(a.backend, "b1", "--record", self.record)
        self.lb = start_lb(a.lb, a.certs, [("b1", self.b.port)], "--workers", "1",
                           "--max-body-size", "1m", "--max-header-size", "8k", "--max-headers", "100",
                           "--client-header-timeout", "2s")

    def recorded(self):
        try:
            with open(self.record, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def settle(self, before, timeout=0.2, quiet=0.2):
        """Waits for bytes that may still be on their way to the backend: `timeout` for the first
        one, then until the recording has not grown for `quiet` (a whole request, not its first
        segment). Returns the recording."""
        deadline = time.time() + timeout
        last = before
        while True:
            now = self.recorded()
            if len(now) != len(last):
                last, deadline = now, time.time() + quiet
            elif time.time() >= deadline:
                return now
            time.sleep(0.02)

    def log_lines(self):
        return read(self.b.outpath).splitlines()

    def send(self, data, tls=False):
        s = socket.create_connection(("127.0.0.1", self.lb.https if tls else self.lb.plain), 5)
        if tls:
            ctx = ssl.create_default_context(cafile=os.path.join(self.a.certs, "ca.crt"))
            s = ctx.wrap_socket(s, server_hostname="www.my-app.com")
        s.sendall(data)
        out = recv_all(s, 4.0)
        s.close()
        return out


def statuses_of(out):
    return [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]


def control(st):
    """A well-formed request is forwarded and recorded: the recorder can see a forwarded byte."""
    before = st.recorded()
    out = st.send(req(headers=H + b"Connection: close\r\n"))
    check(status_of(out) == 200, f"control request: {out[:120]!r}")
    got = st.settle(before)
    check(b"GET /my-app/data HTTP/1.1\r\n" in got[len(before):], "the backend did not record the control request")


def case_table(a):
    st = Setup(a)
    control(st)
    failures = []
    rows = [(n, d, e, False) for n, d, e in TABLE] + \
           [(n + "/tls", d, e, True) for n, d, e in TABLE if n in TLS_ROWS]
    for name, data, expect, tls in rows:
        before = st.recorded()
        out = st.send(data, tls)
        got = status_of(out)
        after = st.settle(before)
        leaked = after[len(before):]
        line = f"{name:32} expect {expect} got {got}"
        if got != expect:
            failures.append(f"{line}: {out[:160]!r}")
        elif b"connection: close" not in out.lower():
            failures.append(f"{name}: the error response must close the connection: {out[:200]!r}")
        if leaked:
            failures.append(f"{name}: {len(leaked)} bytes reached the backend: {leaked[:120]!r}")
        print(line, "leaked %d" % len(leaked))
    control(st)
    print(f"{len(rows)} hostile requests, {len(failures)} failures")
    check(not failures, "\n".join(failures))


def case_pipelined(a):
    st = Setup(a)
    good = req()
    bad = post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n")
    smuggled = req(b"GET /my-app/smuggled HTTP/1.1")
    # 1. an error first: one answer, the connection closes, what follows is never parsed.
    before = st.recorded()
    out = st.send(bad + good + good)
    check(out.count(b"HTTP/1.1 ") == 1 and status_of(out) == 400, f"bad then good: {out[:300]!r}")
    check(st.settle(before) == before, "a request pipelined after an error reached the backend")
    # 2. a good request, then an error: the first is answered (200), the second gets 400 and
    #    only the first reached the backend.
    before = st.recorded()
    out = st.send(good + bad + smuggled)
    statuses = statuses_of(out)
    check(statuses == [200, 400], f"good then bad: statuses {statuses}: {out[:300]!r}")
    got = st.settle(before)[len(before):]
    check(got.count(b"HTTP/1.1\r\n") == 1 and b"/smuggled" not in got and b"chunked" not in got,
          f"only the first request may reach the backend: {got!r}")
    # 3. Connection: naming a framing header must not remove it on the way (the body would be
    #    read by the backend as a second request).
    before = st.recorded()
    lines_before = len(st.log_lines())
    body = smuggled
    out = st.send(post(b"Connection: Content-Length\r\nContent-Length: %d\r\n" % len(body), body)
                  + req(headers=H + b"Connection: close\r\n"))
    statuses = statuses_of(out)
    got = st.settle(before)[len(before):]
    print("connection-listed content-length:", statuses)
    check(statuses in ([400], [405, 200]), f"Connection: Content-Length: {statuses} {out[:300]!r}")
    if statuses == [400]:
        check(got == b"", f"a refused request reached the backend: {got[:300]!r}")
    else:
        # Forwarded: with its Content-Length and its body right after the head, then the GET.
        head, _, rest = got.partition(b"\r\n\r\n")
        check(head.startswith(b"POST /my-app/data HTTP/1.1\r\n")
              and b"\r\nContent-Length: %d" % len(body) in head and rest.startswith(body)
              and rest[len(body):].startswith(b"GET /my-app/data HTTP/1.1\r\n"),
              f"the POST must reach the backend with its Content-Length and body: {got[:400]!r}")
    # The backend logs a request once it has answered it: wait for the lines of the requests it
    # answered, then a little for any it should not have seen.
    answered = 0 if statuses == [400] else 2
    check(wait_until(lambda: len(st.log_lines()) - lines_before >= answered, 5),
          f"the backend did not log the {answered} requests it answered: {st.log_lines()[lines_before:]}")
    time.sleep(0.2)
    new_lines = st.log_lines()[lines_before:]
    check(len(new_lines) == answered and not any("/my-app/smuggled" in x for x in new_lines),
          f"a body was parsed as a request by the backend: {new_lines}")
    # 4. not hostile, but old: HTTP/1.0 without Host leaves as HTTP/1.1 with an empty Host
    #    (RFC 9110 7.2), which a strict backend accepts.
    before = st.recorded()
    out = st.send(b"GET /my-app/data HTTP/1.0\r\n\r\n")
    got = st.settle(before)[len(before):]
    check(status_of(out) == 200 and b"\r\nHost:\r\n" in got, f"HTTP/1.0 without Host: {out[:80]!r} {got!r}")


if __name__ == "__main__":
    run_main(globals())
