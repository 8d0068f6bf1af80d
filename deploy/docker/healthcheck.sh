#!/usr/bin/env bash
# Container health probe without curl in the image: GET http://HOST:PORT/PATH over bash's
# /dev/tcp, healthy (exit 0) when the status line says 200. Used by docker-compose.yml.
#
#   journey-healthcheck PORT PATH [HOST]      e.g.  journey-healthcheck 9000 /healthz
set -u
port=${1:?usage: journey-healthcheck PORT PATH [HOST]}
path=${2:?usage: journey-healthcheck PORT PATH [HOST]}
host=${3:-127.0.0.1}
exec 3<>"/dev/tcp/$host/$port" || { echo "healthcheck: cannot connect to $host:$port" >&2; exit 1; }
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
status=
IFS=' ' read -r -t 3 _ status _ <&3 || true
exec 3<&-
[ "$status" = 200 ] && exit 0
echo "healthcheck: GET http://$host:$port$path answered '${status:-nothing}', want 200" >&2
exit 1
