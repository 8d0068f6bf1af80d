#!/usr/bin/env python3
"""journey-lb health checks, DNS discovery, admin endpoints, drain and reload (issue 5), with
real processes on loopback: journey-backend servers, journey-lb, and dnsmasq for DNS.

usage: test_health.py --lb PATH --backend PATH --case NAME
Every case starts its own processes on free loopback ports and stops them; request loops are
bounded in count and time.
"""
import http.client, json, math, os, re, shutil, signal, socket, subprocess, sys
import threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP as tmpdir, case_args, check, free_ports, read, run_case, start, stop,  # noqa: E402
                      wait_for, wait_port, wait_until)

A = None
os.chmod(tmpdir, 0o755)  # dnsmasq re-reads its hosts file after dropping privileges


def start_backend(name, port, host="127.0.0.1", extra=()):
    p = start([A.backend, "--listen", f"{host}:{port}", "--name", name, "--admin", *extra], name)
    wait_port(port, p, f"backend {name}", host)
    p.port, p.host = port, host
    return p


def start_lb(flags, admin=True, wait_listen=True, plain_listener=True):
    plain, adm = free_ports(2)
    cmd = [A.lb, "--workers", "2"]
    if plain_listener:
        cmd += ["--listen", f"http://127.0.0.1:{plain}"]
    if admin:
        cmd += ["--admin", f"127.0.0.1:{adm}"]
    if "--drain-delay" not in flags:
        cmd += ["--drain-delay", "0"]  # the drain case sets its own
    cmd += list(flags)
    p = start(cmd, "lb")
    p.plain, p.admin = plain, adm
    if wait_listen and plain_listener:
        wait_port(plain, p, "journey-lb")
    if wait_listen:
        # The sockets listen (and the admin endpoints answer) during the first round of health
        # checks; the workers accept once it is over and "started" is logged.
        wait_for("journey-lb started", lambda: "msg=started" in read(p.errpath) or p.poll() is not None, 60)
        check(p.poll() is None, f"journey-lb exited at start: {read(p.errpath)}")
    return p


def req(port, method="GET", path="/my-app/data", body=None, timeout=5, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        data = r.read()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
    finally:
        c.close()


def stats(lb):
    st, _, body = req(lb.admin, path="/stats")
    check(st == 200, f"/stats answered {st}")
    return json.loads(body)


def servers(lb, pool="default"):
    for p in stats(lb)["pools"]:
        if p["name"] == pool:
            return {s["name"]: s for s in p["servers"]}
    raise AssertionError(f"no pool {pool} in /stats")


def set_backend_health(b, state):
    st, _, _ = req(b.port, "POST", "/admin/health", body=state, host=b.host)
    check(st == 200, f"backend {b.name}: POST /admin/health {state} answered {st}")


def served_by(lb, n):
    out = []
    for _ in range(n):
        st, h, _ = req(lb.plain)
        out.append((st, h.get("x-served-by")))
    return out


def access_count(b):
    return sum(1 for line in read(b.outpath).splitlines() if "/my-app/data" in line)


class Loop(threading.Thread):
    """Keep-alive GET loop on the plain listener, bounded in count and time; records statuses."""

    def __init__(self, lb, max_requests=4000, max_seconds=20):
        super().__init__(daemon=True)
        self.lb, self.max_requests, self.max_seconds = lb, max_requests, max_seconds
        self.results, self.errors, self.stop_flag = [], [], threading.Event()

    def run(self):
        t0 = time.monotonic()
        conn = None
        while (not self.stop_flag.is_set() and len(self.results) < self.max_requests
               and time.monotonic() - t0 < self.max_seconds):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.lb.plain, timeout=5)
                conn.request("GET", "/my-app/data")
                r = conn.getresponse()
                r.read()
                self.results.append((r.status, r.getheader("X-Served-By")))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # a failed request is what the cases look for
                self.errors.append(repr(e))
                conn = None
            time.sleep(0.002)
        if conn:
            conn.close()

    def finish(self):
        self.stop_flag.set()
        self.join(30)
        check(not self.is_alive(), "request loop did not stop")
        return self.results


# Timer lateness allowed on a loaded, sanitized CI machine (2 cores shared by several builds).
SLACK = 0.4

HEALTH = ["--health-path", "/health", "--health-interval", "300ms", "--health-timeout", "200ms",
          "--health-rise", "2", "--health-fall", "3", "--health-fast-interval", "300ms"]
