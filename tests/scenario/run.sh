#!/usr/bin/env bash
# The seed's network rebuilt in network namespaces, the real programs run in it, every link captured,
# and a report by the seed's six steps, checked against the captures and the logs.
#
#   tests/scenario/run.sh [--build-dir DIR] [--out DIR] [--quiet] [--keep-going]
#
#   --build-dir DIR  where journey, journey-lb and journey-backend were built (default: build/)
#   --out DIR        captures, logs and the report (default: BUILD_DIR/scenario; emptied first)
#   --quiet          print only the assertions' verdicts, not the whole report
#   JOURNEY_CLIENT, JOURNEY_LB, JOURNEY_BACKEND (environment) override the three programs' paths
#
# Needs root (network namespaces), iproute2, iptables, tcpdump, dnsmasq and python3.
# Exit codes: 0 every assertion held; 1 an assertion failed or the scenario could not be built (the
# message says which); 77 skipped: not root, or the kernel/container refused unshare (ctest SKIP).
#
# The network (all of it inside a namespace of its own made by `unshare --net --mount`: no packet can
# reach the host's network; /run/netns and /etc/netns are private tmpfs mounts):
#
#   pc 192.168.1.100 --[br-lan]-- 192.168.1.1 home-router 198.51.100.2 (NAT) --- 198.51.100.1 isp-router-1
#   isp-router-1 192.0.2.1 --- 192.0.2.53 dns (dnsmasq: www.my-app.com -> 203.0.113.67)
#   isp-router-1 198.51.100.9 --- 198.51.100.10 isp-router-2 203.0.113.1 --- 203.0.113.67 lb (journey-lb :443)
#   lb 10.0.0.1 --[br-be]-- 10.0.0.4 b1, 10.0.0.5 b2, 10.0.0.6 b3 (journey-backend :8080)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="$repo/build"
out=""
quiet=0
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$(cd "$2" && pwd); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scenario: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="$build_dir/scenario"

