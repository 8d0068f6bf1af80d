#!/usr/bin/env python3
"""WebSocket through journey-lb: real journey-backends (their /ws echo), journey-lb on loopback,
python3-websockets and headless Chromium as the clients.

usage: test_lb_ws.py --lb PATH --backend PATH --certs DIR --case NAME

What journey-lb must do (and what each case checks): a request with Upgrade: websocket and
Connection: upgrade reaches the backend with both headers; after the backend's 101 the exchange
is a tunnel carrying bytes both ways (TLS on the client side), with back-pressure both ways; a
tunnel ends on --tunnel-timeout of silence (default 1h) or by the shutdown/drain; a 101 that the
client did not ask for is a 502; open tunnels are counted in /stats and /metrics; the access-log
line of a tunnel, written when it ends, has both byte counts, the duration and the phases
(upgrade, tunnel).

Every case is registered in ctest (tests/integration/lb_ws.cmake).
"""
import asyncio
import base64
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loopback  # noqa: E402
from harden_common import rss_kib  # noqa: E402
from browser import find_chromium, trust_flags  # noqa: E402
from test_lb import RawBackend  # noqa: E402
from loopback import (TMP, case_args, cert_paths, check, free_port, free_ports, read, run_case,  # noqa: E402
                      start, wait_for, wait_port)
from ws_common import (HAVE_WEBSOCKETS, NEED_WEBSOCKETS, RawConn, chunks, finish_and_read,  # noqa: E402
                       flood, frame, handshake_bytes, new_key, raw_open)

if HAVE_WEBSOCKETS:
    import websockets

A = None
MIB = 1024 * 1024
HOST = "www.my-app.com"  # the development certificate's name; connections go to 127.0.0.1


def start_backends(n=2, *extra):
    bs = []
    for i, port in enumerate(free_ports(n), 1):
        p = start([A.backend, "--listen", f"127.0.0.1:{port}", "--name", f"b{i}", *extra], f"b{i}")
        wait_port(port, p, f"backend b{i}")
        p.port = port
        bs.append(p)
    return bs


def start_lb(backends, *flags):
    """journey-lb (two workers, an admin port) in front of the backends."""
    adm = free_port()
    lb = loopback.start_lb(A.lb, A.certs, [(b.name, b.port) for b in backends], "--workers", "2",
                           "--admin", f"127.0.0.1:{adm}", *flags)
    wait_port(adm, lb, "journey-lb admin")
    lb.admin = adm
    return lb


def tls_ctx():
    return ssl.create_default_context(cafile=cert_paths(A.certs)[2])


def connect(lb, tls, **kw):
    """A python3-websockets client through journey-lb (wss: certificate checked for HOST)."""
    if tls:
        return websockets.connect(f"wss://{HOST}:{lb.https}/ws", ssl=tls_ctx(), host="127.0.0.1",
                                  port=lb.https, max_size=None, **kw)
    return websockets.connect(f"ws://{HOST}:{lb.plain}/ws", host="127.0.0.1", port=lb.plain,
                              max_size=None, **kw)


def admin(lb, path):
    with socket.create_connection(("127.0.0.1", lb.admin), 5) as s:
        # the admin plane answers only Host names it knows (IP literals by default)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{lb.admin}\r\nConnection: close\r\n\r\n".encode())
        data = loopback.recv_all(s, 5)
    head, _, body = data.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), f"{path}: {head[:80]!r}")
    return body.decode()


def open_tunnels(lb):
    """Tunnels open now, as /stats (JSON) and /metrics (Prometheus) both report them."""
    st = json.loads(admin(lb, "/stats"))
    tunnels = st.get("tunnels")
    check(isinstance(tunnels, dict) and "open" in tunnels and "total" in tunnels,
          f"/stats has no tunnels object with open and total: {sorted(st)}")
    m = re.search(r"^journey_lb_tunnels_open(?:\{[^}]*\})? (\d+)", admin(lb, "/metrics"), re.M)
    check(m, "/metrics has no journey_lb_tunnels_open")
    check(int(m.group(1)) == tunnels["open"], f"/metrics {m.group(1)} vs /stats {tunnels}")
    return tunnels["open"]


def tunnel_lines(lb):
    return [line for line in read(lb.outpath).splitlines() if "status=101" in line]


def fields(line):
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---------------------------------------------------------------- through journey-lb

