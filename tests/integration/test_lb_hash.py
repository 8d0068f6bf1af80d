#!/usr/bin/env python3
"""journey-lb consistent hashing (algorithm = hash) with real processes on loopback: two
journey-lb processes with the same configuration send the same key to the same journey-backend,
and a server that goes DOWN takes only its own keys elsewhere.

usage: test_lb_hash.py --lb PATH --backend PATH --case NAME
Every case starts its own processes on free loopback ports and stops them; request loops are
bounded in count. Every client is on 127.0.0.1, so the keys are headers, cookies and paths.
"""
import http.client, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loopback import (case_args, check, free_ports, read, run_case, start, stop, wait_for,  # noqa: E402
                      wait_port)

A = None
WEIGHTS = {"b1": 1, "b2": 2, "b3": 1, "b4": 1, "b5": 1}


def start_backends():
    ports = free_ports(len(WEIGHTS))
    bs = {}
    for name, port in zip(WEIGHTS, ports):
        p = start([A.backend, "--listen", f"127.0.0.1:{port}", "--name", name, "--admin"], name)
        wait_port(port, p, f"backend {name}")
        p.port = port
        bs[name] = p
    return bs


def start_lb(bs, name, *flags):
    """journey-lb with two workers, a plain listener and an admin listener."""
    plain, adm = free_ports(2)
    cmd = [A.lb, "--workers", "2", "--listen", f"http://127.0.0.1:{plain}", "--admin",
           f"127.0.0.1:{adm}", "--drain-delay", "0", "--access-log", "off", "--algorithm", "hash"]
    for b, p in bs.items():
        cmd += ["--backend", f"{b}=127.0.0.1:{p.port},weight={WEIGHTS[b]}"]
    p = start(cmd + list(flags), name)
    wait_port(plain, p, "journey-lb")
    wait_for("journey-lb started", lambda: "msg=started" in read(p.errpath) or p.poll() is not None, 15)
    check(p.poll() is None, f"journey-lb exited at start: {read(p.errpath)[-500:]}")
    p.plain, p.admin = plain, adm
    return p


