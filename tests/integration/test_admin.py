#!/usr/bin/env python3
"""journey-lb's admin plane as an attacker and as an operator meet it, with real processes on
loopback: journey-backend servers and journey-lb with its admin listener, UNIX socket and
probe listener.

usage: test_admin.py --lb PATH --backend PATH --certs DIR --case NAME
Every case starts its own processes on free loopback ports and stops them; loops are bounded.
"""
import argparse, datetime, http.client, json, os, re, shutil, socket, stat, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP, check, free_ports, read, run_case, start, stop,  # noqa: E402
                      wait_for, wait_port)

A = None


def backend(name):
    port = free_ports(1)[0]
    p = start([A.backend, "--listen", f"127.0.0.1:{port}", "--name", name], name)
    wait_port(port, p, f"backend {name}")
    p.port = port
    return p


# Health checks with room for a slow answer on a loaded machine (lb()'s 400 ms can pass while an
# ASan build is descheduled), for cases whose servers must stay UP throughout.
SLOW_CHECKS = ["--health-interval", "2500ms", "--health-timeout", "2000ms"]


def lb(servers, *flags, prefix=(), name="lb"):
    """journey-lb: plain listener, admin listener, health checks on; prefix wraps the command
    (e.g. a lower open-file limit)."""
    plain, adm = free_ports(2)
    cmd = list(prefix) + [A.lb, "--workers", "2", "--listen", f"http://127.0.0.1:{plain}",
                          "--admin", f"127.0.0.1:{adm}", "--health-check", "http",
                          "--health-interval", "500ms", "--health-timeout", "400ms",
                          "--drain-delay", "0"]
    for s in servers:
        cmd += ["--backend", f"{s.name}=127.0.0.1:{s.port}"]
    cmd += list(flags)
    p = start(cmd, name)
    p.plain, p.admin = plain, adm
    wait_for("journey-lb started", lambda: "msg=started" in read(p.errpath) or p.poll() is not None,
             60)
    check(p.poll() is None, f"journey-lb exited at start: {read(p.errpath)}")
    return p


def req(port, method="GET", path="/stats", headers=None, body=None, unix=None, host=None,
        timeout=10):
    """(status, headers, body) of one request; Host is 127.0.0.1:port unless given."""
    if unix:
        c = http.client.HTTPConnection("localhost", timeout=timeout)
        c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.sock.settimeout(timeout)
        c.sock.connect(unix)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if host is not None:
        c.putrequest(method, path, skip_host=True)
        c.putheader("Host", host)
        for k, v in h.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body or b"")))
        c.endheaders(body)
    else:
        c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def state(p, name, port=None, unix=None):
    st, _, body = req(port or p.admin, unix=unix)
    check(st == 200, f"/stats answered {st}")
    for pool in json.loads(body)["pools"]:
        for s in pool["servers"]:
            if s["name"] == name:
                return s["state"]
    raise AssertionError(f"no server {name} in /stats")


def token_file(mode=0o600, text=None, name=None):
    path = os.path.join(TMP, name or f"admin-{mode:o}.token")
    with open(path, "w") as f:
        f.write(text if text is not None else "3f1c2a9be0d84f7a8c6e5d4b3a291807\n")
    os.chmod(path, mode)
    return path


TOKEN = "3f1c2a9be0d84f7a8c6e5d4b3a291807"


