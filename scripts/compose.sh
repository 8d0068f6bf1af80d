#!/usr/bin/env bash
# docker compose for journey, whichever compose this machine has: the v2 plugin (`docker
# compose`) or the v1 program (`docker-compose`, what Debian 12 ships). Their commands differ
# in the first word only; this script picks the one that exists and runs it on the project's
# docker-compose.yml.
#
#   scripts/compose.sh demo          build, start everything in the background (up -d), wait for
#                                    the one-shot client and print its journey
#   scripts/compose.sh ARGS...       any compose command: ps, logs -f lb, run --rm client,
#                                    up -d --scale backend=5, down -v ...
#   scripts/compose.sh --which       print the compose command it would use
#
# Before a build it makes sure the base image (debian:bookworm-slim) is there: pulled when the
# registry answers, else it says to make it with scripts/offline-base-image.sh. After a build it
# removes the build stage's leftover image (the classic builder keeps it as a dangling image).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=debian:bookworm-slim

die() { echo "compose: $*" >&2; exit 1; }
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "neither 'docker compose' (the v2 plugin) nor 'docker-compose' (v1) is installed: scripts/install-deps.sh --docker, or https://docs.docker.com/compose/install/"
fi
compose+=(--project-directory "$top" -f "$top/docker-compose.yml")
if [ "${1:-}" = --which ]; then
  echo "${compose[*]}"
  exit 0
fi
docker info >/dev/null 2>&1 ||
  die "cannot talk to the Docker daemon (docker info failed): start it (systemctl start docker), or run as a user in the docker group"

base_image() {
  docker image inspect "$base" >/dev/null 2>&1 && return 0
  echo "compose: pulling the base image $base"
  timeout 120 docker pull -q "$base" >/dev/null 2>&1 && return 0
  die "the base image $base is missing and the registry cannot be reached: make it offline with 'sudo scripts/offline-base-image.sh' (debootstrap), then run this again"
}
# The classic builder (compose v1, dockerd without BuildKit) keeps the build stage as an
# untagged image of several hundred MB; the Dockerfile labels that stage so only it goes.
prune_build_stage() {
  # A failed build leaves its stopped intermediate container, which keeps that stage's image from
  # being pruned; such containers carry the stage's label.
  local ids
  ids=$(docker ps -aq --filter label=org.journey.stage=build 2>/dev/null) || true
  # shellcheck disable=SC2086 # one id per word
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  docker image prune -f --filter label=org.journey.stage=build >/dev/null 2>&1 || true
}

case "${1:-}" in
  demo)
    base_image
    "${compose[@]}" build
    prune_build_stage
    "${compose[@]}" up -d
    client=$("${compose[@]}" ps -q -a client 2>/dev/null || "${compose[@]}" ps -q client)
    [ -n "$client" ] || die "the client service did not start: ${compose[*]} ps; ${compose[*]} logs"
    for _ in $(seq 1 60); do
      [ "$(docker inspect -f '{{.State.Status}}' "$client")" = exited ] && break
      sleep 1
    done
    echo
    docker logs "$client"
    code=$(docker inspect -f '{{.State.ExitCode}}' "$client")
    cat <<EOF

The stack keeps running in the background:
  curl --cacert certs/out/ca.crt --resolve www.my-app.com:8443:127.0.0.1 https://www.my-app.com:8443/my-app/data
  scripts/compose.sh run --rm client        the journey again
  scripts/compose.sh logs -f lb             the LB's access log
  scripts/compose.sh down -v                stop and remove everything
EOF
    exit "$code"
    ;;
  build | up)
    if [ "$1" = build ] || [[ " $* " == *" --build "* ]] || ! docker image inspect journey:dev >/dev/null 2>&1; then
      base_image
    fi
    rc=0
    "${compose[@]}" "$@" || rc=$?
    prune_build_stage
    exit "$rc"
    ;;
  *)
    exec "${compose[@]}" "$@"
    ;;
esac
