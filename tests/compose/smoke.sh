#!/usr/bin/env bash
# Compose smoke test: what the README tells a user to do with docker compose, checked end to end.
#
#   tests/compose/smoke.sh [--keep]      (root, or a user in the docker group with dockerd running)
#
#  1. installs the docker packages if missing (scripts/install-deps.sh --docker)
#  2. starts dockerd if it is not running (overlay2, else vfs), and stops it again at the end
#  3. makes sure debian:bookworm-slim exists (pull, else scripts/offline-base-image.sh)
#  4. scripts/compose.sh build (no dangling build-stage image left), then docker compose up -d
#     (the v2 plugin when present, else docker-compose v1); Docker's probes are not logged
#  5. the one-shot client printed the journey; the README's curl line gets a backend's JSON
#     over verified TLS; `compose run --rm client` shows the journey again
#  6. --scale backend=5: all 5 appear UP in the LB's /stats and all 5 serve requests
#  7. one backend stopped (frozen with docker pause): /stats marks it DOWN, requests keep
#     succeeding on the other 4; unpaused: UP again
#  8. docker compose down -v
# Every step prints what it does and how long it took. Exit 0 pass, 1 fail, 77 skip (dockerd
# cannot run on this host, or DOCKER_HOST names a daemon that does not answer: the reason is
# printed; .ci/run fails on it). Published ports: 8443 and 127.0.0.1:9000.
set -euo pipefail
cd "$(dirname "$0")/../.."
keep=0
[ "${1:-}" = --keep ] && keep=1

project=${JOURNEY_COMPOSE_PROJECT:-journey-smoke}
t0=$(date +%s)
step_t=$t0
step() {
  local now
  now=$(date +%s)
  printf '   (%ds)\n\n== compose smoke [%3ds]: %s\n' $((now - step_t)) $((now - t0)) "$*"
  step_t=$now
}
fail() { echo "compose smoke: FAIL: $*" >&2; exit 1; }
skip() { echo "compose smoke: SKIP: $*" >&2; exit 77; }
for p in backend lb client; do
  [ -f "$p/CMakeLists.txt" ] || skip "$p/ is not in this tree yet: the compose stack needs all three programs"
done
work=$(mktemp -d /tmp/journey-compose.XXXXXX)

step "docker packages (scripts/install-deps.sh --docker)"
if [ "$(id -u)" = 0 ]; then
  scripts/install-deps.sh --docker
else
  scripts/install-deps.sh --docker --dry-run || true
fi
command -v docker >/dev/null || skip "no docker client (run scripts/install-deps.sh --docker as root)"

step "dockerd"
dockerd_pid=
start_dockerd() { # $1: extra options
  local log=$work/dockerd.log
  # shellcheck disable=SC2086 # $1 is a list of options
  setsid dockerd $1 >"$log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return 0; fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -TERM "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=
  return 1
}
if docker info >/dev/null 2>&1; then
  echo "dockerd is running"
elif [ -n "${DOCKER_HOST:-}" ]; then
  # The client talks to that daemon only: a dockerd started here would not be used.
  skip "the docker daemon at DOCKER_HOST=$DOCKER_HOST does not answer ($(docker info 2>&1 | grep -m1 -iE 'cannot|error' || true))"
else
  [ "$(id -u)" = 0 ] || skip "dockerd is not running and only root can start it"
  command -v dockerd >/dev/null || skip "dockerd not found (scripts/install-deps.sh --docker)"
  echo "starting dockerd (log: $work/dockerd.log)"
  if ! start_dockerd ""; then
    echo "dockerd did not start with the default storage driver:"
    grep -iE 'level=(error|fatal)|failed' "$work/dockerd.log" | tail -5 || true
    echo "retrying with --storage-driver vfs"
    start_dockerd "--storage-driver vfs" ||
      skip "dockerd cannot run on this host: $(grep -iE 'level=(error|fatal)|failed' "$work/dockerd.log" | tail -3 | tr '\n' ' ')"
  fi
  echo "dockerd $(docker info -f '{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}') pid $dockerd_pid"
fi

