#!/usr/bin/env bash
# The README's picture of the client can be made again: runs scripts/screenshot.sh into the build
# tree (not over docs/img/) and checks what a reader of the picture would: the page shows the
# command and all seven phases of a successful request (the certificate verified, a 200 served
# by one of the demo's backends) and the PNG is an image of the page's size.
#
#   tests/readme/screenshot.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
out="$build/readme/journey.png"
rm -f "$out" "${out%.png}.html"
mkdir -p "$(dirname "$out")"
cd "$src"
BUILD_DIR=$build scripts/screenshot.sh --out "$out" --keep-html
html="${out%.png}.html"
fail() { echo "screenshot test: FAIL: $*" >&2; exit 1; }
text=$(sed 's/<[^>]*>//g' "$html")
for want in '$ journey --cacert certs/out/ca.crt --dns-servers 127.0.0.1:' '1 URL' '2 DNS' '3 route' '4 TCP' \
  '5 TLS' 'ok: chain and host name verified' '6 HTTP' '200  HTTP/2' '7 LB' 'served by b' 'time_total'; do
  grep -qF -- "$want" <<<"$text" || fail "the page lacks '$want'"
done
python3 - "$out" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("screenshot test: FAIL: not a PNG")
w, h = struct.unpack(">II", data[16:24])
if w < 600 or h < 600:
    sys.exit(f"screenshot test: FAIL: {w}x{h} is too small for the journey's 40-odd lines")
print(f"screenshot test: PASS: {sys.argv[1]} {w}x{h}, {len(data)} bytes, every phase on the page")
PY