def case_token():
    """A mutation without the token: 401 and the server stays UP; a wrong token: 401; with the
    token: applied. Loopback peers need it too once it is configured."""
    b1, b2 = backend("b1"), backend("b2")
    p = lb([b1, b2], "--admin-token-file", token_file())
    check("mutations need the bearer token" in read(p.errpath), "start-up names the token level")
    st, h, body = req(p.admin, "POST", "/servers/b1/disable")
    check(st == 401, f"no token: {st} {body}")
    check(h.get("www-authenticate", "").startswith("Bearer"), f"WWW-Authenticate: {h}")
    check(state(p, "b1") == "UP", "b1 stays UP after a refused mutation")
    st, _, _ = req(p.admin, "POST", "/servers/b1/disable",
                   {"Authorization": "Bearer " + TOKEN[:-1] + "0"})
    check(st == 401, f"wrong token: {st}")
    st, _, _ = req(p.admin, "POST", "/servers/b1", {"Authorization": "Basic Zm9vOmJhcg=="},
                   body=b"drain")
    check(st == 401, f"basic auth is not the token: {st}")
    check(state(p, "b1") == "UP", "b1 still UP")
    st, _, body = req(p.admin, "POST", "/servers/b1/disable", {"Authorization": "Bearer " + TOKEN})
    check(st == 200 and json.loads(body)[0]["state"] == "MAINT", f"with the token: {st} {body}")
    check(state(p, "b1") == "MAINT", "b1 in MAINT")
    # read-only endpoints need no token
    for path in ("/", "/stats", "/metrics", "/healthz", "/requests"):
        check(req(p.admin, path=path)[0] == 200, f"GET {path} without a token")
    # the page shows the actions only to an authorised viewer
    _, _, page = req(p.admin, path="/")
    check(b"data-act=" not in page and b"id=unlock" in page, "no actions without the token")
    _, _, page = req(p.admin, path="/", headers={"Authorization": "Bearer " + TOKEN})
    check(b"data-act=drain" in page, "actions with the token")
    out = read(p.outpath)
    check(re.search(r"msg=admin client=127.0.0.1 method=POST path=/servers/b1/disable status=401", out),
          f"refusals logged:\n{out[-2000:]}")


def case_token_file_checks():
    """A world-readable token file, a short token and a missing file stop the start with the
    fix in the message."""
    b1 = backend("b1")
    plain, adm = free_ports(2)
    base = [A.lb, "--listen", f"http://127.0.0.1:{plain}", "--admin", f"127.0.0.1:{adm}",
            "--backend", f"b1=127.0.0.1:{b1.port}"]
    for path, want in ((token_file(0o644), "world-readable (mode 0644): refused; run chmod 600"),
                       (token_file(0o602), "world-writable"),
                       (token_file(0o600, "short\n", "short.token"), "at least 16"),
                       (os.path.join(TMP, "missing.token"), "No such file")):
        p = start(base + ["--admin-token-file", path], "lb-bad")
        rc = p.wait(20)
        err = read(p.errpath)
        check(rc == 1 and want in err and path in err, f"{path}: exit {rc}, stderr: {err}")


def case_unix_socket():
    """Over --admin-socket (mode 0600, the process's user) a mutation is applied without a
    token; with only the socket configured, TCP mutations are refused even from loopback."""
    b1, b2 = backend("b1"), backend("b2")
    sock = os.path.join(TMP, "admin.sock")
    p = lb([b1, b2], "--admin-socket", sock)
    st = os.stat(sock)
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
          f"socket mode {oct(st.st_mode)}")
    check(st.st_uid == os.geteuid(), "socket owned by the service's user")
    s, _, body = req(0, "POST", "/servers/b2/drain", unix=sock)
    check(s == 200 and b'"DRAIN"' in body, f"over the socket: {s} {body}")
    check(state(p, "b2", unix=sock) == "DRAIN", "b2 DRAIN")
    s, _, body = req(p.admin, "POST", "/servers/b2/enable")
    check(s == 403 and b"admin-socket" in body, f"TCP with socket only: {s} {body}")
    check(state(p, "b2") == "DRAIN", "b2 still DRAIN")
    stop(p)
    check(not os.path.exists(sock), "the socket file is removed at exit")
    # a stale socket file left by a killed process is replaced
    p = lb([b1, b2], "--admin-socket", sock, name="lb2")
    p.kill()
    p.wait()
    check(os.path.exists(sock), "stale socket left by SIGKILL")
    p = lb([b1, b2], "--admin-socket", sock, name="lb3")
    check(req(0, path="/healthz", unix=sock)[0] == 200, "stale socket replaced")