# The compose the README's wrapper picks: the v2 plugin when present, else docker-compose v1.
which=$(scripts/compose.sh --which 2>&1) || skip "$which"
read -r -a compose <<<"$which"
compose+=(-p "$project")
echo "compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || true))"

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
    echo "--- compose ps and the last log lines (failure)"
    "${compose[@]}" ps 2>/dev/null || true
    "${compose[@]}" logs --tail 25 2>/dev/null || true
  fi
  if [ "$keep" = 1 ]; then
    echo "kept the project running (--keep): ${compose[*]} down -v"
  else
    echo "== compose smoke: ${compose[*]} down -v"
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    if [ -n "$dockerd_pid" ]; then
      echo "stopping the dockerd this test started (pid $dockerd_pid)"
      kill -TERM "$dockerd_pid" 2>/dev/null || true
      wait "$dockerd_pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "base image debian:bookworm-slim"
scripts/offline-base-image.sh

step "scripts/compose.sh build (image journey:dev; $(scripts/compose.sh --which | cut -d' ' -f1-2))"
if ! scripts/compose.sh build >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log"
  fail "compose build failed (output above)"
fi
docker image ls journey:dev --format 'image journey:dev: {{.Size}}'
left=$(docker images -q --filter dangling=true --filter label=org.journey.stage=build)
[ -z "$left" ] || fail "the build stage is left as a dangling image: $left"
echo "no dangling build-stage image left"

step "${compose[*]} up -d (the image built above; the demo flow)"
for port in 8443 9000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "host port $port is already in use (another journey compose project?): stop it first"
  fi
done
if ! "${compose[@]}" up -d >"$work/up.log" 2>&1; then
  tail -40 "$work/up.log"
  fail "compose up failed (output above)"
fi
grep -vE '^ ---> |^Removing intermediate|^Step [0-9]+/|^(Get|Hit|Fetched|Reading|Building dependency|Selecting|Preparing|Unpacking|Setting up)' "$work/up.log" | tail -15

