#!/usr/bin/env bash
# make demo: the whole journey on loopback, end to end, with every phase real.
#
#   scripts/demo.sh               run it all, then stop everything it started
#   scripts/demo.sh --keep        the same, then leave everything running until Ctrl-C
#   scripts/demo.sh --background  start the DNS server, backends and LB, leave them running and
#                                 print the commands to try them (state and logs: BUILD_DIR/demo/)
#   scripts/demo.sh --stop        stop what --background started (by the PIDs it recorded)
#
# The usual loopback ports (DNS 5353, LB 8443, admin 9000, backends 9001-9003) are used when free,
# else whatever the kernel gives; the commands printed name the ports in use. BUILD_DIR (build)
# is the build tree, as for make.
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
mode=run
case "${1:-}" in
  "") ;;
  --keep) mode=keep ;;
  --background) mode=background ;;
  --stop) mode=stop ;;
  -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
BIN=${BUILD_DIR:-build}
state="$BIN/demo"

# --stop: each recorded PID is stopped only while it is still the program that was started.
stop_recorded() {
  [ -f "$state/pids" ] || { echo "demo: nothing to stop (no $state/pids: was scripts/demo.sh --background run?)"; return 0; }
  local pid name left=()
  while read -r pid name; do
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"; then
      kill -TERM "$pid" 2>/dev/null && left+=("$pid")
    fi
  done <"$state/pids"
  for _ in $(seq 100); do
    local alive=0
    for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && echo "demo: PID $pid did not stop within 10 s" >&2; done
  rm -f "$state/pids"
  echo "demo: stopped ${#left[@]} processes"
}
if [ $mode = stop ]; then
  stop_recorded
  exit 0
fi
if [ $mode = background ] && [ -f "$state/pids" ]; then
  say "stopping the demo that was left running"
  stop_recorded
fi

say "dependencies and build"
scripts/install-deps.sh --build --test
# An existing tree keeps its build type (a sanitizer Debug tree is not rebuilt as RelWithDebInfo).
if [ -z "${BUILD_TYPE:-}" ] && [ -f "$BIN/CMakeCache.txt" ]; then
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN/CMakeCache.txt")
  [ -n "$BUILD_TYPE" ] && export BUILD_TYPE
fi
BUILD_DIR=$BIN make build >/tmp/journey-demo-build.log 2>&1 || { tail -30 /tmp/journey-demo-build.log; echo "demo: build failed (log: /tmp/journey-demo-build.log)" >&2; exit 1; }
echo "built: $BIN/client/journey $BIN/lb/journey-lb $BIN/backend/journey-backend"
certs/make-certs.sh

if [ $mode = background ]; then
  run="$state"
  rm -rf "$run" && mkdir -p "$run"
else
  run=$(mktemp -d /tmp/journey-demo.XXXXXX)
fi
pids=()
names=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ $mode = background ] && rm -f "$run/pids"
  [ $mode = background ] || rm -rf "$run"
}
trap cleanup EXIT
# started NAME: records the last background process (the servers' stdin and output never hold the
# caller's terminal or pipe, so --background returns and a test runner is not kept waiting).
started() { pids+=($!); names+=("$1"); }
trap 'exit 130' INT TERM

# Loopback ports: the usual ones when free, else whatever the kernel gives.
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
want = int(sys.argv[1])
for port in (want, 0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if want == 5353 else socket.SOCK_STREAM)
    if want != 5353:
        # As the servers bind (libuv sets SO_REUSEADDR): a port whose connections of a previous
        # run are in TIME_WAIT is free for them, and stays the usual one.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
  --auth-ttl=300 --local-ttl=300 --log-queries </dev/null >"$run/dns.log" 2>&1 &
started dnsmasq
echo "dnsmasq          127.0.0.1:$dns_port  www.my-app.com -> 127.0.0.1 (TTL 300)"
for i in 1 2 3; do
  "$BIN/backend/journey-backend" --listen "127.0.0.1:${b_ports[$((i-1))]}" --name "b$i" --delay-ms 1-5 \
    </dev/null >"$run/b$i.log" 2>&1 &
  started journey-backend
  echo "journey-backend  127.0.0.1:${b_ports[$((i-1))]}  b$i"
done
lb_args=(--listen "https://127.0.0.1:$lb_port" --cert certs/out/server.crt --key certs/out/server.key
  --algorithm round-robin --workers 1 --log-level debug --admin "127.0.0.1:$admin_port"
  --health-path /health --health-interval 2s --health-timeout 1s --health-rise 2 --health-fall 3
  --drain-delay 0)
for i in 1 2 3; do lb_args+=(--backend "b$i=127.0.0.1:${b_ports[$((i-1))]}"); done
"$BIN/lb/journey-lb" "${lb_args[@]}" </dev/null >"$run/lb.log" 2>&1 &
started journey-lb
echo "journey-lb       https://127.0.0.1:$lb_port  round-robin over b1 b2 b3"
for i in 1 2 3; do wait_tcp 127.0.0.1 "${b_ports[$((i-1))]}" "b$i"; done
wait_tcp 127.0.0.1 "$lb_port" lb
sleep 0.3 # first health round

url="https://www.my-app.com:$lb_port/my-app/data"
if [ $mode = background ]; then
  for i in "${!pids[@]}"; do echo "${pids[$i]} ${names[$i]}"; done >"$run/pids"
  printf 'DNS_PORT=%s\nLB_PORT=%s\nADMIN_PORT=%s\nURL=%s\n' "$dns_port" "$lb_port" "$admin_port" "$url" >"$run/env"
  trap - EXIT
  say "running in the background (logs in $run/); try:"
  echo "$BIN/client/journey --cacert certs/out/ca.crt --dns-servers 127.0.0.1:$dns_port $url"
  echo "curl --cacert certs/out/ca.crt --resolve www.my-app.com:$lb_port:127.0.0.1 $url"
  echo "curl -s http://127.0.0.1:$admin_port/stats"
  echo "scripts/demo.sh --stop      # stops them"
  exit 0
fi
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

if [ $mode = keep ]; then
  say "running; try: curl --cacert certs/out/ca.crt --resolve www.my-app.com:$lb_port:127.0.0.1 $url   (Ctrl-C stops)"
  wait
fi
say "stopping everything the demo started"