def case_loopback_default():
    """Neither token nor socket: journey-lb says so at start, and accepts mutations from
    loopback peers."""
    b1, b2 = backend("b1"), backend("b2")
    p = lb([b1, b2])
    check("mutations (POST /servers/...) are accepted from loopback peers only" in read(p.errpath),
          f"start-up message:\n{read(p.errpath)}")
    s, _, _ = req(p.admin, "POST", "/servers/b1/drain")
    check(s == 200 and state(p, "b1") == "DRAIN", "loopback mutation applied")


def case_remote_peer():
    """Neither token nor socket: a peer that is not on loopback may read but not act (403).
    Runs in a network namespace of its own (unshare --net) whose interface also holds a
    documentation address, so the peer is 192.0.2.10 and nothing leaves the namespace."""
    if os.environ.get("JOURNEY_IN_NETNS") != "1":
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            print("SKIP: needs root, unshare and ip for a private network namespace")
            sys.exit(77)
        env = dict(os.environ, JOURNEY_IN_NETNS="1")
        r = subprocess.run(["unshare", "--net", sys.executable] + sys.argv, env=env)
        sys.exit(r.returncode)
    for cmd in ("ip link set lo up", "ip addr add 192.0.2.10/32 dev lo"):
        check(subprocess.run(cmd.split()).returncode == 0, f"{cmd} failed")
    b1 = backend("b1")
    adm = free_ports(1, "192.0.2.10")[0]
    plain = free_ports(1)[0]
    p = start([A.lb, "--workers", "1", "--listen", f"http://127.0.0.1:{plain}", "--admin",
               f"192.0.2.10:{adm}", "--backend", f"b1=127.0.0.1:{b1.port}", "--drain-delay", "0"],
              "lb")
    wait_for("journey-lb started", lambda: "msg=started" in read(p.errpath) or p.poll() is not None,
             60)

    def remote(method, path):
        c = http.client.HTTPConnection("192.0.2.10", adm, timeout=10, source_address=("192.0.2.10", 0))
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read()
    s, body = remote("POST", "/servers/b1/disable")
    check(s == 403 and b"loopback peers only" in body, f"remote peer mutation: {s} {body}")
    s, body = remote("GET", "/stats")
    check(s == 200 and b'"state":"UP"' in body, f"remote peer reads: {s}")
    out = read(p.outpath)
    check(re.search(r"msg=admin client=192.0.2.10 method=POST path=/servers/b1/disable status=403", out),
          f"logged with the peer:\n{out[-1500:]}")


def case_origin():
    """A foreign Origin (a page elsewhere posting a form or fetching) is refused: 403, nothing
    applied; the listener's own Origin is accepted."""
    b1, b2 = backend("b1"), backend("b2")
    p = lb([b1, b2])
    for origin in ("http://attacker.invalid", "null", f"https://127.0.0.1:{p.admin}",
                   f"http://localhost:{p.admin}"):
        s, _, body = req(p.admin, "POST", "/servers/b1/disable", {"Origin": origin})
        check(s == 403, f"Origin {origin}: {s} {body}")
        s, _, _ = req(p.admin, "GET", "/stats", {"Origin": origin})
        check(s == 403, f"GET with Origin {origin}: {s}")
    s, _, _ = req(p.admin, "POST", "/servers/b1/disable", {"Sec-Fetch-Site": "cross-site"})
    check(s == 403, f"Sec-Fetch-Site cross-site: {s}")
    check(state(p, "b1") == "UP", "b1 stays UP")
    s, _, _ = req(p.admin, "POST", "/servers/b1/disable", {"Origin": f"http://127.0.0.1:{p.admin}",
                                                           "Accept": "text/html"})
    check(s == 303, f"same-origin form post: {s} (303 back to the page)")
    check(state(p, "b1") == "MAINT", "same-origin mutation applied")