# HEALTH with room for a slow probe (a TLS handshake under ASan on a loaded 2-core machine can
# take longer than 200 ms), for cases that assert a check's result rather than its speed.
SLOW_OK = [*HEALTH, "--health-timeout", "2000ms", "--health-interval", "2500ms"]


# ---------------------------------------------------------------- cases

def case_down_up():
    """Failing backend: DOWN within fall x interval + timeout, no new requests; back after rise."""
    p1, p2 = free_ports(2)
    start_backend("b1", p1)
    b2 = start_backend("b2", p2)
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}", *HEALTH])
    s = servers(lb)
    check(s["b1"]["state"] == "UP" and s["b2"]["state"] == "UP", f"both UP at start: {s}")
    check(s["b2"]["address"] == f"127.0.0.1:{p2}", f"address of b2: {s['b2']}")
    check({h for _, h in served_by(lb, 6)} == {"b1", "b2"}, "both serve at start")

    t0 = time.monotonic()
    set_backend_health(b2, "down")
    # On a loaded machine one loopback round trip can take a second: allow a few of them.
    slack = SLACK + 4 * (time.monotonic() - t0)
    bound = 3 * 0.300 + 0.200  # fall x interval + timeout
    took = wait_for("b2 DOWN in /stats", lambda: servers(lb)["b2"]["state"] == "DOWN", 5, 0.02)
    print(f"b2 DOWN after {took:.3f}s (bound {bound:.3f}s, slack {slack:.3f}s)")
    check(took <= bound + slack, f"b2 went DOWN after {took:.3f}s, more than {bound:.3f}s "
          f"+ {slack:.3f}s slack")
    check(servers(lb)["b2"]["last_check"]["result"] == "status 503", "reason: status 503")
    before = access_count(b2)
    got = served_by(lb, 20)
    check(all(st == 200 and h == "b1" for st, h in got), f"all to b1 while b2 DOWN: {got}")
    time.sleep(0.1)
    check(access_count(b2) == before, "b2 received requests while DOWN")

    t0 = time.monotonic()
    set_backend_health(b2, "up")
    slack = SLACK + 4 * (time.monotonic() - t0)
    bound_up = 2 * 0.300 + 0.200
    took = wait_for("b2 UP again", lambda: servers(lb)["b2"]["state"] == "UP", 5, 0.02)
    print(f"b2 UP after {took:.3f}s (bound {bound_up:.3f}s, slack {slack:.3f}s)")
    check(took <= bound_up + slack, f"b2 came back after {took:.3f}s, more than {bound_up:.3f}s "
          f"+ {slack:.3f}s slack")
    check("b2" in {h for _, h in served_by(lb, 6)}, "b2 serves again")
    log = read(lb.errpath)
    check(re.search(r"check failed 3/3, server b2 DOWN .*status 503, check took [0-9.]+ ms", log),
          f"DOWN transition logged with counts and reason:\n{log}")
    check(re.search(r"check passed 2/2, server b2 UP .*status 200", log), "UP transition logged")
    check(len(re.findall(r"server b2 DOWN", log)) == 1, "the DOWN transition is logged once")
    check(stop(lb) == 0, "lb exit status")


def case_admin_actions():
    """POST /servers/NAME drain|disable|enable: maintenance without a restart."""
    p1, p2 = free_ports(2)
    start_backend("b1", p1), start_backend("b2", p2)
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}"])
    st, _, body = req(lb.admin, "POST", "/servers/b1", body="drain")
    check(st == 200 and json.loads(body)[0]["state"] == "DRAIN", f"drain: {st} {body}")
    check(servers(lb)["b1"]["state"] == "DRAIN", "b1 DRAIN in /stats")
    check(all(h == "b2" for _, h in served_by(lb, 8)), "drained b1 gets no new requests")
    st, _, body = req(lb.admin, "POST", "/servers/b1/disable")
    check(st == 200 and servers(lb)["b1"]["state"] == "MAINT", f"disable: {st} {body}")
    st, _, _ = req(lb.admin, "POST", "/servers/b1", body="enable")
    check(st == 200 and servers(lb)["b1"]["state"] == "UP", "enable")
    check("b1" in {h for _, h in served_by(lb, 6)}, "b1 serves again")
    check(req(lb.admin, "POST", "/servers/nosuch", body="drain")[0] == 404, "unknown server 404")
    check(req(lb.admin, "POST", "/servers/b1", body="explode")[0] == 400, "unknown action 400")
    check(req(lb.admin, "GET", "/servers/b1")[0] == 405, "GET on an action 405")
    check(req(lb.admin, "GET", "/nope")[0] == 404, "unknown admin path 404")
    out = read(lb.outpath)
    check(re.search(r"msg=admin client=127.0.0.1 method=POST path=/servers/b1 status=200", out),
          f"admin requests in the access log:\n{out}")
    check(stop(lb) == 0, "lb exit status")


