#!/usr/bin/env python3
"""Every configuration journey ships, started as shipped and rendered for loopback only, health-
checks its backends over HTTP: a backend told to fail its /health (SIGUSR1) goes DOWN and gets no
more requests, and comes back UP (SIGUSR2).

usage: shipped_configs.py --lb PATH --backend PATH --certs DIR --case example|deb|azure|compose

  example  lb/journey-lb.conf (three static backends, pool my-app)
  deb      deploy/debian/lb.conf, the package's /etc/journey/lb.conf (one local backend)
  azure    /etc/journey/lb.conf as deploy/azure/deploy.sh renders it for the LB VMs (backends
           from DNS: dnsmasq on loopback answers for the private zone's name)
  compose  the lb service's command line in docker-compose.yml (backends from DNS, `backend`)

Rendering changes addresses only: every listener and the admin endpoint move to free loopback
ports, certificate paths to the test certificates, backend names/addresses to the test's
journey-backend processes; every health setting stays as shipped.
"""
import http.client, json, os, re, shutil, signal, socket, ssl, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (TMP, case_args, check, free_ports, read, run_case, start, wait_for,  # noqa: E402
                      wait_port)

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
A = None
os.chmod(TMP, 0o755)  # dnsmasq reads its hosts file after dropping privileges


def start_backends(hosts, port=None):
    """One journey-backend per host; the same port on each when given (DNS records carry no port)."""
    out = []
    for i, host in enumerate(hosts):
        p = port or free_ports(1, host)[0]
        b = start([A.backend, "--listen", f"{host}:{p}", "--name", f"sb{i + 1}"], f"sb{i + 1}")
        wait_port(p, b, f"backend sb{i + 1}", host)
        b.host, b.port, b.label = host, p, f"sb{i + 1}"
        out.append(b)
    return out


def dnsmasq(names, ips):
    """dnsmasq on a free loopback port answering every name with every ip."""
    hosts = os.path.join(TMP, "hosts")
    with open(hosts, "w") as f:
        for ip in ips:
            f.write(f"{ip} {' '.join(names)}\n")
    os.chmod(hosts, 0o644)
    (port,) = free_ports(1)
    p = start(["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--listen-address=127.0.0.1", f"--port={port}", "--bind-interfaces",
               f"--addn-hosts={hosts}", "--pid-file=", "--log-facility=-"], "dnsmasq")
    wait_port(port, p, "dnsmasq")
    return f"127.0.0.1:{port}"


def loopback_addresses(text):
    """Every IP:PORT a listener or the admin endpoint binds (0.0.0.0 or 127.0.0.1) -> a free
    loopback port; returns the new text and the mapping old port -> new port."""
    ports = {}

    def repl(m):
        old = m.group(2)
        if old not in ports:
            ports[old] = free_ports(1)[0]
        return f"127.0.0.1:{ports[old]}"
    return re.sub(r"(0\.0\.0\.0|127\.0\.0\.1):(\d+)", repl, text), ports


def render_ini(text, certs, backends=None, dns=None):
    """An INI config for loopback: backends and certificates first, then the listeners."""
    crt, key = os.path.join(certs, "server.crt"), os.path.join(certs, "server.key")
    text = re.sub(r"(?m)^(\s*cert\s*=).*$", rf"\1 {crt}", text)
    text = re.sub(r"(?m)^(\s*key\s*=).*$", rf"\1 {key}", text)
    if backends is not None:  # "backend = NAME=IP:PORT" lines, in order, onto the test's servers
        it = iter(backends)

        def bl(m):
            b = next(it)
            return f"{m.group(1)}{m.group(2)}=BACKEND:{b.port}"
        text = re.sub(r"(?m)^(\s*backend\s*=\s*)([\w.-]+)=[\d.]+:\d+", bl, text)
    if dns is not None:  # resolver of the test's dnsmasq, port of the test's backends
        name, port, server = dns
        text = re.sub(r"(?m)^(\s*backend-dns\s*=\s*)([\w.-]+):\d+", rf"\g<1>\2:{port}", text)
        text = text.replace("[lb]", "[lb]\ndns-servers = DNSSERVER", 1)
    text, ports = loopback_addresses(text)
    text = text.replace("=BACKEND:", "=127.0.0.1:")
    # the admin socket's directory is made by systemd (RuntimeDirectory): here, the test's own
    text = re.sub(r"(?m)^(\s*admin-socket\s*=).*$", rf"\1 {TMP}/admin.sock", text)
    return (text.replace("DNSSERVER", dns[2]) if dns else text), ports


