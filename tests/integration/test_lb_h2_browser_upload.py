#!/usr/bin/env python3
"""A browser's streaming upload through the load balancer over HTTP/2: headless Chromium (set up
as in test_lb_h2_browser.py: the name mapped to 127.0.0.1, the development certificate trusted by
its key hash, a net log) loads https://www.my-app.com:PORT/upload.html through the LB from the
test's backend; the page's script POSTs two bodies with fetch() and a ReadableStream body
(`duplex: 'half'`: Chromium sends such a body only over HTTP/2, with no content-length):
  large  1 MiB made deterministically in the page, enqueued in pieces of uneven sizes;
  small  5 000 bytes in 5 pieces.
(No pauses between pieces: under --virtual-time-budget a timer does not fire while a fetch is
pending, so the stream would stall after its first piece.)
The page hashes each body (crypto.subtle.digest) and writes what it sent and what the backend
answered into the DOM; the test reads the DOM (--dump-dom) and checks, for each body:
  - the answer is 200 and names the byte count and sha256 the page computed, and both equal what
    the test computes from the same generator (the page cannot agree with a wrong body);
  - the backend (an HTTP/1.1 server here that reads a chunked body strictly: hex size line, CRLF
    after each chunk's data, trailer lines, a blank line; anything else is a 400 and a failure)
    received exactly those bytes once; the 1 MiB one with Transfer-Encoding: chunked and no
    Content-Length (it cannot be gathered in the LB's buffer);
  - the net log shows the POST's HEADERS sent on the HTTP2_SESSION to the LB without a
    content-length, its DATA frames on the same stream, and ":status: 200" received on it.

usage: test_lb_h2_browser_upload.py --target journey|haproxy|nginx --certs DIR [--lb PATH]
                                    [--artifacts DIR]   (keeps the net log and the page there)
"""
import hashlib
import html
import http.server
import json
import os
import re
import shutil
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import TMP, check, free_port, run_case, wait_port  # noqa: E402
from h2_peers import HOST, start_target  # noqa: E402
from test_lb_h2_browser import browser_test_args  # noqa: E402
from browser import chromium_args, find_chromium, netlog_events, run_chromium  # noqa: E402