def case_rebinding():
    """DNS rebinding: a name that is not configured in Host is refused, an IP literal or an
    --admin-name is served."""
    b1 = backend("b1")
    p = lb([b1], "--admin-name", "lb-admin.internal")
    for host in (f"attacker.example:{p.admin}", "attacker.example", f"localhost:{p.admin}"):
        for path in ("/", "/stats", "/metrics", "/healthz"):
            s, _, _ = req(p.admin, "GET", path, host=host)
            check(s == 403, f"Host {host} {path}: {s}")
        s, _, _ = req(p.admin, "POST", "/servers/b1/disable", host=host)
        check(s == 403, f"Host {host} POST: {s}")
    check(state(p, "b1") == "UP", "b1 stays UP")
    for host in (f"127.0.0.1:{p.admin}", f"lb-admin.internal:{p.admin}", "LB-ADMIN.internal",
                 f"[::1]:{p.admin}"):
        s, _, _ = req(p.admin, "GET", "/stats", host=host)
        check(s == 200, f"Host {host}: {s}")


def open_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def case_fd_budget():
    """300 idle admin connections with `ulimit -n 256`: the admin plane keeps to its cap, the
    data plane still serves, the admin answers again once the idle ones time out; running out
    of descriptors on the data plane is logged once, with the limit."""
    b1, b2 = backend("b1"), backend("b2")
    p = lb([b1, b2], "--admin-timeout", "2s", *SLOW_CHECKS,
           prefix=["sh", "-c", 'ulimit -n 256 && exec "$0" "$@"'])
    idle = open_idle(p.admin, 300)
    wait_for("the cap logged", lambda: "admin-max-connections" in read(p.errpath), 60)
    ok = 0
    for i in range(60):
        s, _, _ = req(p.plain, path="/my-app/data")
        ok += s == 200
    check(ok == 60, f"data plane with 300 idle admin connections: {ok}/60 answered 200")
    t0 = time.monotonic()
    # This request waits in the kernel's backlog behind the idle ones until they time out (2 s
    # a round of 64): its own timeout is as long as the wait.
    wait_for("admin answers again", lambda: req(p.admin, path="/healthz", timeout=60)[0] == 200, 60, 0.2)
    print(f"admin answered again after {time.monotonic() - t0:.1f}s (timeout 2s per connection)")
    for s in idle:
        s.close()
    # data-plane exhaustion: more client connections than descriptors
    conns = open_idle(p.plain, 400)
    wait_for("fd exhaustion logged", lambda: "out of file descriptors" in read(p.errpath), 60)
    time.sleep(1)  # the flood goes on: a line per refused accept would show now
    err = read(p.errpath)
    lines = [ln for ln in err.splitlines() if "out of file descriptors" in ln]
    # At most one line every 10 s (on a slow machine more than 10 s can pass before this read,
    # so the lines' own stamps are compared, not their number).
    stamps = [datetime.datetime.fromisoformat(re.search(r"time=(\S+)Z", ln).group(1)) for ln in lines]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    check(lines and all(g >= 9.99 for g in gaps),
          f"rate-limited to one line every 10 s, got {len(lines)} lines {gaps} s apart")
    check("open-file limit 256" in lines[0] and "LimitNOFILE" in lines[0], lines[0])
    for s in conns:
        s.close()
    # While the backlog of the flood drains, libuv may still accept-and-close with its reserved
    # descriptor, so a reset then is the flood's, not a failure: it must end with a 200.
    def serves():
        try:
            return req(p.plain, path="/my-app/data", timeout=60)[0] == 200
        except OSError:
            return False
    wait_for("data plane serves after the flood", serves, 60, 0.2)


