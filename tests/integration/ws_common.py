"""WebSocket helpers shared by the backend and load-balancer WebSocket tests: the opening
handshake and frames written by hand on a raw socket (so that a test can send exactly what a
library would refuse to: unmasked frames, bad UTF-8, frames glued to the handshake), and the
python3-websockets client used for everything a real client does.

Debian's python3-websockets (10.x) is for /usr/bin/python3; only its asyncio API exists there."""
import asyncio
import base64
import hashlib
import os
import socket
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 10.0

try:
    import websockets  # noqa: F401
    HAVE_WEBSOCKETS = True
except ImportError:  # the test then skips with this reason
    HAVE_WEBSOCKETS = False
NEED_WEBSOCKETS = "python3-websockets missing: run scripts/install-deps.sh and use /usr/bin/python3"


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def handshake_bytes(path="/ws", host="x", key=None, version="13", extra="", method="GET",
                    http="HTTP/1.1", upgrade="websocket", connection="Upgrade"):
    """The bytes of an opening handshake; a None field leaves its header out."""
    lines = [f"{method} {path} {http}", f"Host: {host}"]
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def frame(opcode, payload=b"", fin=True, mask=True):
    """One client frame (masked unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawConn:
    """A raw socket after a hand-written handshake: read the head, then server frames."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def _fill(self):
        x = self.s.recv(65536)
        if not x:
            raise EOFError("connection closed")
        self.buf += x

    def head(self):
        """(status, {lower-case name: value}) of the HTTP answer, its body skipped."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        self.body, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split()[1]), headers

    def frame(self):
        """(fin, opcode, payload) of the next server frame (servers never mask)."""
        while len(self.buf) < 2:
            self._fill()
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            while len(self.buf) < 4:
                self._fill()
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            while len(self.buf) < 10:
                self._fill()
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        assert not (b1 & 0x80), "a server frame must not be masked"
        while len(self.buf) < off + n:
            self._fill()
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def close_code(self):
        """The status of the close frame the server sends next (skipping data frames)."""
        while True:
            _, op, payload = self.frame()
            if op == 8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def eof(self, timeout=TIMEOUT):
        """True when the server closes the TCP connection within timeout (data ignored)."""
        self.s.settimeout(timeout)
        try:
            while self.s.recv(65536):
                pass
            return True
        except (socket.timeout, ConnectionResetError):
            return False


def raw_open(host, port, path="/ws", extra_after=b""):
    """A raw connection with a good handshake sent (plus extra_after in the same write)."""
    s = socket.create_connection((host, port), TIMEOUT)
    s.settimeout(TIMEOUT)
    key = new_key()
    s.sendall(handshake_bytes(path, key=key) + extra_after)
    c = RawConn(s)
    status, headers = c.head()
    assert status == 101, f"expected 101, got {status} {headers}"
    assert headers.get("sec-websocket-accept") == accept_for(key), headers
    return c


def run(coro, timeout=120):
    """Runs one asyncio test body with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def flood(c, msg, count, stall=1.0, budget=20.0):
    """Sends msg (a whole frame) up to count times without reading anything back, until the
    socket has accepted nothing for `stall` seconds (the peer stopped reading: back-pressure) or
    `budget` seconds passed. Returns the bytes the kernel took (possibly mid-frame)."""
    c.s.setblocking(False)
    sent, stalled_since = 0, None
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline and sent < count * len(msg):
        try:
            sent += c.s.send(msg[sent % len(msg):])
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > stall:
                break
            time.sleep(0.01)
    c.s.setblocking(True)
    c.s.settimeout(TIMEOUT)
    return sent


def finish_and_read(c, msg, sent, timeout=60):
    """After flood(): reads the echoes in a thread (as a real client does) while the frame in
    progress is completed. Returns (frames read, frames expected)."""
    want = (sent + len(msg) - 1) // len(msg)
    echoes = []
    reader = threading.Thread(target=lambda: echoes.extend(c.frame() for _ in range(want)),
                              daemon=True)
    reader.start()
    if sent % len(msg):
        c.s.sendall(msg[sent % len(msg):])
    reader.join(timeout)
    return echoes, want