cid() { docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$1"; }

step "the lb container is healthy (compose healthcheck: admin /healthz)"
lb=$(cid lb)
[ -n "$lb" ] || fail "no lb container"
for _ in $(seq 1 60); do
  [ "$(health "$lb")" = healthy ] && break
  sleep 1
done
[ "$(health "$lb")" = healthy ] || fail "lb is $(health "$lb") after 60 s"
echo "lb healthy; backends: $(for c in $(cid backend); do printf '%s=%s ' "${c:0:12}" "$(health "$c")"; done)"

step "the one-shot client printed the journey (through Docker's DNS, www.my-app.com -> lb)"
client=$(cid client | head -1)
[ -n "$client" ] || fail "no client container"
for _ in $(seq 1 30); do
  [ "$(docker inspect -f '{{.State.Status}}' "$client")" = exited ] && break
  sleep 1
done
docker logs "$client" >"$work/client.out" 2>&1
code=$(docker inspect -f '{{.State.ExitCode}}' "$client")
head -40 "$work/client.out"
[ "$code" = 0 ] || fail "the client service exited $code"
grep -q 'backend-' "$work/client.out" || fail "the client's journey does not show a backend's answer"

step "Docker's own probes are not in the logs at info (lb: GET /healthz; backends: TCP only)"
sleep 5 # a few probe periods (2 s)
docker logs "$lb" >"$work/lb.log" 2>&1
if grep -E 'path=/healthz|"path":"/healthz"' "$work/lb.log" | head -3 | grep .; then
  fail "the lb logs Docker's /healthz probes at info"
fi
for c in $(cid backend); do
  if docker logs "$c" 2>&1 | grep -E 'client=127\.0\.0\.1[: ].*path=/health' | head -3 | grep .; then
    fail "backend ${c:0:12} logs Docker's probes"
  fi
done
echo "ok: $(grep -c 'msg=request' "$work/lb.log" || true) request line(s) in the lb log, no probe line"

step "the README's curl line, from the host (verified TLS, --cacert certs/out/ca.crt)"
curl_lb() {
  curl -sS --fail --max-time 5 --cacert certs/out/ca.crt --resolve www.my-app.com:8443:127.0.0.1 "$@"
}
curl_lb -D "$work/headers" https://www.my-app.com:8443/my-app/data >"$work/body.json" ||
  fail "curl through the LB failed"
cat "$work/body.json"
echo
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["backend"].startswith("backend-"), d' "$work/body.json" ||
  fail "the response is not a backend's JSON with \"backend\""
grep -i '^x-served-by:' "$work/headers" || echo "(no X-Served-By header)"
grep -i '^server-timing:' "$work/headers" || echo "(no Server-Timing header)"

step "${compose[*]} run --rm client (the journey again)"
"${compose[@]}" run --rm client >"$work/run.out" 2>&1 || { cat "$work/run.out"; fail "compose run --rm client failed"; }
grep -q 'backend-' "$work/run.out" || { cat "$work/run.out"; fail "compose run client did not show a backend's answer"; }
tail -5 "$work/run.out"

stats() { curl -sS --max-time 3 http://127.0.0.1:9000/stats; }
# Prints "UP-count total" of the servers in /stats whose address is one of the given IPs, or of
# all servers when none is given.
stats_count() {
  stats | python3 -c '
import json, sys
ips = set(sys.argv[1:])
d = json.load(sys.stdin)
servers = []
def walk(o):
    if isinstance(o, dict):
        if "address" in o and "state" in o:
            servers.append(o)
        else:
            for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(d)
sel = [s for s in servers if not ips or s["address"].rsplit(":", 1)[0].strip("[]") in ips]
print(sum(1 for s in sel if s["state"] == "UP"), len(sel))
' "$@"
}
server_state() { # IP -> UP/DOWN/absent
  stats | python3 -c '
import json, sys
ip = sys.argv[1]
found = []
def walk(o):
    if isinstance(o, dict):
        if "address" in o and "state" in o:
            if o["address"].rsplit(":", 1)[0].strip("[]") == ip: found.append(o["state"])
        else:
            for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(json.load(sys.stdin))
print(found[0] if found else "absent")
' "$1"
}
ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
# N requests through the LB from the host; prints the distinct "backend" names that answered.
served_by() {
  local n=$1 i urls=()
  for ((i = 0; i < n; i++)); do urls+=(https://www.my-app.com:8443/my-app/data -o "$work/r$i.json"); done
  curl_lb "${urls[@]}" || fail "a request through the LB failed"
  python3 -c '
import json, sys
names = sorted({json.load(open(f))["backend"] for f in sys.argv[1:]})
print(" ".join(names))
' "$work"/r*.json
  rm -f "$work"/r*.json
}

step "scale the backends to 5 (${compose[*]} up -d --scale backend=5)"
"${compose[@]}" up -d --no-recreate --scale backend=5 backend >"$work/scale.log" 2>&1 ||
  { cat "$work/scale.log"; fail "compose up --scale backend=5 failed"; }
tail -5 "$work/scale.log"
mapfile -t backends < <(cid backend)
[ "${#backends[@]}" = 5 ] || fail "expected 5 backend containers, have ${#backends[@]}"
ips=()
for c in "${backends[@]}"; do ips+=("$(ip_of "$c")"); done
echo "backend addresses: ${ips[*]}"
for i in $(seq 1 90); do
  read -r up total < <(stats_count "${ips[@]}" || echo "0 0") || true
  [ "$up" = 5 ] && break
  [ $((i % 10)) = 0 ] && echo "  /stats: $up of the 5 are UP ($total listed)"
  sleep 1
done
[ "$up" = 5 ] || { stats; fail "after 90 s /stats shows $up of the 5 backends UP"; }
echo "/stats: all 5 UP"
names=$(served_by 25)
echo "served by: $names"
[ "$(wc -w <<<"$names")" = 5 ] || fail "25 round-robin requests reached $(wc -w <<<"$names") backends, expected 5"

step "stop one backend (docker pause: frozen, still in DNS) and watch the health checks mark it DOWN"
victim=${backends[0]} victim_ip=${ips[0]}
docker pause "$victim" >/dev/null
echo "paused ${victim:0:12} ($victim_ip)"
for _ in $(seq 1 40); do
  state=$(server_state "$victim_ip" || echo "unreadable")
  [ "$state" = DOWN ] && break
  sleep 1
done
[ "$state" = DOWN ] || { stats; fail "/stats shows the paused backend $victim_ip as $state, expected DOWN"; }
echo "/stats: $victim_ip DOWN"
names=$(served_by 20)
echo "served by: $names"
grep -q "backend-${victim:0:12}" <<<"$names" && fail "the DOWN backend still received requests"
[ "$(wc -w <<<"$names")" = 4 ] || fail "expected the 4 healthy backends to serve, got: $names"
docker unpause "$victim" >/dev/null
for _ in $(seq 1 30); do
  state=$(server_state "$victim_ip" || echo "unreadable")
  [ "$state" = UP ] && break
  sleep 1
done
[ "$state" = UP ] || fail "the unpaused backend $victim_ip is $state, expected UP again"
echo "unpaused: $victim_ip UP again"

step "lb phase logs (last lines)"
docker logs --tail 5 "$lb" 2>&1 | cut -c1-300

step "done"
echo "compose smoke: PASS in $(($(date +%s) - t0)) s"