async def echo_session(lb, tls):
    data = os.urandom(MIB)
    async with connect(lb, tls) as ws:
        await ws.send("hello through the tunnel")
        check(await ws.recv() == "hello through the tunnel", "text echo")
        await ws.send(chunks(data, 16 * 1024))  # 1 MiB in 64 frames
        check(await ws.recv() == data, "1 MiB in frames")
        await ws.send(data)
        check(await ws.recv() == data, "1 MiB in one frame")
        for payload in (b"", b"ping through the lb"):
            await asyncio.wait_for(await ws.ping(payload), 5)
        await ws.close(4001, "bye")
        check((ws.close_code, ws.close_reason) == (4001, "bye"),
              f"close status through the tunnel: {ws.close_code} {ws.close_reason}")


def echo_case(tls):
    bs = start_backends(2, "--record", os.path.join(TMP, "record"))
    lb = start_lb(bs)
    run(echo_session(lb, tls))
    wait_for("the tunnel's access-log line", lambda: tunnel_lines(lb), 5)
    f = fields(tunnel_lines(lb)[0])
    print(tunnel_lines(lb)[0])
    check(f.get("path") == "/ws" and f.get("backend") in ("b1", "b2"), f"{f}")
    check(int(f["bytes_in"]) > 2 * MIB and int(f["bytes_out"]) > 2 * MIB, f"byte counts: {f}")
    line = tunnel_lines(lb)[0]
    check("upgrade" in line and "tunnel" in line, f"phases upgrade and tunnel in the line: {line}")
    check(f.get("tls") in (("TLSv1.3", "TLSv1.2") if tls else ("plain",)), f"tls field: {f}")
    # What the backend received: the upgrade headers, the key unchanged.
    rec = read(os.path.join(TMP, "record")).lower()
    check("upgrade: websocket" in rec and re.search(r"connection: [^\r]*upgrade", rec),
          f"Upgrade and Connection forwarded: {rec[:400]}")
    check(all(b.poll() is None for b in bs), "backends alive")
    wait_for("no tunnel open after the close", lambda: open_tunnels(lb) == 0, 5)


def case_echo_ws():
    echo_case(tls=False)


def case_echo_wss():
    echo_case(tls=True)


def case_upgrade_key_reaches_backend():
    """The handshake written by hand: the backend's Sec-WebSocket-Accept comes back unchanged,
    so the key went through unchanged; frames glued to the handshake are not lost."""
    bs = start_backends(1)
    lb = start_lb(bs)
    c = raw_open("127.0.0.1", lb.plain, extra_after=frame(0x1, b"glued"))  # checks the accept
    check(c.frame() == (True, 1, b"glued"), "the frame sent with the handshake")
    c.s.sendall(frame(0x8, (1000).to_bytes(2, "big")))
    check(c.close_code() == 1000, "close echoed")
    check(c.eof(5), "the tunnel closes after the backend closes")


def case_chromium_lb():
    """A real browser opens wss:// through journey-lb (development CA trusted by flag) and echoes."""
    bs = start_backends(2)
    lb = start_lb(bs)
    text = chromium_echo(f"wss://{HOST}:{lb.https}/ws", "lb")
    check(text == "echo:22,200000", f"Chromium's page says: {text}")
    wait_for("the browser's tunnel in the access log", lambda: tunnel_lines(lb), 10)


def case_idle_tunnels_1000():
    """1 000 idle tunnels at once: each works, journey-lb's memory per tunnel stays small and
    /stats counts them; all close cleanly."""
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    # Under ASan, freed blocks wait in a quarantine (256 MB) instead of being reused: the 1 000
    # TLS handshakes' garbage would count as the tunnels' memory. Without it, RSS is what is held.
    os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                         "quarantine_size_mb=0"]))
    bs = start_backends(2)
    lb = start_lb(bs, "--max-connections", "5000")
    result = {}

    async def body():
        warm = await connect(lb, True).__aenter__()  # TLS context and first buffers exist
        await warm.send("w")
        await warm.recv()
        rss0 = rss_kib(lb.pid)
        conns = []
        for i in range(n):
            conns.append(await connect(lb, i % 2 == 0, ping_interval=None).__aenter__())
        await asyncio.sleep(1.0)
        result["per_tunnel_kib"] = (rss_kib(lb.pid) - rss0) / n
        result["open"] = open_tunnels(lb)
        for i in range(0, n, 97):  # a sample of them still echoes
            await conns[i].send(f"m{i}")
            check(await conns[i].recv() == f"m{i}", f"tunnel {i} echo")
        await asyncio.gather(*[c.close() for c in conns + [warm]])

    run(body(), timeout=300)
    print(f"journey-lb KiB per idle tunnel: {result['per_tunnel_kib']:.1f}; open: {result['open']}")
    check(result["open"] >= n, f"/stats open tunnels {result['open']} < {n}")
    # A tunnel is two connections (client side with TLS for half of them, backend side); the
    # budget leaves room for TLS state but not for per-tunnel buffers of 16 KiB and more.
    check(result["per_tunnel_kib"] < 40, f"{result['per_tunnel_kib']:.1f} KiB per idle tunnel")
    wait_for("all tunnels closed", lambda: open_tunnels(lb) == 0, 15)


