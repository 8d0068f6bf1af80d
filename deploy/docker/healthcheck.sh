#!/usr/bin/env bash
# Container health probe without curl in the image, over bash's /dev/tcp. Used by docker-compose.yml.
#
#   journey-healthcheck PORT PATH [HOST]   GET http://HOST:PORT/PATH: healthy when it answers 200
#   journey-healthcheck PORT               healthy when HOST:PORT accepts a TCP connection (no
#                                          request, so nothing lands in the server's access log)
set -u
usage="usage: journey-healthcheck PORT [PATH [HOST]]"
port=${1:?$usage}
path=${2:-}
host=${3:-127.0.0.1}
exec 3<>"/dev/tcp/$host/$port" || { echo "healthcheck: cannot connect to $host:$port" >&2; exit 1; }
if [ -z "$path" ]; then
  exec 3<&-
  exit 0
fi
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: journey-healthcheck\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
status=
IFS=' ' read -r -t 3 _ status _ <&3 || true
exec 3<&-
[ "$status" = 200 ] && exit 0
echo "healthcheck: GET http://$host:$port$path answered '${status:-nothing}', want 200" >&2
exit 1
