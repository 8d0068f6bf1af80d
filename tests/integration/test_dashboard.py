#!/usr/bin/env python3
"""journey-lb's admin page in a real browser: Debian's chromium, headless, driven over the
DevTools protocol (a small WebSocket client below, so no Python package is needed).

The test loads the page, checks every server row and its state in the DOM against /stats,
drains a server through the API and waits for the row to change without a reload (the page's
own refresh, every 2 s), checks that the page loads nothing from elsewhere and reads as a static
table with JavaScript off, and keeps a screenshot (--artifacts DIR/dashboard.png).

usage: test_dashboard.py --lb PATH --backend PATH --certs DIR --artifacts DIR
"""
import base64, http.client, json, os, socket, ssl, struct, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP, check, free_ports, read, run_case, start, stop,  # noqa: E402
                      wait_for, wait_port)
import test_admin  # noqa: E402
from browser import find_chromium  # noqa: E402

A = None
REFRESH_S = 2.0


class CDP:
    """The DevTools protocol over one WebSocket (RFC 6455: masked client frames)."""

    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), 10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        check(head.startswith(b"HTTP/1.1 101"), f"DevTools WebSocket: {head[:200]!r}")
        self.n = 0
        self.events = []

    def _send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                               bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = b""
        while len(out) < n:
            x = self.s.recv(n - len(out))
            if not x:
                raise AssertionError("DevTools connection closed")
            out += x
        return out

    def _recv(self):
        msg = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            msg += self._exact(n)
            if b0 & 0x80:
                return json.loads(msg)

    def call(self, method, **params):
        self.n += 1
        self._send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = self._recv()
            if m.get("id") == self.n:
                check("error" not in m, f"{method}: {m.get('error')}")
                return m.get("result", {})
            self.events.append(m)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        check("exceptionDetails" not in r, f"{expr}: {r}")
        return r["result"].get("value")

    def load(self, url):
        self.call("Page.navigate", url=url)
        wait_for("page loaded", lambda: self.js("document.readyState") == "complete", 20, 0.1)


def browser():
    chromium = find_chromium()
    port = free_ports(1)[0]
    prof = os.path.join(TMP, "chromium-profile")
    p = start([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--hide-scrollbars", "--disable-extensions", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--metrics-recording-only",
               "--window-size=1600,1100", f"--user-data-dir={prof}",
               f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1",
               "about:blank"], "chromium")
    wait_port(port, p, "chromium", timeout=30)

    def page_target():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/json/list")
        pages = [t for t in json.loads(c.getresponse().read()) if t["type"] == "page"]
        return pages[0] if pages else None
    wait_for("a chromium page", page_target, 20, 0.2)
    ws = page_target()["webSocketDebuggerUrl"]
    return p, CDP(port, ws[ws.index("/devtools"):])


def https_get(port, path, rid, ctx, conn=None):
    c = conn or http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    c.request("GET", path, headers={"X-Request-Id": rid, "Host": "www.my-app.com"})
    r = c.getresponse()
    r.read()
    return r.status, c


def admin(port, method, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path)
    r = c.getresponse()
    return r.status, r.read()