def case_kill_backend():
    """Killing a backend under a steady request loop loses no GET."""
    ports = free_ports(3)
    bs = [start_backend(f"b{i + 1}", p) for i, p in enumerate(ports)]
    lb = start_lb([f"--backend=b{i + 1}=127.0.0.1:{p}" for i, p in enumerate(ports)] + HEALTH)
    loop = Loop(lb, max_requests=1500, max_seconds=15)
    loop.start()
    wait_for("loop running", lambda: len(loop.results) > 100, 10)
    bs[1].kill()
    bs[1].wait()
    wait_for("b2 DOWN", lambda: servers(lb)["b2"]["state"] == "DOWN", 5)
    n = len(loop.results)
    wait_for("more requests", lambda: len(loop.results) > n + 200, 10)
    res = loop.finish()
    bad = [r for r in res if r[0] != 200]
    print(f"{len(res)} requests, {len(bad)} not 200, {len(loop.errors)} errors")
    check(not loop.errors, f"request errors: {loop.errors[:5]}")
    check(not bad, f"failed requests: {bad[:5]}")
    check(all(h != "b2" for _, h in res[-150:]), "no request to the killed b2 once DOWN")
    check(stop(lb) == 0, "lb exit status")


def case_all_down():
    """Every server down: 503 at once, /healthz 503; one back: /healthz 200."""
    p1, p2 = free_ports(2)
    b1, b2 = start_backend("b1", p1), start_backend("b2", p2)
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}", *HEALTH])
    check(req(lb.admin, path="/healthz")[0] == 200, "/healthz 200 at start")
    set_backend_health(b1, "down")
    set_backend_health(b2, "down")
    wait_for("all DOWN", lambda: all(s["state"] == "DOWN" for s in servers(lb).values()), 5)
    t0 = time.monotonic()
    st, _, body = req(lb.plain)
    took = time.monotonic() - t0
    check(st == 503, f"all down: {st} {body}")
    check(took < 0.5, f"503 took {took:.3f}s")
    st, _, body = req(lb.admin, path="/healthz")
    check(st == 503 and b"no backend server is UP" in body, f"/healthz {st} {body}")
    check(stats(lb)["pools"][0]["no_server"] >= 1, "no_server counted")
    set_backend_health(b1, "up")
    wait_for("/healthz 200", lambda: req(lb.admin, path="/healthz")[0] == 200, 5)
    check(req(lb.plain)[0] == 200, "served again")
    check(stop(lb) == 0, "lb exit status")


def case_startup_round():
    """Start-up waits for the first round: a server down at start never gets a request."""
    p1, p2 = free_ports(2)
    start_backend("b1", p1)
    b2 = start_backend("b2", p2, extra=["--start-down"])
    # What this case checks is the counting, not the checks' speed: a 2 s check timeout keeps a
    # slow check on a loaded machine from turning last_check or journey_backend_up.
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}", *SLOW_OK])
    got = served_by(lb, 10)  # at once, before any second check
    check(all(st == 200 and h == "b1" for st, h in got), f"only b1 from the start: {got}")
    check(access_count(b2) == 0, "b2 got a request before its first check")
    log = read(lb.errpath)
    check("first check failed, server b2 DOWN" in log and "first health check round" in log,
          f"first round logged:\n{log}")
    check(log.index("first health check round") < log.index("msg=started"),
          "first round finishes before the listeners accept")
    check(stop(lb) == 0, "lb exit status")


