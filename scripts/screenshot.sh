#!/usr/bin/env bash
# Makes the README's picture of the client's journey, docs/img/journey.png, from a real run:
# starts the demo's DNS server, backends and load balancer on loopback (scripts/demo.sh
# --background), runs `journey` on a pseudo-terminal so that it prints in colour as it does for a
# person (script(1)), renders that output as a terminal-like HTML page (scripts/ansi2html.py),
# photographs the page with headless Chromium, and stops the servers.
#
#   scripts/screenshot.sh [--out FILE] [--keep-html]
#
# As root it runs in a network namespace of its own (unshare --net, loopback only), so the usual
# ports are free whatever else runs on the machine and the picture shows them. BUILD_DIR (build)
# is the build tree, as for make.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/img/journey.png keep_html=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --keep-html) keep_html=1; shift ;;
    --in-netns) in_netns=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "screenshot: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" = 0 ] && [ -z "${in_netns:-}" ] && command -v unshare >/dev/null; then
  args=(--out "$out")
  [ $keep_html = 1 ] && args+=(--keep-html)
  exec unshare --net -- "$(pwd)/scripts/screenshot.sh" --in-netns "${args[@]}"
fi
[ -n "${in_netns:-}" ] && ip link set lo up
command -v chromium >/dev/null || { echo "screenshot: chromium not found: run scripts/install-deps.sh --test" >&2; exit 1; }

BIN=${BUILD_DIR:-build}
tmp=$(mktemp -d /tmp/journey-screenshot.XXXXXX)
stop() { scripts/demo.sh --stop >/dev/null || true; rm -rf "$tmp"; }
trap stop EXIT

scripts/demo.sh --background >"$tmp/demo.log" 2>&1 || { cat "$tmp/demo.log" >&2; echo "screenshot: the demo did not start" >&2; exit 1; }
# shellcheck disable=SC1091 # written by demo.sh --background
. "$BIN/demo/env"
cmd="journey --cacert certs/out/ca.crt --dns-servers 127.0.0.1:$DNS_PORT $URL"
# A fresh DNS cache, so that the picture shows the DNS server answering.
rm -rf "$BIN/demo/cache"
XDG_CACHE_HOME="$(realpath -m "$BIN/demo/cache")" script -q -e -c "$BIN/client/$cmd" /dev/null </dev/null >"$tmp/journey.ansi" ||
  { cat "$tmp/journey.ansi" >&2; echo "screenshot: journey failed" >&2; exit 1; }
{ printf '\033[1m$ %s\033[0m\n' "$cmd"; cat "$tmp/journey.ansi"; } >"$tmp/capture.ansi"
python3 scripts/ansi2html.py --title "journey" <"$tmp/capture.ansi" >"$tmp/page.html"

# The window fits the text: 8.4 px per character and 19 px per line of 14 px DejaVu Sans Mono.
plain=$(sed 's/\x1b\[[0-9;]*m//g; s/\r//g' "$tmp/capture.ansi")
cols=$(awk '{ if (length($0) > n) n = length($0) } END { print n }' <<<"$plain")
lines=$(wc -l <<<"$plain")
width=$((cols * 84 / 10 + 80)) height=$((lines * 19 + 100))
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp/profile" \
  --window-size="$width,$height" --screenshot="$(realpath -m "$out")" "file://$tmp/page.html" \
  >"$tmp/chromium.log" 2>&1 || { cat "$tmp/chromium.log" >&2; echo "screenshot: chromium failed" >&2; exit 1; }
[ $keep_html = 1 ] && cp "$tmp/page.html" "${out%.png}.html"
echo "screenshot: $out (${width}x${height}, $lines lines of journey's output)"