class Client:
    """One keep-alive connection to a journey-lb (reopened when the LB closes it)."""

    def __init__(self, lb):
        self.lb, self.conn = lb, None

    def served_by(self, path="/my-app/data", headers=None):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.lb.plain, timeout=10)
                self.conn.request("GET", path, headers=headers or {})
                r = self.conn.getresponse()
                r.read()
                # journey-backend serves /my-app/data only: other paths get its own 404, which
                # still names the backend that answered
                by = r.getheader("X-Served-By")
                check(by and (r.status == 200 or (r.status == 404 and "/items/" in path)),
                      f"GET {path} {headers}: {r.status} from {by}")
                return by
            except (ConnectionError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()


def admin_get(lb, path):
    c = http.client.HTTPConnection("127.0.0.1", lb.admin, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def pool_stats(lb):
    st, body = admin_get(lb, "/stats")
    check(st == 200, f"/stats answered {st}")
    return json.loads(body)["pools"][0]


def states(lb):
    return {s["name"]: s["state"] for s in pool_stats(lb)["servers"]}


def set_health(b, state):
    c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
    c.request("POST", "/admin/health", body=state)
    r = c.getresponse()
    r.read()
    c.close()
    check(r.status == 200, f"backend {b.name}: POST /admin/health {state} answered {r.status}")


# How each key kind is put in a request: (hash-key, request for key i).
KINDS = {
    "header": ("header:X-User", lambda i: ("/my-app/data", {"X-User": f"user-{i}"})),
    "cookie": ("cookie:session", lambda i: ("/my-app/data",
                                            {"Cookie": f"theme=dark; session=s{i}; lang=en"})),
    "path": ("path", lambda i: (f"/my-app/items/{i}?page={i % 3}", {})),
}
NKEYS = 150


def mapping(client, kind, keys):
    make = KINDS[kind][1]
    return {i: client.served_by(*make(i)) for i in keys}


def check_agree(kind):
    """Two journey-lb processes, same flags: the same backend for every key; a key stays on its
    backend across connections (either worker); requests without the key still go everywhere."""
    bs = start_backends()
    flags = ["--hash-key", KINDS[kind][0]]
    lbs = [start_lb(bs, "lb-a", *flags), start_lb(bs, "lb-b", *flags)]
    p = pool_stats(lbs[0])
    check(p["algorithm"] == "hash" and p["hash_key"] == KINDS[kind][0], f"/stats pool: {p}")
    a, b = Client(lbs[0]), Client(lbs[1])
    # lb-b sees the keys in the reverse order: agreeing by sequence (round-robin) is not enough
    ma, mb = mapping(a, kind, range(NKEYS)), mapping(b, kind, reversed(range(NKEYS)))
    differ = [i for i in ma if ma[i] != mb[i]]
    check(not differ, f"{kind}: {len(differ)} keys on different backends, e.g. "
          f"{[(i, ma[i], mb[i]) for i in differ[:5]]}")
    used = {}
    for s in ma.values():
        used[s] = used.get(s, 0) + 1
    check(len(used) == len(WEIGHTS), f"{kind}: {NKEYS} keys should reach every backend: {used}")
    check(used["b2"] > max(used[s] for s in used if s != "b2"),
          f"{kind}: b2 (weight 2) should have the most keys: {used}")
    # the same key again, each on a new connection (so on either worker of lb-a)
    for i in range(0, NKEYS, 10):
        c = Client(lbs[0])
        check(c.served_by(*KINDS[kind][1](i)) == ma[i], f"{kind}: key {i} moved between connections")
        c.close()
    if kind == "path":  # the query string is not part of the key
        for i in range(0, 30, 3):
            check(a.served_by(f"/my-app/items/{i}?other=1") == ma[i], f"path {i}: query changed the server")
    else:  # no key: weighted round-robin, not one server for all
        seen = {a.served_by() for _ in range(12)}
        check(len(seen) >= 3, f"{kind}: requests without the key all went to {seen}")
        if kind == "cookie":  # other cookies only: no key either
            seen = {a.served_by(headers={"Cookie": "sessionx=1; theme=dark"}) for _ in range(12)}
            check(len(seen) >= 3, f"requests without the session cookie all went to {seen}")
    a.close()
    b.close()
    print(f"{kind}: {NKEYS} keys, same backend through both journey-lb processes; spread {used}")


def case_agree_header():
    check_agree("header")


def case_agree_cookie():
    check_agree("cookie")


def case_agree_path():
    check_agree("path")


def case_down_remaps():
    """b3 fails its health checks: only b3's keys move (the same way in both processes), and they
    come back when it is healthy again."""
    bs = start_backends()
    flags = ["--hash-key", "header:X-User", "--health-path", "/health", "--health-interval",
             "500ms", "--health-timeout", "400ms", "--health-rise", "1", "--health-fall", "1",
             "--health-fast-interval", "500ms"]
    lbs = [start_lb(bs, "lb-a", *flags), start_lb(bs, "lb-b", *flags)]
    clients = [Client(lb) for lb in lbs]
    before = mapping(clients[0], "header", range(NKEYS))
    check(mapping(clients[1], "header", range(NKEYS)) == before, "the two processes disagree")
    on_b3 = [i for i in before if before[i] == "b3"]
    check(len(on_b3) >= 10, f"b3 should own some keys: {len(on_b3)}")

    set_health(bs["b3"], "down")
    for lb in lbs:
        wait_for(f"b3 DOWN in {lb.name}", lambda: states(lb)["b3"] == "DOWN", 10)
    after = [mapping(c, "header", range(NKEYS)) for c in clients]
    check(after[0] == after[1], "with b3 DOWN the two processes disagree")
    moved_others = [i for i in before if before[i] != "b3" and after[0][i] != before[i]]
    check(not moved_others, f"keys of other servers moved: {[(i, before[i], after[0][i]) for i in moved_others[:5]]}")
    check(all(after[0][i] != "b3" for i in before), "a key still went to b3 while it was DOWN")
    went = {after[0][i] for i in on_b3}
    check(len(went) >= 2, f"b3's {len(on_b3)} keys should spread over the others: {went}")

    set_health(bs["b3"], "up")
    for lb in lbs:
        wait_for(f"b3 UP in {lb.name}", lambda: states(lb)["b3"] == "UP", 10)
    for c in clients:
        check(mapping(c, "header", range(NKEYS)) == before, "keys did not come back to b3")
        c.close()
    print(f"b3 DOWN: its {len(on_b3)} of {NKEYS} keys moved (to {sorted(went)}), no other key moved; "
          "back UP: every key home")


def case_retry_follows_key():
    """b3 is stopped (no health checks): a request for one of its keys fails to connect and is
    retried on the key's next server, the same one in both processes and for every attempt;
    no other key moves."""
    bs = start_backends()
    # --health-check none: no check may mark b3 DOWN first; the retry path is under test
    lbs = [start_lb(bs, "lb-a", "--hash-key", "header:X-User", "--health-check", "none"),
           start_lb(bs, "lb-b", "--hash-key", "header:X-User", "--health-check", "none")]
    clients = [Client(lb) for lb in lbs]
    before = mapping(clients[0], "header", range(NKEYS))
    on_b3 = [i for i in before if before[i] == "b3"]
    check(len(on_b3) >= 10, f"b3 should own some keys: {len(on_b3)}")
    stop(bs["b3"])
    # (lb-b in the reverse order: a retry by round-robin could not agree by chance)
    after = [mapping(clients[0], "header", range(NKEYS)),
             mapping(clients[1], "header", reversed(range(NKEYS)))]
    again = mapping(clients[0], "header", on_b3)
    check(after[0] == after[1], "after b3 stopped the two processes disagree")
    check(all(again[i] == after[0][i] for i in on_b3), "a key's retry went to different servers")
    moved_others = [i for i in before if before[i] != "b3" and after[0][i] != before[i]]
    check(not moved_others, f"keys of other servers moved: {moved_others[:5]}")
    went = {after[0][i] for i in on_b3}
    check("b3" not in went and len(went) >= 2, f"b3's keys went to {went}")
    for c in clients:
        c.close()
    print(f"b3 stopped: its {len(on_b3)} keys retried on {sorted(went)}, the same in both processes")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    A = case_args(CASES, certs=False)
    run_case(CASES[A.case])