SKIP=77
say() { printf 'scenario: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Outside: check what can be checked, then re-execute inside a fresh network + mount namespace.
# ---------------------------------------------------------------------------------------------
if [ -z "${JOURNEY_SCENARIO_INNER:-}" ]; then
  if [ "$(id -u)" != 0 ]; then
    say "SKIP: needs root to create network namespaces (run: sudo make scenario)"
    exit $SKIP
  fi
  missing=()
  for t in unshare ip iptables tcpdump dnsmasq python3 ss timeout openssl; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ ${#missing[@]} = 0 ] || die "missing tools: ${missing[*]} (install them with: scripts/install-deps.sh --test)"
  client=${JOURNEY_CLIENT:-$build_dir/client/journey}
  lb=${JOURNEY_LB:-$build_dir/lb/journey-lb}
  backend=${JOURNEY_BACKEND:-$build_dir/backend/journey-backend}
  for b in "$client" "$lb" "$backend"; do
    [ -x "$b" ] || die "program not built: $b (run: make, or pass --build-dir)"
  done
  # A separate PID namespace as well, when allowed: if this script is killed outright, the kernel
  # kills every process it started. Without it the trap below does the same on every normal exit.
  if unshare --net --mount --pid --fork --kill-child --mount-proc true 2>/dev/null; then
    ns_flags=(--net --mount --pid --fork --kill-child --mount-proc)
  elif err=$(unshare --net --mount true 2>&1); then
    ns_flags=(--net --mount)
  else
    say "SKIP: unshare --net --mount was refused here: ${err:-unknown reason}"
    say "      (a container without CAP_SYS_ADMIN, or user namespaces disabled; run on a host or a privileged container)"
    exit $SKIP
  fi
  # The output directory is emptied at each run: only ever one made by this script (or a new one).
  if [ -d "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -e "$out/.journey-scenario" ]; then
    die "refusing to empty $out: not a scenario output directory (no .journey-scenario in it); pick another --out"
  fi
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  touch "$out/.journey-scenario"
  export JOURNEY_SCENARIO_INNER=1 JOURNEY_CLIENT="$client" JOURNEY_LB="$lb" JOURNEY_BACKEND="$backend"
  export JOURNEY_SCENARIO_OUT="$out"
  # unshare --fork ignores SIGINT/SIGTERM while it waits: pass them on to the script inside, whose
  # trap stops every process and namespace it made (as SIGTERM: a job started with & ignores
  # SIGINT). --kill-child covers a SIGKILL of unshare: the kernel then ends the whole PID namespace.
  unshare "${ns_flags[@]}" -- bash "$0" "${args[@]}" &
  upid=$!
  # shellcheck disable=SC2317 # called by the trap below
  forward() {
    local target=$upid
    [ "${ns_flags[2]:-}" = --pid ] && target=$(ps -o pid= --ppid "$upid" 2>/dev/null | head -n 1)
    [ -n "$target" ] && kill -TERM "$target" 2>/dev/null
    return 0
  }
  trap forward INT TERM
  rc=0
  while kill -0 "$upid" 2>/dev/null; do wait "$upid" && rc=0 || rc=$?; done
  exit "$rc"
fi

# ---------------------------------------------------------------------------------------------
# Inside: our own network namespace ("the wires"), our own mount namespace.
# ---------------------------------------------------------------------------------------------
out=$JOURNEY_SCENARIO_OUT
client=$JOURNEY_CLIENT lb=$JOURNEY_LB backend=$JOURNEY_BACKEND
url="https://www.my-app.com/my-app/data"

mount --make-rprivate /
for d in /run/netns /etc/netns; do
  mkdir -p "$d"
  mount -t tmpfs -o size=1m,mode=755 scenario "$d"
done

namespaces=()
pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  ip link del br-lan 2>/dev/null || true
  ip link del br-be 2>/dev/null || true
  umount /etc/netns /run/netns 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted: cleaning up"; exit 130' INT
trap 'say "terminated: cleaning up"; exit 143' TERM

find "${out:?}" -mindepth 1 -maxdepth 1 ! -name .journey-scenario -exec rm -rf {} +
mkdir -p "$out/run1" "$out/run2" "$out/tracepath" "$out/failover" "$out/logs" "$out/state" "$out/cache"

# --- building blocks -------------------------------------------------------------------------
# A namespace per machine: loopback up, no IPv6 (keeps the captures to the seed's IPv4 story),
# forwarding off unless the machine is a router.
machine() {
  local n=$1 forward=${2:-0}
  ip netns add "$n"
  namespaces+=("$n")
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip netns exec "$n" sysctl -qw net.ipv4.ip_forward="$forward"
}
# Readable, fixed MAC addresses (locally administered): 02:00:00:<link>:00:<host>.
mac() { printf '02:00:00:%02x:00:%02x' "$1" "$2"; }
# wire NS_A IF_A ADDR_A NS_B IF_B ADDR_B LINK_NO: a veth pair (a cable) between two machines.
wire() {
  local na=$1 ia=$2 aa=$3 nb=$4 ib=$5 ab=$6 l=$7
  local ha=${aa%/*} hb=${ab%/*}
  ip link add name "w$l-a" type veth peer name "w$l-b"
  ip link set "w$l-a" netns "$na"
  ip link set "w$l-b" netns "$nb"
  ip -n "$na" link set "w$l-a" name "$ia" address "$(mac "$l" "${ha##*.}")"
  ip -n "$nb" link set "w$l-b" name "$ib" address "$(mac "$l" "${hb##*.}")"
  ip -n "$na" addr add "$aa" dev "$ia"
  ip -n "$nb" addr add "$ab" dev "$ib"
  ip -n "$na" link set "$ia" up
  ip -n "$nb" link set "$ib" up
}
# plug BRIDGE NS IF ADDR/LEN LINK_NO: a machine's port on a switch (a bridge in the wires' namespace).
plug() {
  local br=$1 n=$2 i=$3 a=$4 l=$5 port
  local host=${a%/*}
  port="$br-${host##*.}"
  ip link add name "$port" type veth peer name "p$l-${host##*.}"
  ip link set "p$l-${host##*.}" netns "$n"
  ip -n "$n" link set "p$l-${host##*.}" name "$i" address "$(mac "$l" "${host##*.}")"
  ip -n "$n" addr add "$a" dev "$i"
  ip -n "$n" link set "$i" up
  ip link set "$port" master "$br" up
}
switch() {
  ip link add name "$1" type bridge
  ip link set "$1" up
}
# start NAME NS STDOUT STDERR CMD...: a process in a machine, its PID kept for the clean-up.
start() {
  local name=$1 n=$2 log=$3 err=$4
  shift 4
  ip netns exec "$n" "$@" >"$log" 2>"$err" &
  pids+=($!)
  printf '%s\n' "$!" >"$out/state/$name.pid"
}
# wait_for DESCRIPTION TIMEOUT_S CMD...: poll until CMD succeeds.
wait_for() {
  local what=$1 t=$2
  shift 2
  local i
  for ((i = 0; i < t * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "timed out after ${t}s waiting for $what"
}
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q LISTEN; }

# --- the network -----------------------------------------------------------------------------
say "building the network in namespaces"
ip link set lo up
for m in pc dns lb b1 b2 b3; do machine "$m" 0; done
for m in home-router isp-router-1 isp-router-2; do machine "$m" 1; done

# link 1: the home LAN (a switch): pc and the home router's LAN side
switch br-lan
plug br-lan pc eth0 192.168.1.100/24 1
plug br-lan home-router lan0 192.168.1.1/24 1
# link 2: the home router's WAN side to the ISP
wire home-router wan0 198.51.100.2/29 isp-router-1 eth-home 198.51.100.1/29 2
# link 3: the ISP's DNS server
wire isp-router-1 eth-dns 192.0.2.1/24 dns eth0 192.0.2.53/24 3
# link 4: the ISP core, between its two routers
wire isp-router-1 eth-core 198.51.100.9/29 isp-router-2 eth-core 198.51.100.10/29 4
# link 5: the cloud edge: the second ISP router and the load balancer's public address
wire isp-router-2 eth-lb 203.0.113.1/24 lb eth0 203.0.113.67/24 5
# link 6: the load balancer's private side and the three backends (a switch)
switch br-be
plug br-be lb eth1 10.0.0.1/24 6
plug br-be b1 eth0 10.0.0.4/24 6
plug br-be b2 eth0 10.0.0.5/24 6
plug br-be b3 eth0 10.0.0.6/24 6

# static routes: each machine knows its gateway; the ISP routers know where the public prefixes are.
ip -n pc route add default via 192.168.1.1
ip -n home-router route add default via 198.51.100.1
ip -n isp-router-1 route add 203.0.113.0/24 via 198.51.100.10
ip -n isp-router-2 route add 198.51.100.0/29 via 198.51.100.9
ip -n isp-router-2 route add 192.0.2.0/24 via 198.51.100.9
ip -n dns route add default via 192.0.2.1
ip -n lb route add default via 203.0.113.1
# NAT on the home router: private LAN sources leave with the WAN address (the seed's step 4).
ip netns exec home-router iptables -t nat -A POSTROUTING -s 192.168.1.0/24 -o wan0 -j MASQUERADE

for n in "${namespaces[@]}"; do
  printf '== %s\n' "$n"
  ip -n "$n" -br link
  ip -n "$n" -br addr
  printf 'ip_forward %s\n' "$(ip netns exec "$n" sysctl -n net.ipv4.ip_forward)"
done >"$out/state/links"

# the pc's resolver configuration and hosts file (ip netns exec bind-mounts /etc/netns/pc/* on /etc/*)
mkdir -p /etc/netns/pc
printf 'nameserver 192.0.2.53\noptions timeout:2 attempts:2\n' >/etc/netns/pc/resolv.conf
printf '127.0.0.1\tlocalhost\n192.168.1.100\tpc\n' >/etc/netns/pc/hosts
cp /etc/netns/pc/resolv.conf "$out/state/pc-resolv.conf"
cp /etc/netns/pc/hosts "$out/state/pc-hosts"

# --- the programs ----------------------------------------------------------------------------
say "starting dnsmasq, three backends and the load balancer"
"$repo/certs/make-certs.sh" --out "$out/certs" >"$out/logs/make-certs.log" 2>&1 ||
  die "certs/make-certs.sh failed: see $out/logs/make-certs.log"

start dns dns /dev/null "$out/logs/dnsmasq.log" dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --user=root \
  --pid-file= --listen-address=192.0.2.53 --bind-interfaces --local=/my-app.com/ \
  --host-record=www.my-app.com,203.0.113.67 --local-ttl=300 --log-queries=extra --log-facility=-

i=4
for b in b1 b2 b3; do
  start "$b" "$b" "$out/logs/$b.log" "$out/logs/$b.err" "$backend" --listen "10.0.0.$i:8080" --name "$b"
  i=$((i + 1))
done

lb_args=(--listen https://203.0.113.67:443 --cert "$out/certs/server.crt" --key "$out/certs/server.key"
  --backend b1=10.0.0.4:8080 --backend b2=10.0.0.5:8080 --backend b3=10.0.0.6:8080
  --algorithm round-robin --admin 127.0.0.1:9000 --log-format logfmt --log-level debug)
# Health checks at a 1 s interval so that the failure variant is quick (fall 2 x 1 s).
lb_help=$("$lb" --help 2>&1 || true)
health_flags=0
if grep -q -- '--health-interval' <<<"$lb_help"; then
  lb_args+=(--health-interval 1s --health-timeout 500ms --health-fall 2 --health-rise 2)
  health_flags=1
fi
# With --admin, SIGTERM first turns /healthz 503 for a drain delay (for an upstream balancer's probe):
# nothing probes it here, so stop at once.
if grep -q -- '--drain-delay' <<<"$lb_help"; then lb_args+=(--drain-delay 0s); fi
printf '%s\n' "$health_flags" >"$out/state/health-flags"
# journey-lb: the access log on stdout, diagnostics (health transitions) on stderr
printf '%s\n' "${lb_args[*]}" >"$out/state/lb.args"
start lb lb "$out/logs/lb.access.log" "$out/logs/lb.err" "$lb" "${lb_args[@]}"

# ready_or_dead NAME NS PORT LOG: wait until the program listens; if it died, say why (its log's tail).
ready_or_dead() {
  local name=$1 n=$2 port=$3 log=$4 pid i
  pid=$(cat "$out/state/$name.pid")
  for ((i = 0; i < 100; i++)); do
    listening "$n" "$port" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 5 "$log" >&2
      die "$name exited before listening on port $port (log: $log)"
    fi
    sleep 0.1
  done
  die "timed out after 10s waiting for $name to listen on port $port (log: $log)"
}
ready_or_dead dns dns 53 "$out/logs/dnsmasq.log"
for b in b1 b2 b3; do ready_or_dead "$b" "$b" 8080 "$out/logs/$b.err"; done
ready_or_dead lb lb 443 "$out/logs/lb.err"
sleep 1.5 # the first round of health checks

# --- one request, watched --------------------------------------------------------------------
# capture links in each run: the machine and interface that sees each link
links=("lan:pc:eth0" "access:home-router:wan0" "dns:dns:eth0" "core:isp-router-2:eth-core" "edge:lb:eth0" "private:lb:eth1")
routers=(pc home-router isp-router-1 isp-router-2 lb)
cap_pids=()

capture_start() {
  local dir=$1 spec name n ifc
  cap_pids=()
  for spec in "${links[@]}"; do
    IFS=: read -r name n ifc <<<"$spec"
    ip netns exec "$n" timeout 30 tcpdump -i "$ifc" -nn -U -s 0 -c 5000 --immediate-mode -w "$dir/$name.pcap" \
      >"$dir/$name.tcpdump.log" 2>&1 &
    cap_pids+=($!)
    pids+=($!)
  done
  for spec in "${links[@]}"; do
    IFS=: read -r name n ifc <<<"$spec"
    wait_for "tcpdump on $name" 10 grep -q 'listening on' "$dir/$name.tcpdump.log"
  done
}
capture_stop() {
  sleep 0.5 # the connection's last FIN/ACKs
  local p
  for p in "${cap_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${cap_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
neigh_dump() {
  local file=$1 n
  : >"$file"
  for n in "${routers[@]}"; do
    printf '== %s\n' "$n" >>"$file"
    ip -n "$n" neigh show nud all | grep -v '^fe80\|^ff0' >>"$file" || true
  done
}
client_run() {
  local dir=$1
  ip netns exec pc env XDG_CACHE_HOME="$out/cache" HOME="$out/cache" \
    "$client" --cacert "$out/certs/ca.crt" --json "$url" >"$dir/client.json" 2>"$dir/client.stderr" &&
    rc=0 || rc=$?
  printf '%s\n' "$rc" >"$dir/client.rc"
  # and the same run's human output, for the report (from the JSON run, not a new request)
}

one_run() {
  local dir=$1 flush=$2
  if [ "$flush" = 1 ]; then
    for n in "${namespaces[@]}"; do ip -n "$n" neigh flush all 2>/dev/null || true; done
  fi
  neigh_dump "$dir/neigh.before"
  ip netns exec home-router iptables -t nat -Z POSTROUTING
  wc -l <"$out/logs/lb.access.log" >"$dir/lb.lines.before"
  wc -l <"$out/logs/lb.err" >"$dir/lb.err.before"
  for b in b1 b2 b3; do wc -l <"$out/logs/$b.log" >"$dir/$b.lines.before"; done
  capture_start "$dir"
  client_run "$dir"
  capture_stop
  wc -l <"$out/logs/lb.access.log" >"$dir/lb.lines.after"
  wc -l <"$out/logs/lb.err" >"$dir/lb.err.after"
  for b in b1 b2 b3; do wc -l <"$out/logs/$b.log" >"$dir/$b.lines.after"; done
  neigh_dump "$dir/neigh.after"
  ip netns exec home-router iptables -t nat -L POSTROUTING -v -n -x >"$dir/nat.counters"
  ip netns exec pc ip route get 203.0.113.67 >"$dir/pc.route" 2>&1 || true
  ip netns exec pc ip route show >"$dir/pc.routes" 2>&1 || true
}

say "run 1: neighbour tables flushed, client cache empty"
one_run "$out/run1" 1
# Two seconds later: the client's DNS cache keeps whole seconds, so its answer shows the TTL
# counted down only once a second has passed (a run 2 within 1 s of the answer still says 300);
# the neighbour entries stay reachable far longer.
sleep 2
say "run 2: two seconds later, caches warm"
one_run "$out/run2" 0
# every hop: journey's TTL-limited probes from the pc, the links captured (the report matches each
# probe on the LAN with the ICMP answer that came back for it)
say "trace-path: journey --trace-path from the pc"
tdir="$out/tracepath"
capture_start "$tdir"
ip netns exec pc env XDG_CACHE_HOME="$out/cache" HOME="$out/cache" \
  "$client" --cacert "$out/certs/ca.crt" --trace-path --json "$url" >"$tdir/client.json" 2>"$tdir/client.stderr" &&
  rc=0 || rc=$?
printf '%s\n' "$rc" >"$tdir/client.rc"
capture_stop
# the LB's own view of its backends (admin endpoint, loopback inside the lb machine)
ip netns exec lb curl -s --max-time 2 http://127.0.0.1:9000/stats >"$out/state/lb.stats" 2>&1 || true

# --- failure variant: b2's health turned down ------------------------------------------------
say "failure variant: b2 reports itself unhealthy (SIGUSR1)"
fdir="$out/failover"
wc -l <"$out/logs/lb.access.log" >"$fdir/lb.lines.before"
wc -l <"$out/logs/b2.log" >"$fdir/b2.lines.before"
date -u +%s.%N >"$fdir/t.down"
kill -USR1 "$(cat "$out/state/b2.pid")"
wc -l <"$out/logs/lb.err" >"$fdir/lb.err.before"
# wait for the load balancer to mark b2 down (its diagnostics), at most fall x interval + slack
lb_says() { tail -n "+$(($(cat "$1") + 1))" "$out/logs/lb.err" | grep -w b2 | grep -qw "$2"; }
for ((i = 0; i < 100; i++)); do lb_says "$fdir/lb.err.before" DOWN && break; sleep 0.1; done
date -u +%s.%N >"$fdir/t.marked"
links=("private:lb:eth1" "b2:b2:eth0")
capture_start "$fdir"
for ((i = 1; i <= 6; i++)); do
  ip netns exec pc env XDG_CACHE_HOME="$out/cache" HOME="$out/cache" \
    "$client" --cacert "$out/certs/ca.crt" --json "$url" >"$fdir/client.$i.json" 2>"$fdir/client.$i.stderr" || true
done
capture_stop
wc -l <"$out/logs/b2.log" >"$fdir/b2.lines.after"
say "failure variant: b2 healthy again (SIGUSR2)"
wc -l <"$out/logs/lb.err" >"$fdir/lb.err.up"
kill -USR2 "$(cat "$out/state/b2.pid")"
for ((i = 0; i < 100; i++)); do lb_says "$fdir/lb.err.up" UP && break; sleep 0.1; done

# --- graceful stop: every program gets SIGTERM and must exit 0 (what the report checks) -------
for name in lb b1 b2 b3 dns; do
  p=$(cat "$out/state/$name.pid")
  kill -TERM "$p" 2>/dev/null || true
  rc=0
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    kill -KILL "$p" 2>/dev/null || true
    rc=timeout
    wait "$p" 2>/dev/null || true
  else
    wait "$p" 2>/dev/null || rc=$?
  fi
  printf '%s\n' "$rc" >"$out/state/$name.exit"
done

# --- the report ------------------------------------------------------------------------------
report_args=(--dir "$out")
[ "$quiet" = 1 ] && report_args+=(--quiet)
python3 "$here/report.py" "${report_args[@]}"