def case_probe_only():
    """--probe-listen answers GET/HEAD /healthz and refuses everything else (nothing applied)."""
    b1 = backend("b1")
    probe = free_ports(1)[0]
    p = lb([b1], "--probe-listen", f"127.0.0.1:{probe}", "--admin-token-file", token_file(),
           *SLOW_CHECKS)
    wait_for("b1 UP", lambda: state(p, "b1") == "UP", 60, 0.1)
    s, _, body = req(probe, path="/healthz")
    check(s == 200 and body == b"ok\n", f"/healthz {s} {body}")
    check(req(probe, "HEAD", "/healthz")[0] == 200, "HEAD /healthz")
    for method, path in (("GET", "/"), ("GET", "/stats"), ("GET", "/metrics"), ("GET", "/requests"),
                         ("POST", "/servers/b1/disable")):
        s, _, _ = req(probe, method, path, {"Authorization": "Bearer " + TOKEN})
        check(s == 404, f"probe listener {method} {path}: {s}")
    check(state(p, "b1") == "UP", "b1 stays UP")
    stop(b1)
    wait_for("/healthz 503 when no server is UP", lambda: req(probe, path="/healthz")[0] == 503, 60)


def case_page_data():
    """The JSON behind the page: per-server fields, the recent ring with request-id look-up and
    each request's protocol (HTTP/1.1 or h2c), the page's open HTTP/2 connections, and /metrics'
    build info and start time."""
    b1, b2 = backend("b1"), backend("b2")
    p = lb([b1, b2], "--admin-recent", "5", "--h2c", "on")
    for i in range(12):
        if i in (7, 9):  # two of them over HTTP/2 (h2c): the ring says which protocol each spoke
            r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
                                "%{http_code} %{http_version}", "-H", f"X-Request-Id: page-test-{i:02d}",
                                f"http://127.0.0.1:{p.plain}/my-app/data"],
                               capture_output=True, text=True, timeout=30)
            check(r.stdout == "200 2", f"request {i} over h2c: {r.stdout} {r.stderr}")
            continue
        s, _, _ = req(p.plain, path="/my-app/data", headers={"X-Request-Id": f"page-test-{i:02d}"})
        check(s == 200, f"request {i}: {s}")
    # A request enters the ring once its exchange is done, just after its last byte went out:
    # the client can read the response a moment before that. "Newest first" is by that end
    # (two workers: a worker that ran late may order two neighbours the other way round).
    recent = []

    def ring():
        nonlocal recent
        recent = json.loads(req(p.admin, path="/requests")[2])["requests"]
        return any(r["id"] == "page-test-11" for r in recent)
    wait_for("the last request in /requests", ring, 5, 0.02)
    ids = [r["id"] for r in recent]
    check(len(recent) == 5 and len(set(ids)) == 5, f"ring bounded to --admin-recent 5: {ids}")
    check(set(ids) <= {f"page-test-{i:02d}" for i in range(5, 12)}, f"the latest requests: {ids}")
    ended = [r["ended"] for r in recent]
    check(ended == sorted(ended, reverse=True), f"newest first: {list(zip(ids, ended))}")
    t = recent[0]["timers_ms"]
    check(all(k in t for k in ("Th", "Ti", "TR", "Tw", "Tc", "Tr", "Td")), f"timers {t}")
    check(recent[0]["backend"] in ("b1", "b2") and recent[0]["status"] == 200, recent[0])
    protos = {r["id"]: r["proto"] for r in recent}
    check(all(v == ("h2" if k in ("page-test-07", "page-test-09") else "http/1.1")
              for k, v in protos.items()), f"each request's protocol: {protos}")
    # An HTTP/2 request's end is known when it is recorded: its total time, its place in the ring
    # (by that end) and the servers' last-minute windows, which count every one of the 12.
    for r in recent:
        check(r["timers_ms"]["Tt"] is not None and r["timers_ms"]["Tt"] > 0 and
              abs(r["ended"] - time.time()) < 60, f"{r['id']} ({r['proto']}): its end and total time: {r}")
    counts = [sv["last_minute"]["total_ms"]["count"] for sv in json.loads(req(p.admin)[2])["pools"][0]["servers"]]
    check(sum(counts) == 12, f"the last minute counts the 12 requests, HTTP/2 ones included: {counts}")
    s, _, body = req(p.admin, path="/requests?id=page-test-10")
    found = json.loads(body)["requests"]
    check(len(found) == 1 and found[0]["id"] == "page-test-10", f"look-up: {found}")
    s, _, page = req(p.admin, path="/?id=page-test-10")
    check(b'data-id="page-test-10"' in page and b'data-id="page-test-11"' not in page,
          "the page filters by request id")
    s, _, page = req(p.admin, path="/?id=page-test-09")
    check(re.search(rb'data-id="page-test-09".*?/my-app/data <span class=sub>h2</span>', page, re.S),
          "the page shows the request's protocol")
    # An HTTP/2 connection without a stream (the preface and SETTINGS sent): counted in the header.
    held = socket.create_connection(("127.0.0.1", p.plain), 10)
    held.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    wait_for("the held h2 connection in the page's header", lambda: re.search(
        rb"client connections \(<b>1</b> HTTP/2, <b>0</b> streams\)", req(p.admin, path="/")[2]), 5, 0.05)
    held.close()
    stats = json.loads(req(p.admin)[2])
    srv = stats["pools"][0]["servers"][0]
    for key in ("since_ms", "retries", "errors", "last_minute", "weight", "active", "ejections"):
        check(key in srv, f"/stats server has {key}: {srv}")
    check(srv["last_minute"]["total_ms"]["count"] >= 1, f"last minute: {srv['last_minute']}")
    check(len(srv["last_check"]["recent"]) >= 1, f"check strip: {srv['last_check']}")
    m = req(p.admin, path="/metrics")[2].decode()
    check(re.search(r'^journey_build_info\{version="[^"]+",build="[^"]+"\} 1$', m, re.M), "build info")
    start_s = int(re.search(r"^journey_start_time_seconds (\d+)$", m, re.M).group(1))
    check(abs(start_s - time.time()) < 120, f"start time {start_s}")
    check(b"<script>" in page and b"<link" not in page and b"src=\"http" not in page,
          "self-contained page")