def case_tunnel_timeout():
    """--tunnel-timeout: silence both ways closes the tunnel; traffic keeps it open."""
    bs = start_backends(1)
    lb = start_lb(bs, "--tunnel-timeout", "1s")

    async def body():
        async with connect(lb, False, ping_interval=None) as ws:
            for i in range(4):  # 2 s of traffic every 0.5 s: longer than the timeout, never idle
                await asyncio.sleep(0.5)
                await ws.send(str(i))
                check(await ws.recv() == str(i), "echo while active")
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 10)
                check(False, "a message arrived on an idle tunnel")
            except websockets.ConnectionClosed:
                pass
            took = time.monotonic() - t0
            check(0.8 < took < 3.0, f"idle tunnel closed after {took:.2f}s, want about 1s")

    run(body())
    wait_for("the access-log line of the timed-out tunnel", lambda: tunnel_lines(lb), 5)
    r = subprocess.run([A.lb, "--help"], capture_output=True, text=True)
    check("--tunnel-timeout" in r.stdout and "1h" in r.stdout, "--help documents --tunnel-timeout")


def case_sigterm_with_tunnels():
    """SIGTERM with tunnels open: they keep working while the drain runs, are closed by the
    shutdown timeout at the latest, every one gets its access-log line, exit 0."""
    bs = start_backends(1)
    lb = start_lb(bs, "--drain-delay", "0", "--shutdown-timeout", "2s")
    result = {}

    async def body():
        conns = [await connect(lb, i % 2 == 0, ping_interval=None).__aenter__() for i in range(20)]
        lb.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        await conns[0].send("during drain")
        check(await conns[0].recv() == "during drain", "a tunnel still carries bytes during the drain")
        for ws in conns:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                pass
        result["closed_after"] = time.monotonic() - t0

    run(body())
    rc = lb.wait(10)
    check(rc == 0, f"journey-lb exit {rc} after SIGTERM with tunnels: {read(lb.errpath)[-800:]}")
    check(result["closed_after"] < 5, f"tunnels closed {result['closed_after']:.1f}s after SIGTERM")
    check(len(tunnel_lines(lb)) == 20, f"one line per tunnel: {len(tunnel_lines(lb))}")


class Unsolicited101(RawBackend):
    """A broken backend: answers every request but /health with 101 Switching Protocols."""

    def respond(self, c, method, path, hdrs, body):
        if path == "/health":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\n\r\nrogue bytes")
        return True


def case_unsolicited_101():
    rogue = Unsolicited101()
    rogue.start()
    lb = start_lb([rogue])
    for port in (lb.plain,):
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(b"GET /my-app/data HTTP/1.1\r\nHost: x\r\n\r\n")
            data = loopback.recv_all(s, 5)
        check(data.startswith(b"HTTP/1.1 502 "), f"a 101 nobody asked for: {data[:200]!r}")
        check(b"rogue bytes" not in data, "nothing of the rogue answer reaches the client")
    # The same backend's 101 to a real upgrade request is fine.
    s = socket.create_connection(("127.0.0.1", lb.plain), 5)
    s.sendall(handshake_bytes(key=new_key()))
    status, _ = RawConn(s).head()
    s.close()
    check(status == 101, f"a solicited 101 is relayed: {status}")


