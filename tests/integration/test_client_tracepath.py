#!/usr/bin/env python3
"""journey --trace-path through two real routers: network namespaces made here (a client, two
routers, a server; documentation addresses only inside them), journey-backend in the server's
namespace, journey in the client's. The probes must name router 1, router 2 and the server, in
that order, with TTLs 1, 2, 3. Needs root (exit 77: skipped otherwise).

usage: test_client_tracepath.py JOURNEY BACKEND
"""
import json, os, subprocess, sys, time, uuid

JOURNEY, BACKEND = sys.argv[1:3]
SKIP = 77


def sh(*a, check=True):
    return subprocess.run(a, capture_output=True, text=True, check=check)


def main():
    if os.geteuid() != 0:
        print("skipped: needs root for network namespaces")
        return SKIP
    tag = uuid.uuid4().hex[:6]
    ns = {n: "jtp-%s-%s" % (n, tag) for n in ("pc", "r1", "r2", "srv")}
    links = [("pc", "r1", "198.51.100.1", "198.51.100.2"),   # pc side, r1 side (/30 each)
             ("r1", "r2", "198.51.100.5", "198.51.100.6"),
             ("r2", "srv", "198.51.100.9", "198.51.100.10")]
    be = None
    try:
        for n in ns.values():
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        for i, (a, b, ipa, ipb) in enumerate(links):
            va, vb = "j%s%da" % (tag, i), "j%s%db" % (tag, i)
            sh("ip", "link", "add", va, "netns", ns[a], "type", "veth", "peer", "name", vb, "netns", ns[b])
            sh("ip", "-n", ns[a], "addr", "add", ipa + "/30", "dev", va)
            sh("ip", "-n", ns[b], "addr", "add", ipb + "/30", "dev", vb)
            sh("ip", "-n", ns[a], "link", "set", va, "up")
            sh("ip", "-n", ns[b], "link", "set", vb, "up")
        for r in ("r1", "r2"):
            sh("ip", "netns", "exec", ns[r], "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", ns["pc"], "route", "add", "default", "via", "198.51.100.2")
        sh("ip", "-n", ns["r1"], "route", "add", "198.51.100.8/30", "via", "198.51.100.6")
        sh("ip", "-n", ns["r2"], "route", "add", "198.51.100.0/30", "via", "198.51.100.5")
        sh("ip", "-n", ns["srv"], "route", "add", "default", "via", "198.51.100.9")
        be = subprocess.Popen(["ip", "netns", "exec", ns["srv"], BACKEND, "--listen", "198.51.100.10:8080",
                               "--name", "srv", "--no-access-log"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        for _ in range(100):
            if sh("ip", "netns", "exec", ns["pc"], JOURNEY, "-s", "--connect-timeout", "0.5",
                  "http://198.51.100.10:8080/health", check=False).returncode == 0:
                break
            time.sleep(0.05)
        r = sh("ip", "netns", "exec", ns["pc"], JOURNEY, "--json", "--no-cache", "--trace-path",
               "http://198.51.100.10:8080/my-app/data", check=False)
        j = json.loads(r.stdout)
        hops = [(h["ttl"], h["address"], h["kind"]) for h in j["path"]["hops"]]
        want = [(1, "198.51.100.2", "router"), (2, "198.51.100.6", "router"), (3, "198.51.100.10", "destination")]
        print("journey exit %d, path %s" % (r.returncode, hops))
        if r.returncode != 0 or hops != want or not j["path"]["reached"]:
            print("FAIL: expected %s" % want)
            return 1
        if j["phases"]["route"]["gateway"] != "198.51.100.2":
            print("FAIL: route gateway %r" % j["phases"]["route"]["gateway"])
            return 1
        print("ok: two routers, then the server itself at TTL 3")
        return 0
    finally:
        if be:
            be.terminate()
            be.wait(5)
        for n in ns.values():
            sh("ip", "netns", "del", n, check=False)


if __name__ == "__main__":
    sys.exit(main())