def case_passive():
    """Passive checks: consecutive 5xx eject a server (no active checks); it returns later."""
    p1, p2 = free_ports(2)
    start_backend("b1", p1)
    start_backend("b2", p2, extra=["--fail-rate", "1"])
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}",
                   "--outlier-consecutive-5xx", "3", "--outlier-base-ejection-time", "1s",
                   "--outlier-max-ejection-time", "5s"])
    got = served_by(lb, 6)  # b2 answers 500 three times (round-robin)
    check(sum(1 for st, h in got if h == "b2" and st >= 500) == 3, f"b2 failed 3 times: {got}")
    wait_for("b2 ejected", lambda: servers(lb)["b2"]["ejected"], 3, 0.02)
    t_ej = time.monotonic()
    s = servers(lb)["b2"]
    check(s["state"] == "DOWN" and s["ejections"] == 1, f"ejected state: {s}")
    check(all(h == "b1" for _, h in served_by(lb, 8)), "ejected b2 gets nothing")
    wait_for("b2 back", lambda: not servers(lb)["b2"]["ejected"], 4, 0.02)
    took = time.monotonic() - t_ej
    t0 = time.monotonic()
    servers(lb)
    slack = 0.6 + 4 * (time.monotonic() - t0)  # polling and timer lateness on a loaded machine
    check(0.7 <= took <= 1.0 + slack, f"first ejection lasted {took:.3f}s, base time is 1s")
    check(servers(lb)["b2"]["state"] == "UP", "b2 UP after the ejection")
    # second ejection: twice the base time
    served_by(lb, 6)
    wait_for("b2 ejected again", lambda: servers(lb)["b2"]["ejected"], 3, 0.02)
    t_ej = time.monotonic()
    check(servers(lb)["b2"]["ejections"] == 2, "counted twice")
    wait_for("b2 back again", lambda: not servers(lb)["b2"]["ejected"], 8, 0.02)
    took = time.monotonic() - t_ej
    check(1.7 <= took <= 2.0 + slack, f"second ejection lasted {took:.3f}s, expected 2s")
    log = read(lb.errpath)
    check(re.search(r"server b2 \(127\.0\.0\.1:\d+\) ejected for 1000 ms after 3 consecutive 5xx", log)
          and re.search(r"ejected for 2000 ms after 3 consecutive 5xx responses \(ejection 2", log),
          f"growing ejection time logged:\n{log}")
    check(stop(lb) == 0, "lb exit status")


def dnsmasq(hosts_file):
    (port,) = free_ports(1)
    p = start(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--listen-address=127.0.0.1", f"--port={port}", "--bind-interfaces",
               f"--addn-hosts={hosts_file}", "--pid-file=", "--log-facility=-"], "dnsmasq")
    deadline = time.time() + 10
    while time.time() < deadline:  # dnsmasq listens on TCP too: wait for it
        if p.poll() is not None:
            raise AssertionError(f"dnsmasq exited: {read(p.errpath)}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    p.dnsport = port
    return p


def write_hosts(path, ips):
    with open(path + ".tmp", "w") as f:
        for ip in ips:
            f.write(f"{ip} backend.test\n")
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)


def case_dns():
    """DNS discovery against dnsmasq: records added and removed become servers added/removed."""
    if not shutil.which("dnsmasq"):
        raise AssertionError("dnsmasq is not installed (scripts/install-deps.sh --test)")
    (port,) = free_ports(1)
    hosts = os.path.join(tmpdir, "hosts")
    write_hosts(hosts, ["127.0.0.2", "127.0.0.3"])
    dns = dnsmasq(hosts)
    b2 = start_backend("b2", port, "127.0.0.2")
    start_backend("b3", port, "127.0.0.3")
    start_backend("b4", port, "127.0.0.4")
    lb = start_lb(["--backend-dns", f"backend.test:{port}", "--dns-servers",
                   f"127.0.0.1:{dns.dnsport}", "--dns-ttl-min", "200ms", *HEALTH])
    s = servers(lb)
    check(set(s) == {"backend.test-127.0.0.2", "backend.test-127.0.0.3"}, f"servers from DNS: {s}")
    check(all(v["state"] == "UP" and v["source"] == "dns" for v in s.values()), f"UP: {s}")
    check(s["backend.test-127.0.0.2"]["address"] == f"127.0.0.2:{port}", "address")
    got = {h for _, h in served_by(lb, 8)}  # X-Served-By names the LB's server
    check(got == {"backend.test-127.0.0.2", "backend.test-127.0.0.3"}, f"both serve: {got}")

    loop = Loop(lb, max_requests=3000, max_seconds=20)
    loop.start()
    write_hosts(hosts, ["127.0.0.3", "127.0.0.4"])
    dns.send_signal(signal.SIGHUP)  # dnsmasq re-reads --addn-hosts
    wait_for("127.0.0.4 added and 127.0.0.2 removed",
             lambda: set(servers(lb)) == {"backend.test-127.0.0.3", "backend.test-127.0.0.4"}, 10)
    wait_for("127.0.0.4 UP", lambda: servers(lb)["backend.test-127.0.0.4"]["state"] == "UP", 5)
    n2 = access_count(b2)
    n = len(loop.results)
    wait_for("more requests", lambda: len(loop.results) > n + 100, 10)
    res = loop.finish()
    check(not loop.errors and all(st == 200 for st, _ in res),
          f"no failed request while the records changed: {loop.errors[:3]} "
          f"{[r for r in res if r[0] != 200][:3]}")
    check(access_count(b2) == n2, "removed server still received requests")
    check({h for _, h in res[-60:]} == {"backend.test-127.0.0.3", "backend.test-127.0.0.4"},
          f"new set serves: {set(res[-60:])}")
    log = read(lb.errpath)
    check("server backend.test-127.0.0.4" in log and "added to pool default from DNS" in log,
          f"addition logged:\n{log}")
    check(re.search(r"server backend.test-127.0.0.2 .* removed from pool default: no longer in the "
                    r"DNS answer", log), "removal logged")
    check(stop(lb) == 0, "lb exit status")