def tls_get(port, path):
    ctx = ssl.create_default_context(cafile=os.path.join(A.certs, "ca.crt"))
    c = http.client.HTTPSConnection("www.my-app.com", port, context=ctx, timeout=10)
    c.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                             server_hostname="www.my-app.com")
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def stats(admin):
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
    c.request("GET", "/stats")
    body = c.getresponse().read()
    c.close()
    return json.loads(body)


def server_states(admin, pool):
    for p in stats(admin)["pools"]:
        if p["name"] == pool:
            return {s["address"]: s["state"] for s in p["servers"]}
    return {}


def exercise(lb, admin, https, pool, path, backends):
    """The shipped health settings at work: all UP, one backend fails /health -> DOWN and no
    more requests, then UP again."""
    addr = {b: f"{b.host}:{b.port}" for b in backends}
    err = lambda: read(lb.errpath)  # noqa: E731
    wait_for("the start-up line naming the active checks",
             lambda: re.search(rf"pool {pool}: active health checks: GET /health ", err()), 15)
    line = re.search(rf"pool {pool}: active health checks: [^\n\"]*", err()).group(0)
    print(line)
    check("every 2000ms timeout 1000ms rise 2 fall 3" in line, f"shipped health settings: {line}")
    took = wait_for(f"all {len(backends)} backends UP in /stats",
                    lambda: all(server_states(admin, pool).get(a) == "UP" for a in addr.values()), 20)
    print(f"all UP after {took:.1f}s: {server_states(admin, pool)}")
    served = set()
    for _ in range(3 * len(backends)):
        st, body = tls_get(https, path)
        check(st == 200, f"GET {path}: {st} {body[:200]!r}")
        served.add(json.loads(body)["backend"])
    print("served by:", sorted(served))
    check(served == {b.label for b in backends}, f"every backend serves: {served}")

    victim = backends[0]
    victim.send_signal(signal.SIGUSR1)  # its /health answers 503 from now on
    t0 = time.monotonic()
    took = wait_for(f"{addr[victim]} DOWN",
                    lambda: server_states(admin, pool).get(addr[victim]) == "DOWN", 15)
    print(f"{addr[victim]} failed /health: DOWN after {took:.1f}s")
    check(took < 8, f"DOWN should come within interval + fall checks (about 3 s), took {took:.1f}s")
    check(re.search(r"DOWN", err()), "the LB logs the state change")
    rest = [b for b in backends if b is not victim]
    for _ in range(2 * len(backends)):
        st, body = tls_get(https, path)
        if rest:
            check(st == 200 and json.loads(body)["backend"] != victim.label,
                  f"a DOWN backend must get no request: {st} {body[:200]!r}")
        else:
            check(st == 503, f"the only backend is DOWN: expected 503, got {st} {body[:200]!r}")
    print(f"{2 * len(backends)} requests after DOWN: " +
          ("none reached it" if rest else "503 from the LB (no backend left)"))
    victim.send_signal(signal.SIGUSR2)
    took = wait_for(f"{addr[victim]} UP again",
                    lambda: server_states(admin, pool).get(addr[victim]) == "UP", 15)
    print(f"/health passes again: UP after {took:.1f}s (total {time.monotonic() - t0:.1f}s)")