A = None
# name: (bytes, piece size, generator seed)
BODIES = {"large": (1 << 20, 65521, 1), "small": (5000, 1000, 2)}
CHROMIUM_SECONDS = 90  # a passing run takes 2 s (sanitizer build)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>upload</title></head><body>
<pre id="verdict">pending</pre>
<script>
const BODIES = %s;
// xorshift32, one byte per step: the same bytes as the test's body_bytes()
function bodyBytes(n, seed) {
  const out = new Uint8Array(n);
  let x = (0x9e3779b9 ^ seed) >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
async function upload(name, [size, piece, seed]) {
  const data = bodyBytes(size, seed);
  const sha256 = hex(await crypto.subtle.digest("SHA-256", data));
  let off = 0, pieces = 0;
  const stream = new ReadableStream({
    async pull(ctrl) {
      if (off >= size) { ctrl.close(); return; }
      const n = Math.min(piece + (pieces %% 3) * 7, size - off);  // uneven piece sizes
      ctrl.enqueue(data.slice(off, off + n));
      off += n; pieces++;
    }
  });
  const sent = {name, bytes: size, sha256};
  try {
    const r = await fetch("/upload/" + name, {method: "POST", body: stream, duplex: "half",
                                              headers: {"content-type": "application/octet-stream"}});
    sent.status = r.status;
    sent.answer = await r.text();
  } catch (e) {
    sent.error = String(e);
  }
  sent.pieces = pieces;
  return sent;
}
(async () => {
  const results = [];
  for (const [name, spec] of Object.entries(BODIES)) results.push(await upload(name, spec));
  document.getElementById("verdict").textContent = JSON.stringify(results);
})();
</script></body></html>
""" % json.dumps(BODIES)


def body_bytes(n, seed):
    """The page's generator (xorshift32, one byte a step)."""
    out, x = bytearray(n), (0x9E3779B9 ^ seed) & 0xFFFFFFFF
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


class BadBody(Exception):
    pass


def read_chunked_strictly(rfile):
    """The body of a chunked message, read to the letter of RFC 9112 section 7.1 (no chunk
    extensions expected from a proxy, hex digits only); returns (body, trailer lines)."""
    body, trailers = bytearray(), []
    while True:
        size_line = rfile.readline(100)
        m = re.fullmatch(rb"([0-9A-Fa-f]{1,8})\r\n", size_line)
        if not m:
            raise BadBody(f"chunk-size line {size_line!r} after {len(body)} bytes")
        size = int(m.group(1), 16)
        if size == 0:
            break
        data = rfile.read(size)
        if len(data) != size or rfile.read(2) != b"\r\n":
            raise BadBody(f"a chunk of {size} bytes at {len(body)} is short or lacks its CRLF")
        body += data
    while (line := rfile.readline(8192)) != b"\r\n":
        if not line.endswith(b"\r\n"):
            raise BadBody(f"trailer section cut: {line!r}")
        trailers.append(line.decode("latin-1").rstrip())
    return bytes(body), trailers


class Backend(http.server.BaseHTTPRequestHandler):
    """GET /upload.html: the page. POST /upload/NAME: the body read by its framing (chunked
    strictly), recorded in UPLOADS, answered with {"bytes", "sha256", "framing"}; a body that
    breaks the framing gets 400 and is recorded as such."""
    protocol_version = "HTTP/1.1"
    UPLOADS = []
    LOCK = threading.Lock()

    def answer(self, status, ctype, body):
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/upload.html":
            self.answer(200, "text/html; charset=utf-8", PAGE.encode())
        else:
            self.answer(404, "text/plain", b"no such page\n")

    def do_POST(self):
        te, cl = self.headers.get_all("transfer-encoding"), self.headers.get_all("content-length")
        rec = {"path": self.path, "te": te, "cl": cl}
        try:
            if te and cl:
                raise BadBody(f"both Transfer-Encoding {te} and Content-Length {cl}")
            if te:
                if te != ["chunked"]:
                    raise BadBody(f"Transfer-Encoding {te}")
                rec["framing"] = "chunked"
                body, rec["trailers"] = read_chunked_strictly(self.rfile)
            elif cl:
                rec["framing"] = "content-length"
                body = self.rfile.read(int(cl[0]))
                if len(body) != int(cl[0]):
                    raise BadBody(f"{len(body)} bytes of a Content-Length {cl[0]}")
            else:
                raise BadBody("neither Transfer-Encoding nor Content-Length")
        except (BadBody, ValueError) as e:
            rec["error"] = str(e)
            with self.LOCK:
                self.UPLOADS.append(rec)
            self.close_connection = True
            self.answer(400, "text/plain", f"bad body: {e}\n".encode())
            return
        rec.update(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())
        with self.LOCK:
            self.UPLOADS.append(rec)
        self.answer(200, "application/json", json.dumps(
            {k: rec[k] for k in ("bytes", "sha256", "framing")}).encode())

    def log_message(self, *a):
        pass


def start_backend():
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Backend)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    wait_port(port, what="the test's backend")
    return port




def closed_netlog(path):
    """The net log as JSON: a Chromium that was killed leaves the events array open."""
    with open(path) as f:
        text = f.read()
    try:
        json.loads(text)
        return path
    except ValueError:
        fixed = os.path.join(TMP, "netlog-closed.json")
        with open(fixed, "w") as f:
            f.write(text.rstrip().rstrip(",") + "]}")
        return fixed


def upload_streams(events, port):
    """name: (session id, stream id, request headers, DATA bytes sent, response headers or [])
    of each POST /upload/NAME on an HTTP2_SESSION to HOST:port in the net log; None for one that
    was not sent."""
    sessions = {sid for t, st, sid, p in events
                if t == "HTTP2_SESSION" and p.get("host") == f"{HOST}:{port}"}
    check(sessions, f"no HTTP2_SESSION to {HOST}:{port} in the net log")
    out = {}
    for name in BODIES:
        sent = [(sid, p.get("stream_id"), p.get("headers", [])) for t, _, sid, p in events
                if sid in sessions and t == "HTTP2_SESSION_SEND_HEADERS"
                and f":path: /upload/{name}" in p.get("headers", [])]
        check(len(sent) <= 1, f"{name}: the POST's HEADERS were sent {len(sent)} times: {sent}")
        if not sent:
            out[name] = None
            continue
        session, stream, headers = sent[0]
        data = sum(p.get("size", 0) for t, _, sid, p in events if sid == session and
                   t == "HTTP2_SESSION_SEND_DATA" and p.get("stream_id") == stream)
        answers = [p.get("headers", []) for t, _, sid, p in events if sid == session and
                   t == "HTTP2_SESSION_RECV_HEADERS" and p.get("stream_id") == stream]
        out[name] = (session, stream, headers, data, answers[0] if answers else [])
    return out