def case_check_config():
    """--check-config names what would never work: two pools on one route, a pool no route
    reaches, the same listen address twice; a key that is not the certificate's pair."""
    def conf(text):
        path = os.path.join(TMP, f"c{abs(hash(text))}.conf")
        with open(path, "w") as f:
            f.write(text)
        p = start([A.lb, "--check-config", path], "check")
        rc = p.wait(20)
        return rc, read(p.errpath)
    rc, err = conf("[lb]\nlisten = http://127.0.0.1:8080\n[pool a]\nbackend = a1=127.0.0.1:9001\n"
                   "route = /api/\n[pool b]\nbackend = b1=127.0.0.1:9002\nroute = /api/\n")
    check(rc == 1 and ":8: route /api/ is given twice" in err, f"same route: {rc} {err}")
    rc, err = conf("[lb]\nlisten = http://127.0.0.1:8080\n[pool a]\nbackend = a1=127.0.0.1:9001\n"
                   "route = /\n[pool b]\nbackend = b1=127.0.0.1:9002\n")
    check(rc == 1 and "pool b is not reached by any route" in err, f"unreached pool: {rc} {err}")
    rc, err = conf("[lb]\nlisten = http://127.0.0.1:8080\nlisten = http://127.0.0.1:8080\n"
                   "backend = b1=127.0.0.1:9001\n")
    check(rc == 1 and "are the same address" in err, f"duplicate listen: {rc} {err}")
    crt = os.path.join(A.certs, "server.crt")
    other = os.path.join(TMP, "other.key")
    os.system(f"openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {other} 2>/dev/null")
    rc, err = conf(f"[lb]\nlisten = https://127.0.0.1:8443\ncert = {crt}\nkey = {other}\n"
                   "backend = b1=127.0.0.1:9001\n")
    check(rc == 1 and "does not match certificate" in err and "not a pair" in err,
          f"key mismatch: {rc} {err}")


def parse_args():
    """The flags of both admin test scripts (test_dashboard.py takes --artifacts, not --case)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--lb", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--case")
    ap.add_argument("--artifacts")
    return ap.parse_args()


def main():
    global A
    A = parse_args()
    run_case(globals()["case_" + A.case])


if __name__ == "__main__":
    main()
