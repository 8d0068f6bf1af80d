#!/usr/bin/env python3
"""A real browser speaks HTTP/2 to the load balancer: Debian's chromium, headless, loads
https://www.my-app.com:PORT/my-app/data through the LB (the name mapped to 127.0.0.1, the
development certificate trusted by its public key hash, nothing else trusted), and:
  - its net log (--log-net-log) shows the TLS handshake with ALPN "h2", an HTTP2_SESSION to the
    LB's port, the request's HEADERS for /my-app/data sent on that session and ":status: 200"
    received on the same stream: the page came over h2, not HTTP/1.1;
  - the page it rendered (--dump-dom) is the backend's JSON for /my-app/data (the backend's name,
    the path it saw, the items), so the request went through the LB to the backend.

usage: test_lb_h2_browser.py --target journey|haproxy|nginx --backend PATH --certs DIR [--lb PATH]
                             [--artifacts DIR]   (keeps the net log and the page there)

The same check against HAProxy (`alpn h2,http/1.1`) and nginx (`listen ... ssl http2`) proves it
before journey-lb is held to it.
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import TMP, check, free_port, run_case, start, wait_port  # noqa: E402
from h2_peers import HOST, TARGETS, start_target  # noqa: E402
from browser import chromium_args, find_chromium, netlog_events, run_chromium  # noqa: E402

A = None


def case_chromium():
    chromium = find_chromium()
    record = os.path.join(TMP, "record")
    bport = free_port()
    be = start([A.backend, "--listen", f"127.0.0.1:{bport}", "--name", "b1", "--record", record], "b1")
    wait_port(bport, be, "journey-backend")
    lb = start_target(A.target, A.certs, [("b1", bport)], A.lb)
    netlog = os.path.join(TMP, "netlog.json")
    url = f"https://{HOST}:{lb.port}/my-app/data"
    code, dom, err = run_chromium(chromium_args(chromium, netlog, A.certs) + ["--dump-dom", url], 180)
    if A.artifacts:
        os.makedirs(A.artifacts, exist_ok=True)
        shutil.copy(netlog, os.path.join(A.artifacts, f"h2-netlog-{A.target}.json"))
        with open(os.path.join(A.artifacts, f"h2-page-{A.target}.html"), "w") as f:
            f.write(dom)
    check(code == 0, "chromium was killed after 180 s" if code is None
          else f"chromium exit {code}: {err[-800:]}")
    events = netlog_events(netlog)

    alpn = [p.get("next_proto") for t, _, _, p in events if t == "SSL_CONNECT" and "next_proto" in p]
    check(alpn, "the net log has no completed TLS handshake")
    check(alpn[0] == "h2", f"ALPN: Chromium negotiated {alpn[0]!r} with the LB, not h2")
    sessions = {sid for t, st, sid, p in events
                if t == "HTTP2_SESSION" and p.get("host") == f"{HOST}:{lb.port}"}
    check(sessions, f"no HTTP2_SESSION to {HOST}:{lb.port} in the net log")
    sent = [p.get("stream_id") for t, _, sid, p in events if sid in sessions and
            t == "HTTP2_SESSION_SEND_HEADERS" and ":path: /my-app/data" in p.get("headers", [])]
    check(sent, "the HEADERS of /my-app/data were not sent on the h2 session")
    got = [(p.get("stream_id"), p.get("headers", [])) for t, _, sid, p in events
           if sid in sessions and t == "HTTP2_SESSION_RECV_HEADERS"]
    check(any(h and h[0] == ":status: 200" for s, h in got if s == sent[0] or sent[0] is None),
          f"no :status 200 on the request's stream {sent[0]}: {got[:3]}")

    check('"backend":"b1"' in dom and '"path":"/my-app/data"' in dom and '"items":' in dom,
          f"the page is not the backend's /my-app/data: {dom[:400]!r}")
    with open(record, "rb") as f:
        check(b"GET /my-app/data HTTP/1.1" in f.read(), "the backend did not receive the request")
    print(f"{A.target}: ALPN h2, HTTP2_SESSION to {HOST}:{lb.port}, /my-app/data on stream "
          f"{sent[0]} answered 200; the page shows the backend's JSON ({len(dom)} bytes of DOM)")


def browser_test_args(doc, backend=True):
    """The flags of a browser test script: --target, --lb (needed for journey), --backend
    (journey-backend, when the script uses it), --certs, --artifacts."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--target", choices=TARGETS, default="journey")
    ap.add_argument("--lb", help="journey-lb's binary (--target journey)")
    if backend:
        ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--artifacts", help="keep the net log and the page here")
    args = ap.parse_args()
    if args.target == "journey" and not args.lb:
        ap.error("--target journey needs --lb PATH")
    return args


if __name__ == "__main__":
    A = browser_test_args(__doc__)
    run_case(case_chromium)