def case_dashboard():
    names = ["b1", "b2", "b3", "b4"]
    backends = {}
    for n in names:
        port = free_ports(1)[0]
        backends[n] = start([A.backend, "--listen", f"127.0.0.1:{port}", "--name", n], n)
        backends[n].port = port
        wait_port(port, backends[n], n)
    https, adm = free_ports(2)
    crt, key, ca = (os.path.join(A.certs, f) for f in ("server.crt", "server.key", "ca.crt"))
    cmd = [A.lb, "--workers", "2", "--listen", f"https://127.0.0.1:{https}", "--cert", crt,
           "--key", key, "--admin", f"127.0.0.1:{adm}", "--health-check", "http",
           "--health-interval", "1s", "--health-timeout", "500ms", "--drain-delay", "0"]
    for n in names:
        cmd += ["--backend", f"{n}=127.0.0.1:{backends[n].port}"]
    lb = start(cmd, "lb")
    wait_for("journey-lb started", lambda: "msg=started" in read(lb.errpath) or lb.poll() is not None, 20)
    check(lb.poll() is None, f"journey-lb exited: {read(lb.errpath)}")

    # Traffic for the waterfall: new TLS connections (Th) and kept-alive ones.
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    for i in range(6):
        st, c = https_get(https, "/my-app/data", f"5f0c1e0a-9a7e-4c1b-8d2e-00000000000{i}", ctx)
        check(st == 200, f"request {i}: {st}")
        for k in range(3):
            https_get(https, "/my-app/data?page=%d" % k, f"5f0c1e0a-9a7e-4c1b-8d2e-0000000001{i}{k}",
                      ctx, c)
        c.close()
    stop(backends["b3"])  # DOWN after the checks fail
    admin(adm, "POST", "/servers/b4/disable")  # MAINT
    wait_for("b3 DOWN", lambda: b'"name":"b3","address":"127.0.0.1:%d","state":"DOWN"'
             % backends["b3"].port in admin(adm, "GET", "/stats")[1], 20, 0.2)
    for i in range(4):
        https_get(https, "/my-app/data", f"5f0c1e0a-9a7e-4c1b-8d2e-0000000002{i}", ctx)[1].close()

    chrome, cdp = browser()
    cdp.call("Page.enable")
    cdp.call("Runtime.enable")
    cdp.call("Network.enable")
    url = f"http://127.0.0.1:{adm}/"
    cdp.load(url)
    rows = cdp.js("JSON.stringify([...document.querySelectorAll('tr.srv')].map(r => "
                  "[r.dataset.server, r.querySelector('.state .badge').textContent]))")
    rows = dict(json.loads(rows))
    stats = json.loads(admin(adm, "GET", "/stats")[1])
    want = {s["name"]: s["state"] for p in stats["pools"] for s in p["servers"]}
    check(rows == want, f"rows in the DOM {rows} == /stats {want}")
    check(rows == {"b1": "UP", "b2": "UP", "b3": "DOWN", "b4": "MAINT"}, f"states {rows}")
    colours = json.loads(cdp.js("JSON.stringify([...document.querySelectorAll('tr.srv .badge')]"
                                ".map(b => getComputedStyle(b).backgroundColor))"))
    check(len(set(colours)) == 3, f"UP, DOWN and MAINT in three colours: {colours}")
    nreq = cdp.js("document.querySelectorAll('tr.req').length")
    check(nreq >= 20, f"recent requests in the waterfall: {nreq}")
    bars = cdp.js("document.querySelectorAll('tr.req .wf span').length")
    check(bars >= nreq * 2, f"phase bars drawn: {bars}")
    check(cdp.js("document.querySelectorAll('tr.req .wf .Th').length") >= 1, "TLS phase shown")

    # Drain through the API; the open page must show it within one refresh, without reloading.
    cdp.js("window.__same_page = 42")
    st, body = admin(adm, "POST", "/servers/b2/drain")
    check(st == 200, f"drain: {st} {body}")
    took = wait_for("b2 DRAIN on the page", lambda: cdp.js(
        "document.querySelector('tr.srv[data-server=\"b2\"]').dataset.state") == "DRAIN",
        REFRESH_S + 3.0, 0.05)
    print(f"the page showed DRAIN {took:.2f}s after the drain (refresh every {REFRESH_S:.0f}s)")
    check(took <= REFRESH_S + 0.75, f"within one refresh: {took:.2f}s")
    check(cdp.js("window.__same_page") == 42, "refreshed in place, not reloaded")

    # Request id look-up, the way a user pastes what `journey` printed.
    cdp.load(url + "?id=5f0c1e0a-9a7e-4c1b-8d2e-000000000003")
    ids = json.loads(cdp.js("JSON.stringify([...document.querySelectorAll('tr.req')].map(r => r.dataset.id))"))
    check(ids == ["5f0c1e0a-9a7e-4c1b-8d2e-000000000003"], f"look-up: {ids}")

    # Self-contained: every request the page made went to the admin listener.
    urls = [e["params"]["request"]["url"] for e in cdp.events
            if e.get("method") == "Network.requestWillBeSent"]
    foreign = [u for u in urls if not u.startswith(f"http://127.0.0.1:{adm}/")]
    check(urls and not foreign, f"requests elsewhere: {foreign}")

    # Without JavaScript: the same table, static.
    cdp.call("Emulation.setScriptExecutionDisabled", value=True)
    cdp.call("Page.navigate", url=url)

    def static_html():
        try:  # the document may be replaced between the two calls while it loads
            dom = cdp.call("DOM.getDocument", depth=-1)
            return cdp.call("DOM.getOuterHTML", nodeId=dom["root"]["nodeId"])["outerHTML"]
        except AssertionError:
            return ""
    wait_for("static page", lambda: "recent requests" in static_html(), 20, 0.2)
    html = static_html()
    for n, s in (("b1", "UP"), ("b2", "DRAIN"), ("b3", "DOWN"), ("b4", "MAINT")):
        check(f'data-server="{n}" data-state="{s}"' in html, f"static page row {n} {s}")
    check("static page (refreshes every 6 s)" in html, "no script ran")
    cdp.call("Emulation.setScriptExecutionDisabled", value=False)

    cdp.load(url)
    time.sleep(0.3)
    shot = base64.b64decode(cdp.call("Page.captureScreenshot", format="png",
                                     captureBeyondViewport=False)["data"])
    os.makedirs(A.artifacts, exist_ok=True)
    path = os.path.join(A.artifacts, "dashboard.png")
    with open(path, "wb") as f:
        f.write(shot)
    check(shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20000, f"screenshot {len(shot)} bytes")
    print(f"screenshot: {path}")
    stop(chrome, must=False)


def main():
    global A
    A = test_admin.parse_args()
    run_case(case_dashboard)


if __name__ == "__main__":
    main()