def write_config(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def case_reload():
    """SIGHUP with a changed pool: applied with no failed request; a changed setting a running
    process cannot apply is named; an invalid config is rejected."""
    ports = free_ports(3)
    bs = [start_backend(f"b{i + 1}", p) for i, p in enumerate(ports)]
    conf = os.path.join(tmpdir, "lb.conf")
    write_config(conf, f"[pool default]\nbackend = b1=127.0.0.1:{ports[0]}\n"
                       f"backend = b2=127.0.0.1:{ports[1]}\n")
    lb = start_lb(["--config", conf, *HEALTH])
    check(set(servers(lb)) == {"b1", "b2"}, "b1 b2 at start")
    loop = Loop(lb, max_requests=3000, max_seconds=20)
    loop.start()
    wait_for("loop running", lambda: len(loop.results) > 50, 10)
    # h2-max-concurrent-streams changes too: a running process keeps its value and says so.
    write_config(conf, "[lb]\nh2-max-concurrent-streams = 50\n"
                       f"[pool default]\nbackend = b2=127.0.0.1:{ports[1]}\n"
                       f"backend = b3=127.0.0.1:{ports[2]},weight=2\n")
    lb.send_signal(signal.SIGHUP)
    wait_for("b3 UP, b1 gone", lambda: set(servers(lb)) == {"b2", "b3"}
             and servers(lb)["b3"]["state"] == "UP", 5)
    n1 = access_count(bs[0])
    n = len(loop.results)
    wait_for("more requests", lambda: len(loop.results) > n + 150, 10)

    write_config(conf, "[pool default]\nbackend = b9=not-an-address\n")
    lb.send_signal(signal.SIGHUP)
    wait_for("rejection logged", lambda: "reload rejected" in read(lb.errpath), 5)
    n = len(loop.results)
    wait_for("more requests", lambda: len(loop.results) > n + 100, 10)
    res = loop.finish()
    check(not loop.errors and all(st == 200 for st, _ in res),
          f"no failed request during the reloads: {loop.errors[:3]} {[r for r in res if r[0] != 200][:3]}")
    check(access_count(bs[0]) == n1, "removed b1 still received requests")
    last = [h for _, h in res[-90:]]
    check(set(last) == {"b2", "b3"}, f"new pool serves: {set(last)}")
    check(last.count("b3") > last.count("b2"), f"weight 2 of b3 applied: {last}")
    st = stats(lb)
    check(st["reloads"] == 1 and st["reload_failures"] == 1, f"reload counters: {st['reloads']} "
          f"{st['reload_failures']}")
    log = read(lb.errpath)
    check(re.search(r"reload rejected: .*not-an-address.*previous configuration keeps running", log),
          f"rejection reason logged:\n{log}")
    check("reload applied: 1 server(s) kept, 1 added, 1 removed" in log, "reload summary logged")
    check(re.search(r"need a restart were not applied: .*h2-max-concurrent-streams", log),
          f"the HTTP/2 setting a reload cannot change is named:\n{log}")
    check(stop(lb) == 0, "lb exit status")


def case_drain():
    """SIGTERM: /healthz 503 during the drain delay (still serving), listeners close, in-flight
    requests finish, exit 0, each step logged in order."""
    (p1,) = free_ports(1)
    start_backend("b1", p1, extra=["--delay-ms", "1200"])
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--drain-delay", "1s",
                   "--shutdown-timeout", "5s"])
    check(req(lb.admin, path="/healthz")[0] == 200, "/healthz 200 before SIGTERM")
    slow = {}

    def slow_request():
        slow["r"] = req(lb.plain, timeout=10)

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    lb.send_signal(signal.SIGTERM)
    wait_for("/healthz 503", lambda: req(lb.admin, path="/healthz")[0] == 503, 0.8, 0.02)
    st, _, body = req(lb.admin, path="/healthz")
    check(b"draining" in body, f"/healthz says why: {body}")
    c = socket.create_connection(("127.0.0.1", lb.plain), 1)  # still accepting during the delay
    c.close()
    check(time.monotonic() - t0 < 0.9, "listener open during the drain delay")
    wait_for("listener closed", lambda: not port_open(lb.plain), 3, 0.02)
    closed_after = time.monotonic() - t0
    check(closed_after >= 0.95, f"listener closed after {closed_after:.3f}s, before the 1s delay")
    t.join(10)
    check(slow.get("r", (0,))[0] == 200, f"in-flight request finished: {slow}")
    check(lb.wait(10) == 0, "exit 0")
    log = read(lb.errpath)
    steps = ["drain: /healthz answers 503 for 1000 ms", "drain: closing listeners",
             "drain: in-flight requests done", "msg=stopped"]
    pos = [log.find(s) for s in steps]
    check(all(p >= 0 for p in pos) and pos == sorted(pos), f"drain steps in order {pos}:\n{log}")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def case_tls_and_tcp_checks():
    """HTTP check over verified TLS (a journey-lb HTTPS listener as the checked server), a
    failing verification, and the plain TCP-connect check."""
    (p1,) = free_ports(1)
    b1 = start_backend("b1", p1)
    ca = os.path.join(A.certs, "ca.crt")
    tls_srv = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--listen",
                        f"https://127.0.0.1:{free_ports(1)[0]}", "--cert",
                        os.path.join(A.certs, "server.crt"), "--key",
                        os.path.join(A.certs, "server.key")], admin=False)
    tport = int(re.search(r"listen=https://127.0.0.1:(\d+)", wait_log(tls_srv, "msg=started")).group(1))

    def settles(lb, name, state, result):
        """Polls /stats until server `name` is in `state` with a last check whose result
        contains `result` (a check slower than its timeout on a loaded machine is retried at
        the next interval); returns the server's fields."""
        got = {}

        def reached():
            got["s"] = s = servers(lb)[name]
            return s["state"] == state and result in s["last_check"]["result"]
        wait_until(reached, 60, 0.1)
        return got["s"]

    # A TLS probe is a full handshake on both sides: under ASan on a loaded 2-core machine it
    # can take longer than HEALTH's 200 ms, so these checks get 2 s (SLOW_OK: what they assert
    # is the verification result, not the speed).
    good = start_lb(["--backend", f"t1=127.0.0.1:{tport}", *SLOW_OK, "--health-tls", "on",
                     "--health-tls-ca", ca])
    s = settles(good, "t1", "UP", "status 200")
    check(s["state"] == "UP" and s["last_check"]["result"] == "status 200",
          f"verified TLS check passes: {s}")
    bad = start_lb(["--backend", f"t1=127.0.0.1:{tport}", *SLOW_OK, "--health-tls", "on",
                    "--health-tls-ca", ca, "--health-tls-sni", "wrong.example"])
    s = settles(bad, "t1", "DOWN", "verify failed")
    print(f"TLS check with a wrong name: {s['state']}, {s['last_check']['result']}")
    check(s["state"] == "DOWN" and "verify failed" in s["last_check"]["result"],
          f"a certificate that does not match fails the check: {s}")
    tcp = start_lb(["--backend", f"b1=127.0.0.1:{p1}", *HEALTH, "--health-check", "tcp"])
    s = settles(tcp, "b1", "UP", "connected")
    check(s["state"] == "UP" and s["last_check"]["result"] == "connected", f"tcp check: {s}")
    check(stop(tls_srv) == 0, "TLS server exit status")
    b1.send_signal(signal.SIGKILL)
    s = settles(tcp, "b1", "DOWN", "connection refused")
    check(s["state"] == "DOWN" and s["last_check"]["result"] == "connection refused",
          f"b1 DOWN by the tcp check, connection refused: {s}")
    wait_for("t1 DOWN", lambda: servers(good)["t1"]["state"] == "DOWN", 60)
    for p in (good, bad, tcp):
        check(stop(p) == 0, "lb exit status")


