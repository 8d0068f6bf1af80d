#!/usr/bin/python3
"""Idle HTTP/2 connections for the memory workload (bench/run.sh h2-idle): the h2 twin of
`tlsconn hold`, with Debian's python3-h2 (hence /usr/bin/python3).

  h2hold.py --connect IP:PORT --ca FILE --count N [--concurrency C] [--timeout S] [--name HOST]
            [--requests R]

Opens N TLS connections offering ALPN h2 only (C handshakes in flight at a time), sends R
GET /my-app/data (1 by default) on each, one after another, and reads their whole responses
(what a connection keeps after many responses, e.g. its HPACK tables), then holds them all idle (answering the
server's PINGs and SETTINGS as a browser would) and prints "held=N failed=M elapsed_s=X". A
connection that does not negotiate h2 counts as failed. Holds until stdin reaches end of file,
SIGTERM/SIGINT, or --timeout seconds; loopback only.
"""
import argparse
import asyncio
import signal
import ssl
import sys
import time

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:
    sys.exit("h2hold.py: python3-h2 is missing (scripts/install-deps.sh --bench installs it)")


async def one(host, port, ctx, name, done, requests):
    """One connection: handshake, `requests` requests one after another, their whole responses;
    then the protocol kept alive."""
    r, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=name)
    if w.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
        w.close()
        raise ConnectionError("h2 not negotiated")
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()

    def get(sid):
        c.send_headers(sid, [(":method", "GET"), (":scheme", "https"), (":path", "/my-app/data"),
                             (":authority", name)], end_stream=True)
    get(1)
    w.write(c.data_to_send())
    answered, sent = False, 1
    while True:
        data = await r.read(65536)
        if not data:
            if not answered:
                raise ConnectionError("closed before the response")
            return
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if isinstance(ev, h2.events.StreamEnded) and not answered:
                if sent < requests:
                    sent += 1
                    get(2 * sent - 1)
                    continue
                answered = True
                done.set_result(True)
        w.write(c.data_to_send())


async def main(a):
    host, port = a.connect.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.set_alpn_protocols(["h2"])
    held = failed = 0
    t0 = time.monotonic()
    sem = asyncio.Semaphore(a.concurrency)
    tasks = []

    async def open_one():
        nonlocal held, failed
        async with sem:
            done = asyncio.get_running_loop().create_future()
            t = asyncio.ensure_future(one(host, int(port), ctx, a.name, done, a.requests))
            tasks.append(t)
            try:
                await asyncio.wait_for(asyncio.shield(done), 30)
                held += 1
            except Exception:
                failed += 1
                t.cancel()

    await asyncio.gather(*[open_one() for _ in range(a.count)])
    print(f"held={held} failed={failed} elapsed_s={time.monotonic() - t0:.3f}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(4096) or stop.set())
    try:
        await asyncio.wait_for(stop.wait(), a.timeout)
    except asyncio.TimeoutError:
        pass
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connect", required=True, help="IP:PORT of the LB's HTTPS listener")
    ap.add_argument("--ca", required=True, help="CA file that signed the LB's certificate")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--name", default="www.my-app.com", help="TLS server name and :authority")
    ap.add_argument("--requests", type=int, default=1, help="requests per connection before idling")
    a = ap.parse_args()
    if not a.connect.startswith(("127.", "[::1]")):
        sys.exit("h2hold.py: loopback addresses only")
    asyncio.run(main(a))