def start_lb(args, conf_text=None):
    cmd = [A.lb]
    if conf_text is not None:
        conf = os.path.join(TMP, "lb.conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        print("--- rendered config:\n" + conf_text.strip() + "\n---")
        r = subprocess.run([A.lb, "--config", conf, "--check-config"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"--check-config refused the rendered config: {r.stderr}")
        cmd += ["--config", conf]
    # SIGTERM at the end of the test: no drain wait (Azure's config asks 15 s for its probe).
    return start(cmd + list(args) + ["--workers", "2", "--drain-delay", "0"], "lb")


def case_example():
    text = open(os.path.join(TOP, "lb", "journey-lb.conf")).read()
    bs = start_backends(["127.0.0.1"] * 3)
    conf, ports = render_ini(text, A.certs, backends=bs)
    lb = start_lb([], conf)
    exercise(lb, ports["9000"], ports["8443"], "my-app", "/my-app/data", bs)


def case_deb():
    text = open(os.path.join(TOP, "deploy", "debian", "lb.conf")).read()
    bs = start_backends(["127.0.0.1"])
    conf, ports = render_ini(text, A.certs, backends=bs)
    lb = start_lb([], conf)
    exercise(lb, ports["9000"], ports["443"], "default", "/my-app/data", bs)


def yaml_load(path):
    r = subprocess.run(["/usr/bin/python3", "-c", "import json, sys, yaml; "
                        "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", path],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"reading {path}: {r.stderr} (python3-yaml for /usr/bin/python3)")
    return json.loads(r.stdout)


def case_azure():
    out = os.path.join(TMP, "azure")
    r = subprocess.run([os.path.join(TOP, "deploy", "azure", "deploy.sh"), "--render", out],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"deploy.sh --render: {r.stderr}")
    files = {f["path"]: f["content"] for f in yaml_load(os.path.join(out, "lb.yaml"))["write_files"]}
    text = files["/etc/journey-provision/lb.conf"]
    name = re.search(r"(?m)^\s*backend-dns\s*=\s*([\w.-]+):\d+", text).group(1)
    (port,) = free_ports(1, "127.0.0.2")
    bs = start_backends(["127.0.0.2", "127.0.0.3"], port)
    server = dnsmasq([name], [b.host for b in bs])
    conf, ports = render_ini(text, A.certs, dns=(name, port, server))
    lb = start_lb([], conf)
    # Azure's probe port answers /healthz only; the admin endpoints are on loopback (9001)
    exercise(lb, ports["9001"], ports["443"], "default", "/my-app/data", bs)
    probe = http.client.HTTPConnection("127.0.0.1", ports["9000"], timeout=5)
    probe.request("GET", "/stats")
    check(probe.getresponse().status == 404, "the probe port refuses /stats")


def case_compose():
    doc = yaml_load(os.path.join(TOP, "docker-compose.yml"))
    argv = [str(a) for a in doc["services"]["lb"]["command"]]
    check(argv[0] == "journey-lb", f"the lb service runs journey-lb: {argv[:3]}")
    flags = argv[1:]
    name, _, _ = flags[flags.index("--backend-dns") + 1].partition(":")
    (port,) = free_ports(1, "127.0.0.2")
    bs = start_backends(["127.0.0.2", "127.0.0.3"], port)
    server = dnsmasq([name], [b.host for b in bs])
    out = []
    for i, f in enumerate(flags):
        prev = flags[i - 1] if i else ""
        if prev == "--cert":
            f = os.path.join(A.certs, "server.crt")
        elif prev == "--key":
            f = os.path.join(A.certs, "server.key")
        elif prev == "--backend-dns":
            f = f"{name}:{port}"
        out.append(f)
    text, ports = loopback_addresses("\n".join(out))
    args = text.split("\n") + ["--dns-servers", server]
    print("journey-lb", " ".join(args))
    lb = start_lb(args)
    exercise(lb, ports["9000"], ports["443"], "default", "/my-app/data", bs)


CASES = {"example": case_example, "deb": case_deb, "azure": case_azure, "compose": case_compose}

if __name__ == "__main__":
    A = case_args(CASES)
    if A.case in ("azure", "compose") and not shutil.which("dnsmasq"):
        print("dnsmasq is not installed (scripts/install-deps.sh --test)")
        sys.exit(1)
    run_case(CASES[A.case])