def wait_log(p, text, timeout=60):
    wait_for(f"{p.name} logs {text}", lambda: text in read(p.errpath), timeout)
    return read(p.errpath)


def peer_subject(port):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), 5) as raw_sock:
        with ctx.wrap_socket(raw_sock, server_hostname="www.my-app.com") as t:
            der = t.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=ssl.DER_cert_to_PEM_cert(der),
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def case_cert_reload():
    """SIGHUP reloads certificates: a missing key is rejected, a new certificate is served to
    new connections while an established TLS connection keeps working."""
    (p1, tport) = free_ports(2)
    start_backend("b1", p1)
    conf = os.path.join(tmpdir, "tls.conf")
    cert, key = os.path.join(A.certs, "server.crt"), os.path.join(A.certs, "server.key")
    body = "[lb]\nlisten = https://127.0.0.1:{}\ncert = {}\nkey = {}\nbackend = b1=127.0.0.1:{}\n"
    write_config(conf, body.format(tport, cert, key, p1))
    lb = start_lb(["--config", conf], admin=False, plain_listener=False)
    wait_port(tport, lb, "https listener")
    before = peer_subject(tport)
    import ssl
    ctx = ssl.create_default_context(cafile=os.path.join(A.certs, "ca.crt"))
    keep = http.client.HTTPSConnection("www.my-app.com", tport, context=ctx, timeout=5)
    keep.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tport), 5),
                                server_hostname="www.my-app.com")
    keep.request("GET", "/my-app/data")
    r = keep.getresponse()
    r.read()
    check(r.status == 200, "request on the established connection")

    write_config(conf, body.format(tport, cert, os.path.join(tmpdir, "missing.key"), p1))
    lb.send_signal(signal.SIGHUP)
    log = wait_log(lb, "reload rejected")
    check("missing.key" in log, f"rejection names the file:\n{log}")
    check(peer_subject(tport) == before, "old certificate still served")

    newkey, newcert = os.path.join(tmpdir, "new.key"), os.path.join(tmpdir, "new.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", newkey, "-out", newcert, "-days", "1", "-subj",
                    "/CN=reloaded.test"], check=True, capture_output=True)
    write_config(conf, body.format(tport, newcert, newkey, p1))
    lb.send_signal(signal.SIGHUP)
    wait_log(lb, "certificates reloaded")
    after = peer_subject(tport)
    check("reloaded.test" in after and after != before, f"new certificate served: {after}")
    keep.request("GET", "/my-app/data")
    r = keep.getresponse()
    r.read()
    check(r.status == 200, "the established TLS connection survived the reload")
    keep.close()
    check(stop(lb) == 0, "lb exit status")


METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')


def parse_prometheus(text):
    """Strict text format 0.0.4 parser: returns {family: {"type", "samples": [(name, labels, v)]}}."""
    fams, current = {}, None
    check(text.endswith("\n"), "exposition ends with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            check(len(parts) == 4, f"line {n}: HELP without text")
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            check(len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram", "summary",
                                                    "untyped"), f"line {n}: bad TYPE: {line}")
            check(parts[2] not in fams, f"line {n}: family {parts[2]} declared twice")
            current = parts[2]
            fams[current] = {"type": parts[3], "samples": []}
            continue
        check(not line.startswith("#") and line, f"line {n}: unexpected: {line!r}")
        m = METRIC_RE.match(line)
        check(m, f"line {n}: not a sample: {line!r}")
        name, labeltext, value = m.group(1), m.group(3), m.group(4)
        check(current is not None, f"line {n}: sample before any TYPE")
        t = fams[current]["type"]
        allowed = {current} | ({current + s for s in ("_bucket", "_sum", "_count")}
                               if t == "histogram" else set())
        check(name in allowed, f"line {n}: {name} outside its family {current}")
        labels, rest = {}, labeltext or ""
        while rest:
            lm = LABEL_RE.match(rest)
            check(lm, f"line {n}: bad labels {labeltext!r}")
            check(lm.group(1) not in labels, f"line {n}: duplicate label")
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        v = float(value)  # raises on a bad number
        check(not math.isnan(v), f"line {n}: NaN")
        fams[current]["samples"].append((name, labels, v))
    for fam, d in fams.items():
        if d["type"] != "histogram":
            continue
        series = {}
        for name, labels, v in d["samples"]:
            key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                series[key]["buckets"].append((labels["le"], v))
            elif name.endswith("_sum"):
                series[key]["sum"] = v
            else:
                series[key]["count"] = v
        for key, s in series.items():
            les = [float(le) for le, _ in s["buckets"]]
            check(les == sorted(les) and s["buckets"][-1][0] == "+Inf", f"{fam}: le order {key}")
            counts = [v for _, v in s["buckets"]]
            check(counts == sorted(counts), f"{fam}: buckets not cumulative {key}")
            check(s["count"] == counts[-1] and s["sum"] is not None, f"{fam}: count != +Inf {key}")
    return fams


