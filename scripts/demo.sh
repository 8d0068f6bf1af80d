#!/usr/bin/env bash
# make demo: the whole journey on loopback, end to end, with every phase real.
#
#   scripts/demo.sh [--keep]      (--keep: leave everything running until Ctrl-C)
#
# 1. installs what is missing (scripts/install-deps.sh), builds, makes the development certificates;
# 2. starts a real DNS server (dnsmasq on a loopback port, authoritative for my-app.com, so an AAAA
#    question gets a proper "no such record" rather than REFUSED) answering www.my-app.com -> 127.0.0.1,
#    three journey-backend servers and journey-lb (TLS on 127.0.0.1:8443, debug phase logs);
# 3. runs `journey https://www.my-app.com:8443/my-app/data` through that DNS server and the LB,
#    then a few more requests to show the round-robin spread;
# 4. shows the LB's log lines for the request, and stops everything it started (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "dependencies and build"
scripts/install-deps.sh --build --test
make build >/tmp/journey-demo-build.log 2>&1 || { tail -30 /tmp/journey-demo-build.log; echo "demo: build failed (log: /tmp/journey-demo-build.log)" >&2; exit 1; }
echo "built: build/client/journey build/lb/journey-lb build/backend/journey-backend"
certs/make-certs.sh

BIN=build
run=$(mktemp -d /tmp/journey-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Loopback ports: the usual ones when free, else whatever the kernel gives.
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
want = int(sys.argv[1])
for port in (want, 0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if want == 5353 else socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port)); print(s.getsockname()[1]); break
    except OSError: pass
    finally: s.close()
PY
}
dns_port=$(free_port 5353)
lb_port=$(free_port 8443)
admin_port=$(free_port 9000)
b_ports=("$(free_port 9001)" "$(free_port 9002)" "$(free_port 9003)")

wait_tcp() { # host port what
  for _ in $(seq 100); do
    if python3 -c "import socket,sys; socket.create_connection(('$1',$2),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "demo: $3 did not start listening on $1:$2; its log:" >&2
  cat "$run/$3.log" >&2 || true
  exit 1
}

say "starting a DNS server, three backends and the load balancer on loopback"
dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
  --listen-address=127.0.0.1 --port="$dns_port" --bind-interfaces \
  --host-record=www.my-app.com,127.0.0.1 --auth-zone=my-app.com --auth-server=ns.my-app.com \
  --auth-ttl=300 --local-ttl=300 --log-queries >"$run/dns.log" 2>&1 &
pids+=($!)
echo "dnsmasq          127.0.0.1:$dns_port  www.my-app.com -> 127.0.0.1 (TTL 300)"
for i in 1 2 3; do
  "$BIN/backend/journey-backend" --listen "127.0.0.1:${b_ports[$((i-1))]}" --name "b$i" --delay-ms 1-5 \
    >"$run/b$i.log" 2>&1 &
  pids+=($!)
  echo "journey-backend  127.0.0.1:${b_ports[$((i-1))]}  b$i"
done
lb_args=(--listen "https://127.0.0.1:$lb_port" --cert certs/out/server.crt --key certs/out/server.key
  --algorithm round-robin --workers 1 --log-level debug --admin "127.0.0.1:$admin_port"
  --health-path /health --health-interval 2s --health-timeout 1s --health-rise 2 --health-fall 3
  --drain-delay 0)
for i in 1 2 3; do lb_args+=(--backend "b$i=127.0.0.1:${b_ports[$((i-1))]}"); done
"$BIN/lb/journey-lb" "${lb_args[@]}" >"$run/lb.log" 2>&1 &
pids+=($!)
echo "journey-lb       https://127.0.0.1:$lb_port  round-robin over b1 b2 b3"
for i in 1 2 3; do wait_tcp 127.0.0.1 "${b_ports[$((i-1))]}" "b$i"; done
wait_tcp 127.0.0.1 "$lb_port" lb
sleep 0.3 # first health round

url="https://www.my-app.com:$lb_port/my-app/data"
# A fresh DNS cache for the demo: the first request asks the DNS server, later ones hit the cache.
export XDG_CACHE_HOME="$run/cache"
client=("$BIN/client/journey" --cacert certs/out/ca.crt --dns-servers "127.0.0.1:$dns_port")
say "journey $url"
lb_lines_before=$(wc -l <"$run/lb.log")
"${client[@]}" "$url"

say "what the load balancer logged for that request (one line per phase, then the access log)"
tail -n +"$((lb_lines_before + 1))" "$run/lb.log"

say "ten more requests over one kept-alive connection: the round-robin spread"
"${client[@]}" -n 10 "$url" | tail -n 25

say "the load balancer's view of its backends (admin /stats on 127.0.0.1:$admin_port)"
curl -sS "http://127.0.0.1:$admin_port/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for pool in d.get("pools", []):
    print("pool %s (%s)" % (pool.get("name"), pool.get("algorithm")))
    for s in pool.get("servers", []):
        print("  %-4s %-16s %-5s requests=%s" % (s.get("name"), s.get("address"), s.get("state"), s.get("requests_total", s.get("requests"))))
'

say "the same with curl, for comparison"
curl -sS --cacert certs/out/ca.crt --resolve "www.my-app.com:$lb_port:127.0.0.1" -D - "$url"
echo

if [ $keep = 1 ]; then
  say "running; try: curl --cacert certs/out/ca.crt --resolve www.my-app.com:$lb_port:127.0.0.1 $url   (Ctrl-C stops)"
  wait
fi
say "stopping everything the demo started"