def case_upload():
    chromium = find_chromium()
    bport = start_backend()
    lb = start_target(A.target, A.certs, [("b1", bport)], A.lb)
    netlog = os.path.join(TMP, "netlog.json")
    url = f"https://{HOST}:{lb.port}/upload.html"
    # --virtual-time-budget: --dump-dom waits for the page's fetches and timers before dumping.
    # The wall-clock bound: Chromium sends the whole body before it reads the answer (half
    # duplex), so an LB that answers early without stopping the upload leaves the page waiting.
    rc, dom, err = run_chromium(chromium_args(chromium, netlog, A.certs) +
                                ["--virtual-time-budget=60000", "--dump-dom", url], CHROMIUM_SECONDS)
    if A.artifacts:
        os.makedirs(A.artifacts, exist_ok=True)
        shutil.copy(netlog, os.path.join(A.artifacts, f"h2-upload-netlog-{A.target}.json"))
        with open(os.path.join(A.artifacts, f"h2-upload-page-{A.target}.html"), "w") as f:
            f.write(dom)
    streams = upload_streams(netlog_events(closed_netlog(netlog)), lb.port)
    check(rc is not None, f"the page's uploads did not finish in {CHROMIUM_SECONDS} s; on the h2 "
          "session: " + "; ".join(f"{n}: stream {s[1]}, {s[3]} bytes of DATA sent, answered {s[4][:1]}"
                                  if s else f"{n}: not sent" for n, s in streams.items()))
    check(rc == 0, f"chromium exit {rc}: {err[-800:]}")
    m = re.search(r'<pre id="verdict">(.*?)</pre>', dom, re.S)
    check(m, f"the page has no verdict: {dom[:400]!r}")
    verdict = html.unescape(m.group(1))
    check(verdict != "pending", "the page's uploads did not finish before the DOM was dumped")
    results = {x["name"]: x for x in json.loads(verdict)}

    lines = []
    for name, (size, _, seed) in BODIES.items():
        want = hashlib.sha256(body_bytes(size, seed)).hexdigest()
        res = results.get(name, {})
        got = [u for u in Backend.UPLOADS if u["path"] == f"/upload/{name}"]
        check(res.get("sha256") == want, f"{name}: the page hashed {res.get('sha256')}, not {want}")
        check("error" not in res, f"{name}: fetch failed in the page: {res.get('error')}")
        check(res.get("status") == 200, f"{name}: the upload got {res.get('status')}: "
              f"{res.get('answer', '')[:300]!r} (the backend saw: {got})")
        answer = json.loads(res["answer"])
        check(answer["bytes"] == size and answer["sha256"] == want,
              f"{name}: the backend got {answer['bytes']} bytes, sha256 {answer['sha256']}; "
              f"the page sent {size}, {want}")
        check(len(got) == 1, f"{name}: the backend received it {len(got)} times")
        if size > 64 * 1024:
            check(got[0]["framing"] == "chunked" and not got[0]["cl"],
                  f"{name}: {size} bytes without a length must reach the backend chunked: {got[0]}")

        check(streams[name], f"{name}: the POST's HEADERS are not on the h2 session")
        _, stream, headers, data, answered = streams[name]
        check(":method: POST" in headers and
              not any(h.startswith("content-length:") for h in headers),
              f"{name}: not a POST without content-length: {headers}")
        check(data == size, f"{name}: the net log has {data} bytes of DATA on stream {stream}, not {size}")
        check(answered[:1] == [":status: 200"], f"{name}: stream {stream} got {answered}")
        lines.append(f"{name}: {size} bytes in {res['pieces']} pieces on h2 stream {stream} -> "
                     f"backend {got[0]['framing']}, sha256 {want[:16]}... equal")
    print(f"{A.target}: " + "; ".join(lines))


if __name__ == "__main__":
    A = browser_test_args(__doc__, backend=False)
    run_case(case_upload)