def case_metrics():
    """/metrics parsed by a strict text-format parser; values agree with the traffic sent."""
    p1, p2 = free_ports(2)
    start_backend("b1", p1), start_backend("b2", p2)
    # What this case checks is the counting, not the checks' speed: a 2 s check timeout keeps a
    # slow check on a loaded machine from turning last_check or journey_backend_up.
    lb = start_lb(["--backend", f"b1=127.0.0.1:{p1}", "--backend", f"b2=127.0.0.1:{p2}", *SLOW_OK])
    got = served_by(lb, 10)
    check(all(st == 200 for st, _ in got), "traffic ok")
    req(lb.plain, path="/nothing-here")  # a 404 from a backend
    # journey-lb counts a request when its response is on the socket (the write's completion,
    # with its duration and its access log line), which can come after the client has read
    # it: poll until all 11 are counted, then check the counts are exact (never more).
    scrape = {}

    def counted():
        st, h, body = req(lb.admin, path="/metrics")
        check(st == 200 and h["content-type"].startswith("text/plain; version=0.0.4"), f"{st} {h}")
        scrape["fams"] = fams = parse_prometheus(body.decode())
        def total(family, which):
            return sum(v for n, l, v in fams.get(family, {"samples": []})["samples"] if which(n, l))
        return (total("journey_request_duration_seconds", lambda n, l: n.endswith("_count")) >= 11
                and total("journey_requests_total", lambda n, l: l.get("code") == "200") >= 10
                and total("journey_requests_total", lambda n, l: l.get("code") == "404") >= 1)
    wait_for("/metrics counts the 10 requests and the 404", counted, 30, 0.1)
    fams = scrape["fams"]
    for f in ("journey_backend_up", "journey_requests_total", "journey_request_duration_seconds",
              "journey_backend_connect_seconds", "journey_backend_active_requests",
              "journey_listener_connections_total", "journey_draining"):
        check(f in fams, f"family {f} missing")
    up = {l["server"]: v for _, l, v in fams["journey_backend_up"]["samples"]}
    check(up == {"b1": 1.0, "b2": 1.0}, f"journey_backend_up: {up}")
    codes = {(l["server"], l["code"]): v for _, l, v in fams["journey_requests_total"]["samples"]}
    check(codes.get(("b1", "200"), 0) + codes.get(("b2", "200"), 0) == 10, f"200s: {codes}")
    check(sum(v for (s, c), v in codes.items() if c == "404") == 1, f"404: {codes}")
    cnt = sum(v for n, _, v in fams["journey_request_duration_seconds"]["samples"]
              if n.endswith("_count"))
    check(cnt == 11, f"request histogram count {cnt}")
    j = stats(lb)
    b1 = [s for s in j["pools"][0]["servers"] if s["name"] == "b1"][0]
    for k in ("name", "address", "state", "weight", "active", "requests", "failures",
              "last_check", "ejections", "latency_ms"):
        check(k in b1, f"/stats server field {k} missing")
    check(b1["last_check"]["result"] == "status 200", f"last check: {b1['last_check']}")
    check(j["listeners"][0]["connections"] >= 11, "listener connections counted")
    check(stop(lb) == 0, "lb exit status")


def case_help_and_errors():
    """--help documents every issue-5 flag; bad values are refused with the flag named."""
    out = subprocess.run([A.lb, "--help"], capture_output=True, text=True).stdout
    for f in ["health-check", "health-method", "health-path", "health-host", "health-status",
              "health-interval", "health-fast-interval", "health-timeout", "health-rise",
              "health-fall", "health-tls", "health-tls-verify", "health-tls-ca", "health-tls-sni",
              "outlier-consecutive-5xx", "outlier-consecutive-connect-failures",
              "outlier-base-ejection-time", "outlier-max-ejection-time",
              "outlier-max-ejection-percent", "backend-dns", "dns-servers", "dns-interval",
              "dns-ttl-min", "dns-ttl-max", "drain-delay", "admin"]:
        check("--" + f in out, f"--help does not document --{f}")
    base = [A.lb, "--listen", "http://127.0.0.1:1", "--backend", "b1=127.0.0.1:2"]
    for flags, words in [(["--health-fall", "0"], "--health-fall"),
                         (["--health-timeout", "3s"], "shorter than health-interval"),
                         (["--backend-dns", "nohostport"], "--backend-dns"),
                         (["--admin", "nowhere"], "admin")]:
        r = subprocess.run(base + flags, capture_output=True, text=True, timeout=10)
        check(r.returncode != 0 and words in r.stderr, f"{flags}: {r.returncode} {r.stderr}")


def main():
    global A
    A = case_args([k[5:] for k in globals() if k.startswith("case_")], certs=False)
    try:
        run_case(globals()["case_" + A.case], tail=4000)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
