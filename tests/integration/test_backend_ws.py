#!/usr/bin/env python3
"""journey-backend's WebSocket echo (GET /ws) against the real binary on loopback: a real client
(python3-websockets) for echo, ping, close and shutdown; hand-written bytes for the handshakes
and frames a library would never send.

    test_backend_ws.py BINARY [unittest args, e.g. Echo Handshake Limits Lifecycle]
"""
import asyncio
import os
import resource
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_backend  # noqa: E402  (its Backend class: start, log, stop and check the exit)
from harden_common import rss_kib  # noqa: E402
from test_backend import Backend  # noqa: E402
from ws_common import (HAVE_WEBSOCKETS, NEED_WEBSOCKETS, RawConn, accept_for, chunks,  # noqa: E402
                       finish_and_read, flood, frame, handshake_bytes, new_key, raw_open, run)

if HAVE_WEBSOCKETS:
    import websockets

MIB = 1024 * 1024


def url(b, path="/ws"):
    return f"ws://127.0.0.1:{b.port}{path}"


class WithBackend(unittest.TestCase):
    """One journey-backend (with ARGS) for the whole class."""
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.b = Backend(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()


class Echo(WithBackend):
    def test_text_binary_and_one_mib_in_frames(self):
        data = os.urandom(MIB)

        async def body():
            async with websockets.connect(url(self.b), max_size=None) as ws:
                await ws.send("héllo, 세계")
                self.assertEqual(await ws.recv(), "héllo, 세계")
                await ws.send(b"\x00\x01\xff")
                self.assertEqual(await ws.recv(), b"\x00\x01\xff")
                await ws.send(data)  # one 1 MiB frame
                self.assertEqual(await ws.recv(), data)
                await ws.send(chunks(data, 16 * 1024))  # 64 fragments, one message
                self.assertEqual(await ws.recv(), data)
                text = "ab" * (MIB // 2) + "ü"
                await ws.send(chunks(text, 1000))  # fragmented text, a character split nowhere
                self.assertEqual(await ws.recv(), text)
                await ws.send(b"")
                self.assertEqual(await ws.recv(), b"")
        run(body())

    def test_many_messages_in_flight_keep_their_order(self):
        async def body():
            async with websockets.connect(url(self.b), max_size=None) as ws:
                msgs = [os.urandom(1 + i * 997) for i in range(300)]
                sender = asyncio.ensure_future(asyncio.gather(*[ws.send(m) for m in msgs]))
                for m in msgs:
                    self.assertEqual(await ws.recv(), m)
                await sender
        run(body())

    def test_ping_gets_pong_with_its_payload(self):
        async def body():
            async with websockets.connect(url(self.b)) as ws:
                for payload in (b"", b"journey", os.urandom(125)):
                    waiter = await ws.ping(payload)  # resolves only on a pong with this payload
                    await asyncio.wait_for(waiter, 5)
                await ws.send("after pings")
                self.assertEqual(await ws.recv(), "after pings")
        run(body())

    def test_close_handshake_echoes_status_and_reason(self):
        async def body():
            ws = await websockets.connect(url(self.b))
            await ws.send("x")
            await ws.recv()
            await ws.close(4321, "done here")
            self.assertEqual(ws.close_code, 4321)
            self.assertEqual(ws.close_reason, "done here")
            ws = await websockets.connect(url(self.b))
            await ws.close(1000)
            self.assertEqual(ws.close_code, 1000)
        run(body())
        self.assertTrue(test_backend.wait_until(lambda: "close_received=4321" in self.b.access_log(), 5))
        log = self.b.access_log()
        line = [x for x in log.splitlines() if "close_received=4321" in x][0]
        for field in ("method=GET", "path=/ws", "status=101", "close_sent=4321", "messages=1"):
            self.assertIn(field, line)
        self.assertRegex(line, r"bytes_in=\d+ ")

    def test_close_without_status_and_tcp_closed_by_server(self):
        c = raw_open("127.0.0.1", self.b.port)
        c.s.sendall(frame(0x8, b""))
        self.assertEqual(c.close_code(), 1005)  # an empty close comes back empty
        self.assertTrue(c.eof(5), "the server closes the TCP connection after the close handshake")

    def test_frames_sent_with_the_handshake_are_read(self):
        c = raw_open("127.0.0.1", self.b.port, extra_after=frame(0x1, b"early") + frame(0x9, b"p"))
        # A pong may overtake a queued message (control frames go between messages).
        self.assertEqual(sorted([c.frame(), c.frame()]), [(True, 0x1, b"early"), (True, 0xA, b"p")])
        c.s.close()

    def test_control_frame_between_fragments(self):
        c = raw_open("127.0.0.1", self.b.port)
        c.s.sendall(frame(0x2, b"one-", fin=False) + frame(0x9, b"mid") + frame(0x0, b"two"))
        self.assertEqual(c.frame(), (True, 0xA, b"mid"))
        self.assertEqual(c.frame(), (True, 0x2, b"one-two"))
        c.s.close()

    def test_request_id_and_plain_routes_beside_ws(self):
        s = socket.create_connection(("127.0.0.1", self.b.port), 5)
        key = new_key()
        s.sendall(handshake_bytes(key=key, extra="X-Request-Id: abc-123\r\n"))
        c = RawConn(s)
        status, h = c.head()
        self.assertEqual((status, h["sec-websocket-accept"], h["x-request-id"], h["x-backend"]),
                         (101, accept_for(key), "abc-123", "b1"))
        self.assertNotIn("content-length", h)  # RFC 9110 8.6: never in a 1xx
        s.close()
        r = test_backend.one(self.b, test_backend.get("/my-app/data"))
        self.assertEqual(r.status, 200)


class Handshake(WithBackend):
    """Every refused handshake: exact status, the header that says what to do, and no frames."""

    def answer(self, raw):
        s = socket.create_connection(("127.0.0.1", self.b.port), 5)
        s.settimeout(5)
        s.sendall(raw)
        c = RawConn(s)
        status, h = c.head()
        closed = c.eof(5)
        s.close()
        return status, h, c.body, closed

    def test_rfc_sample_key(self):
        s = socket.create_connection(("127.0.0.1", self.b.port), 5)
        s.sendall(handshake_bytes(key="dGhlIHNhbXBsZSBub25jZQ=="))
        status, h = RawConn(s).head()
        s.close()
        self.assertEqual(status, 101)
        self.assertEqual(h["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        self.assertEqual(h["upgrade"].lower(), "websocket")
        self.assertEqual(h["connection"].lower(), "upgrade")

    def test_refusals(self):
        key = new_key()
        cases = [
            ("plain GET", handshake_bytes(key=key, upgrade=None, connection=None), 426, "upgrade"),
            ("other protocol", handshake_bytes(key=key, upgrade="h2c"), 426, "upgrade"),
            ("version 8", handshake_bytes(key=key, version="8"), 426, "sec-websocket-version"),
            ("no version", handshake_bytes(key=key, version=None), 400, None),
            ("no key", handshake_bytes(key=None), 400, None),
            ("short key", handshake_bytes(key="c2hvcnQ="), 400, None),
            ("key not base64", handshake_bytes(key="!!!!!!!!!!!!!!!!!!!!!!=="), 400, None),
            ("two keys", handshake_bytes(key=key, extra=f"Sec-WebSocket-Key: {key}\r\n"), 400, None),
            ("no Connection: upgrade", handshake_bytes(key=key, connection="keep-alive"), 400, None),
            ("HTTP/1.0", handshake_bytes(key=key, http="HTTP/1.0"), 400, None),
            ("POST", handshake_bytes(key=key, method="POST", extra="Content-Length: 0\r\n"), 405,
             "allow"),
        ]
        for name, raw, want, header in cases:
            with self.subTest(name):
                status, h, body, closed = self.answer(raw)
                self.assertEqual(status, want, body)
                self.assertNotIn("sec-websocket-accept", h)
                self.assertTrue(body, "a refusal says why in its body")
                self.assertTrue(closed, "a refused upgrade closes the connection")
                if header:
                    self.assertIn(header, h)
                if want == 426:
                    self.assertEqual(h["upgrade"], "websocket")
                    self.assertEqual(h["sec-websocket-version"], "13")
                if want == 405:
                    self.assertEqual(h["allow"], "GET")

    def test_upgrade_elsewhere_is_a_plain_answer(self):
        status, h, body, closed = self.answer(handshake_bytes("/my-app/data", key=new_key()))
        self.assertEqual(status, 200)
        self.assertIn(b'"backend":"b1"', body)
        self.assertTrue(closed)


class Limits(WithBackend):
    ARGS = ("--ws-max-message-bytes", "65536")

    def test_oversize_message_gets_1009(self):
        async def body():
            async with websockets.connect(url(self.b), max_size=None) as ws:
                at_limit = os.urandom(65536)
                await ws.send(at_limit)
                self.assertEqual(await ws.recv(), at_limit)
                await ws.send(os.urandom(65537))
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.rcvd.code, 1009)
            async with websockets.connect(url(self.b), max_size=None) as ws:
                await ws.send(chunks(os.urandom(70000), 8192))  # fragments that add up past it
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await ws.recv()
                self.assertEqual(cm.exception.rcvd.code, 1009)
        run(body())

    def test_declared_length_refused_before_it_arrives(self):
        c = raw_open("127.0.0.1", self.b.port)
        # A frame header announcing 1 GiB: refused on the header, nothing allocated for it.
        c.s.sendall(bytes([0x82, 0xFF]) + (1 << 30).to_bytes(8, "big") + os.urandom(4 + 1000))
        self.assertEqual(c.close_code(), 1009)
        self.assertTrue(c.eof(5))

    def test_protocol_errors(self):
        cases = [
            ("unmasked frame", frame(0x1, b"hi", mask=False), 1002),
            ("bad UTF-8 text", frame(0x1, b"\xc3\x28"), 1007),
            ("reserved opcode", frame(0x3, b""), 1002),
            ("continuation without a start", frame(0x0, b"x"), 1002),
            # Errors in a frame's header: wslay answers with a close without a status.
            ("fragmented ping", frame(0x9, b"x", fin=False), 1005),
            ("ping over 125 bytes", frame(0x9, b"x" * 126), 1005),
            ("close code 1005 on the wire", frame(0x8, (1005).to_bytes(2, "big")), 1002),
        ]
        for name, raw, want in cases:
            with self.subTest(name):
                c = raw_open("127.0.0.1", self.b.port)
                c.s.sendall(raw)
                self.assertEqual(c.close_code(), want)
                self.assertTrue(c.eof(5))

    def test_back_pressure_bounds_memory(self):
        """A client that sends 1 MiB messages without reading: the server stops reading once its
        echoes are queued, so the client's writes stall and the server's memory stays bounded;
        every echo then arrives, intact and in order."""
        big = Backend("--ws-max-message-bytes", str(2 * MIB))
        try:
            c = raw_open("127.0.0.1", big.port)
            data = os.urandom(MIB)
            msg = frame(0x2, data)
            rss0 = rss_kib(big.proc.pid)
            sent = flood(c, msg, 64)
            self.assertLess(sent, 16 * MIB, "the server kept reading while its echoes piled up")
            # Unbounded, it would hold 64 MiB; bounded, a few messages (ASan's quarantine of
            # freed blocks counts in RSS too, hence the margin).
            grew = rss_kib(big.proc.pid) - rss0
            self.assertLess(grew, 32 * 1024, f"server RSS grew by {grew} KiB")
            echoes, want = finish_and_read(c, msg, sent)
            self.assertEqual(len(echoes), want)
            self.assertTrue(all(e == (True, 2, data) for e in echoes), "every echo intact")
            c.s.close()
        finally:
            big.stop()

    def test_empty_frame_flood_bounds_memory_and_keeps_serving(self):
        """A client that sends empty pings without reading: each queues a pong that weighs
        nothing in bytes, so only a bound on the number of queued frames stops the reading.
        Unbounded, the server read 120 MB of pings and grew by 1.3 GiB, and its loop was too busy
        to answer others; bounded, it stops reading and a request beside it answers at once."""
        # Under ASan, freed blocks wait in a quarantine (256 MB) instead of being reused: the
        # pongs already sent would count as held. Without it, RSS is what is held.
        env = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [env, "quarantine_size_mb=0"]))
        try:
            b = Backend()
        finally:
            os.environ.pop("ASAN_OPTIONS") if env is None else os.environ.update(ASAN_OPTIONS=env)
        try:
            c = raw_open("127.0.0.1", b.port)
            ping = frame(0x9, b"")
            rss0 = rss_kib(b.proc.pid)
            sent = flood(c, ping * 10000, 512, stall=1.0, budget=20)  # at most 30 MiB of pings
            grew = rss_kib(b.proc.pid) - rss0
            self.assertLess(grew, 16 * 1024, f"server RSS grew by {grew} KiB after {sent} bytes")
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", b.port), 5) as h:
                h.sendall(b"GET /health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                self.assertTrue(h.recv(100).startswith(b"HTTP/1.1 200"), "/health beside it")
            self.assertLess(time.monotonic() - t0, 1.0, "/health waited behind the flood")
            self.assertEqual([c.frame() for _ in range(3)], [(True, 0xA, b"")] * 3, "pongs")
            c.s.close()
        finally:
            b.stop()

class Lifecycle(unittest.TestCase):
    def test_sigterm_closes_open_websockets_with_1001(self):
        b = Backend()
        result = {}

        async def body():
            conns = [await websockets.connect(url(b)) for _ in range(20)]
            for ws in conns:
                await ws.send("hi")
                await ws.recv()
            t0 = time.monotonic()
            b.signal(signal.SIGTERM)
            for ws in conns:
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), 5)
                self.assertEqual(cm.exception.rcvd.code, 1001)
                self.assertEqual(cm.exception.rcvd.reason, "server shutting down")
            result["took"] = time.monotonic() - t0
        run(body())
        self.assertEqual(b.wait(10), 0)
        self.assertLess(result["took"], 5)
        self.assertEqual(b.access_log().count("close_sent=1001"), 20)
        b.stop()

    def test_sigterm_with_a_client_that_never_answers_the_close(self):
        b = Backend("--drain-timeout-ms", "1500")
        c = raw_open("127.0.0.1", b.port)
        t0 = time.monotonic()
        b.signal(signal.SIGTERM)
        self.assertEqual(c.close_code(), 1001)
        self.assertTrue(c.eof(10))  # we never answer: the server gives up and closes
        self.assertEqual(b.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        b.stop()

    def test_idle_websocket_is_closed_with_1001(self):
        b = Backend("--ws-idle-timeout-ms", "1500")
        try:
            async def body():
                async with websockets.connect(url(b), ping_interval=None) as ws:
                    for _ in range(3):  # 1.8 s in all, never 1.5 s quiet: traffic resets the clock
                        await asyncio.sleep(0.6)
                        await ws.send("still here")
                        self.assertEqual(await ws.recv(), "still here")
                    await ws.send("still here")
                    self.assertEqual(await ws.recv(), "still here")
                    t0 = time.monotonic()
                    with self.assertRaises(websockets.ConnectionClosed) as cm:
                        await asyncio.wait_for(ws.recv(), 5)
                    self.assertEqual((cm.exception.rcvd.code, cm.exception.rcvd.reason), (1001, "idle"))
                    took = time.monotonic() - t0
                    self.assertTrue(1.2 < took < 3.5, f"closed after {took:.2f}s, want about 1.5s")
            run(body())
        finally:
            b.stop()

    def test_many_open_websockets_and_plain_requests_together(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
        b = Backend("--workers", "2")
        try:
            async def body():
                conns = [await websockets.connect(url(b), ping_interval=None) for _ in range(500)]
                for i, ws in enumerate(conns):
                    await ws.send(str(i))
                for i, ws in enumerate(conns):
                    self.assertEqual(await ws.recv(), str(i))
                r = test_backend.one(b, test_backend.get("/health"))
                self.assertEqual(r.status, 200)
                await asyncio.gather(*[ws.close() for ws in conns])
            run(body())
        finally:
            b.stop()

    def test_help_documents_the_flags(self):
        import subprocess
        out = subprocess.run([test_backend.BINARY, "--help"], capture_output=True, text=True).stdout
        for flag in ("GET /ws", "--ws-max-message-bytes", "--ws-idle-timeout-ms"):
            self.assertIn(flag, out)
        bad = subprocess.run([test_backend.BINARY, "--listen", "127.0.0.1:0", "--name", "b",
                              "--ws-max-message-bytes", "10"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--ws-max-message-bytes '10': expected a whole number from 125", bad.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_backend_ws.py BINARY [unittest args]")
    if not HAVE_WEBSOCKETS:
        sys.exit(NEED_WEBSOCKETS)
    test_backend.BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
