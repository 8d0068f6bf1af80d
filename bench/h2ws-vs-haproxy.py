#!/usr/bin/python3
"""WebSockets over HTTP/2 (RFC 8441): journey-lb vs HAProxy (`alpn h2,http/1.1`, which offers
extended CONNECT by default), the same journey-backend /ws echo behind both, one worker/thread
each, loopback only. Debian's python3-h2 is the client (hence /usr/bin/python3), so the echo
times are the client's as much as the LB's: compare them only as ratios within one run.

  bench/h2ws-vs-haproxy.py --lb build/lb/journey-lb --backend build/backend/journey-backend
                           --certs DIR [--rounds 3] [--tunnels 90] [--conns 30] [--echoes 1000]

Per round and LB (rounds interleaved): T tunnels on one warm-up connection, then T more on a
second connection, each echoing one message: the RSS growth of the second batch per tunnel (the
worker's free lists already warm); then C connections each serving a request and then opening a
tunnel that echoes 40 KB, quiet for a second: the RSS growth per connection (what a quiet
connection with a tunnel keeps); then E echoes of 1000 bytes one after another on one tunnel:
their median round trip and the LB's CPU time (utime+stime) per echo. Prints one table of
medians and the ratios journey-lb / HAProxy."""
import argparse
import os
import statistics
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import h2_peers  # noqa: E402
import loopback  # noqa: E402
import test_lb_h2_ws as ws  # noqa: E402
import test_lb_ws as lbws  # noqa: E402
from ws_common import frame  # noqa: E402


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_tunnels(port, n):
    c = ws.H2(port)
    sids = [c.open("/ws") for _ in range(n)]
    for s in sids:
        if c.answer(s)[0] != "200":
            sys.exit(f"h2ws bench: a WebSocket over h2 was refused on port {port}")
        c.send(s, frame(1, b"x"))
    for s in sids:
        c.frames(s, 1)
    return c, sids


def quiet_connection(port):
    """A request, then a tunnel echoing 40 KB: the connection's buffers have all been used."""
    c = ws.H2(port)
    g = c.get()
    c.until(lambda: g in c.ended, what="the request's response")
    sid = c.open("/ws")
    if c.answer(sid)[0] != "200":
        sys.exit(f"h2ws bench: a WebSocket over h2 was refused on port {port}")
    c.send(sid, frame(2, os.urandom(40000)))
    c.frames(sid, 1)
    return c


def one_round(target, a, backend_port):
    extra = ["--access-log", "off", "--server-timing", "off", "--request-id", "off",
             "--served-by", "off"] if target == "journey" else ()
    lb = h2_peers.start_target(target, a.certs, [("b1", backend_port)], a.lb, extra=extra)
    pids = h2_peers.lb_tree(lb.pid)
    warm = open_tunnels(lb.port, a.tunnels)  # held open while the second batch is measured
    # 1 s: past journey-lb's 250 ms quiet-time release, so both LBs are measured settled
    time.sleep(1.0)
    r0 = h2_peers.rss_kib(pids)
    c, sids = open_tunnels(lb.port, a.tunnels)
    time.sleep(1.0)
    per_tunnel = (h2_peers.rss_kib(pids) - r0) / a.tunnels
    time.sleep(1.0)  # the tunnels above quiet too (what they give back is not this measure's)
    r0 = h2_peers.rss_kib(pids)
    quiet = [quiet_connection(lb.port) for _ in range(a.conns)]
    time.sleep(1.0)
    per_conn = (h2_peers.rss_kib(pids) - r0) / a.conns
    msg = frame(2, os.urandom(1000))
    rtts, cpu0 = [], sum(cpu_s(p) for p in pids)
    for _ in range(a.echoes):
        t0 = time.perf_counter()
        c.send(sids[0], msg)
        c.frames(sids[0], 1)
        rtts.append((time.perf_counter() - t0) * 1e6)
    cpu_us = (sum(cpu_s(p) for p in pids) - cpu0) * 1e6 / a.echoes
    warm[0].s.close()
    for q in quiet:
        q.s.close()
    loopback.stop(lb)
    return per_tunnel, per_conn, statistics.median(rtts), cpu_us


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tunnels", type=int, default=90)
    ap.add_argument("--conns", type=int, default=30)
    ap.add_argument("--echoes", type=int, default=1000)
    a = ap.parse_args()
    ws.A = lbws.A = types.SimpleNamespace(certs=a.certs, backend=a.backend, lb=a.lb)
    try:
        be = lbws.start_backends(1)[0]
        rows = {"journey": [], "haproxy": []}
        for _ in range(a.rounds):
            for target in rows:
                rows[target].append(one_round(target, a, be.port))
    finally:
        loopback.stop_all()
    med = {t: [statistics.median(r[i] for r in v) for i in range(4)] for t, v in rows.items()}
    print(f"WebSockets over HTTP/2, {a.rounds} interleaved rounds, medians (journey-backend /ws echo)\n")
    print("| measure | journey-lb | HAProxy | journey-lb / HAProxy |")
    print("|---|---|---|---|")
    for i, (name, unit) in enumerate((("RSS per idle tunnel", "KiB"),
                                      ("RSS per quiet connection with a tunnel", "KiB"),
                                      ("echo round trip", "µs"),
                                      ("LB CPU per echo", "µs"))):
        j, h = med["journey"][i], med["haproxy"][i]
        print(f"| {name} ({unit}) | {j:.1f} | {h:.1f} | {j / h if h else float('nan'):.2f} |")
    print("\nThe client (python3-h2, one thread) saturates, not the LBs: its own time is in every "
          "round trip, so that ratio understates the LBs' difference. CPU in clock ticks (10 ms) "
          "over all echoes.")


if __name__ == "__main__":
    main()