def lb_unread(lb_port, client_port):
    """Bytes waiting in the receive queue of journey-lb's socket for this client (/proc/net/tcp:
    local 127.0.0.1:lb_port, remote port client_port)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fld = line.split()
            local, remote = fld[1].split(":"), fld[2].split(":")
            if int(local[1], 16) == lb_port and int(remote[1], 16) == client_port:
                return int(fld[4].split(":")[1], 16)
    return 0


def case_back_pressure():
    """A client that sends 1 MiB messages without reading: journey-lb stops reading from it once
    the backend side is full, so its memory stays bounded; every echo then arrives."""
    bs = start_backends(1, "--ws-max-message-bytes", str(2 * MIB))
    lb = start_lb(bs)
    c = raw_open("127.0.0.1", lb.plain)
    data = os.urandom(MIB)
    msg = frame(0x2, data)
    rss0 = rss_kib(lb.pid)
    sent = flood(c, msg, 64, stall=1.5, budget=30)
    grew = rss_kib(lb.pid) - rss0
    # The kernel's buffers on the way (client -> lb -> backend and back, each socket's receive
    # buffer autotuned up to net.ipv4.tcp_rmem's maximum) hold tens of MiB whatever journey-lb
    # does; what shows that it stopped reading is its own socket's receive queue, left full.
    unread = lb_unread(lb.plain, c.s.getsockname()[1])
    print(f"{sent} bytes taken, {unread} unread in journey-lb's receive queue, RSS +{grew} KiB")
    check(sent < 48 * MIB, f"journey-lb kept reading: {sent} bytes taken")
    check(unread > 0, "journey-lb read on: nothing waits in its receive queue after the stall")
    check(grew < 8 * 1024, f"journey-lb RSS grew {grew} KiB while the client did not read")
    echoes, want = finish_and_read(c, msg, sent)
    check(len(echoes) == want and all(e == (True, 2, data) for e in echoes),
          f"{len(echoes)} of {want} echoes intact")


# ---------------------------------------------------------------- a browser, directly

def chromium_echo(url, name):
    """Loads a page whose script opens url, sends a short text and 200 000 bytes and writes what
    came back into the DOM. Chromium runs headless under the test's control (DevTools protocol
    on loopback: the DOM is read when the page says it is done, not after a guessed delay);
    returns the page's text and keeps a screenshot in TMP."""
    page = os.path.join(TMP, f"ws-{name}.html")
    with open(page, "w") as f:
        f.write(f"""<!doctype html><html><body><h1>WebSocket echo</h1><pre id="out">pending</pre>
<script>
const out = document.getElementById('out');
const ws = new WebSocket('{url}');
let got = [];
ws.onopen = () => {{ ws.send('hello from chromium ' + 42); ws.send('x'.repeat(200000)); }};
ws.onmessage = (e) => {{
  got.push(e.data.length);
  if (got.length == 2) {{ out.textContent = 'echo:' + got.join(','); ws.close(1000, 'done'); }}
}};
ws.onerror = () => {{ out.textContent = 'error'; }};
</script></body></html>""")
    browser = start([find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                     *trust_flags(A.certs), "--remote-debugging-port=0", "--window-size=800,300",
                     f"--user-data-dir={os.path.join(TMP, 'chromium-' + name)}", "about:blank"],
                    f"chromium-{name}")
    m = None
    deadline = time.monotonic() + 120
    while not m and time.monotonic() < deadline and browser.poll() is None:
        m = re.search(r"DevTools listening on (ws://\S+)", read(browser.errpath))
        time.sleep(0.2)
    check(m, f"Chromium did not start: {read(browser.errpath)[-500:]}")

    async def drive():
        import urllib.request
        port = int(re.search(r":(\d+)/", m.group(1)).group(1))
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        target = [t for t in targets if t["type"] == "page"][0]["webSocketDebuggerUrl"]
        async with websockets.connect(target, max_size=None) as cdp:
            seq = 0

            async def call(method, **params):
                nonlocal seq
                seq += 1
                await cdp.send(json.dumps({"id": seq, "method": method, "params": params}))
                while True:
                    reply = json.loads(await cdp.recv())
                    if reply.get("id") == seq:
                        return reply.get("result", {})

            await call("Page.navigate", url="file://" + page)
            text = "pending"
            while text in ("pending", "") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                r = await call("Runtime.evaluate", expression="document.getElementById('out') ? "
                               "document.getElementById('out').textContent : ''")
                text = r.get("result", {}).get("value", "")
            shot = await call("Page.captureScreenshot", format="png")
            png = os.path.join(TMP, f"ws-{name}.png")
            with open(png, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(f"page says: {text}\nscreenshot: {png}")
            return text

    try:
        return run(drive(), timeout=150)
    finally:
        loopback.stop(browser, must=False)


def case_chromium_backend():
    """A real browser against journey-backend's /ws (the page's own origin is file://)."""
    bs = start_backends(1)
    text = chromium_echo(f"ws://{HOST}:{bs[0].port}/ws", "backend")
    check(text == "echo:22,200000", f"Chromium's page says: {text}")
    wait_for("the backend's WebSocket line", lambda: "close_received=1000" in read(bs[0].outpath), 10)


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES)
    if not HAVE_WEBSOCKETS:
        sys.exit(NEED_WEBSOCKETS)
    run_case(CASES[A.case])
