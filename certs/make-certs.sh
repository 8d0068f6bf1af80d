#!/usr/bin/env bash
# Makes the development CA (ECDSA P-256) and a server certificate for www.my-app.com signed by it.
#
#   certs/make-certs.sh [--out DIR] [--force]
#
# Output (default certs/out/, git-ignored): ca.crt ca.key server.crt server.key server-chain.crt.
# Idempotent: when a valid set exists (server cert signed by the CA, not expiring within 30 days,
# with every SAN below) nothing is touched. --force makes a new set.
# SANs: www.my-app.com, localhost, lb, 127.0.0.1, ::1 (plus $JOURNEY_EXTRA_SANS, comma-separated
# "DNS:name" / "IP:addr" items, for deployments).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/out"
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-certs: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v openssl >/dev/null || { echo "make-certs: openssl not found: install the 'openssl' package" >&2; exit 1; }

sans="DNS:www.my-app.com,DNS:localhost,DNS:lb,IP:127.0.0.1,IP:::1"
[ -n "${JOURNEY_EXTRA_SANS:-}" ] && sans="$sans,$JOURNEY_EXTRA_SANS"

valid_set() {
  [ -s "$out/ca.crt" ] && [ -s "$out/ca.key" ] && [ -s "$out/server.crt" ] && [ -s "$out/server.key" ] || return 1
  openssl verify -CAfile "$out/ca.crt" "$out/server.crt" >/dev/null 2>&1 || return 1
  openssl x509 -in "$out/server.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  local have
  have=$(openssl x509 -in "$out/server.crt" -noout -ext subjectAltName 2>/dev/null | tr -d ' \n')
  local IFS=,
  for s in $sans; do
    s=${s/IP:::1/IPAddress:0:0:0:0:0:0:0:1}
    s=${s/IP:/IPAddress:}
    case ",$have," in *"$s"*) ;; *) return 1 ;; esac
  done
  # the key must match the certificate
  [ "$(openssl x509 -in "$out/server.crt" -noout -pubkey | openssl sha256)" = \
    "$(openssl pkey -in "$out/server.key" -pubout | openssl sha256)" ]
}

if [ "$force" = 0 ] && valid_set; then
  echo "make-certs: $out already holds a valid CA and server certificate; nothing to do"
  exit 0
fi

mkdir -p "$out"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# CA: keep an existing CA key (so certificates already trusted stay trusted), else make one.
if [ "$force" = 1 ] || ! [ -s "$out/ca.key" ] || ! [ -s "$out/ca.crt" ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 -subj "/O=journey development/CN=journey development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$tmp/ca.crt"
  mv "$tmp/ca.key" "$out/ca.key"
  mv "$tmp/ca.crt" "$out/ca.crt"
fi

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/server.key" 2>/dev/null
openssl req -new -key "$tmp/server.key" -subj "/O=journey development/CN=www.my-app.com" -out "$tmp/server.csr"
cat > "$tmp/ext.cnf" <<EXT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $sans
EXT
# 397 days: the longest validity browsers accept for a server certificate.
openssl x509 -req -in "$tmp/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days 397 -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/server.crt" 2>/dev/null
mv "$tmp/server.key" "$out/server.key"
mv "$tmp/server.crt" "$out/server.crt"
cat "$out/server.crt" "$out/ca.crt" > "$out/server-chain.crt"
chmod 644 "$out/ca.crt" "$out/server.crt" "$out/server-chain.crt"
# Readable keys: the dev set is used by containers running as other users. Never use it in production.
chmod 644 "$out/server.key"
openssl verify -CAfile "$out/ca.crt" "$out/server.crt" >/dev/null
echo "make-certs: wrote $out/{ca.crt,ca.key,server.crt,server.key,server-chain.crt} (SANs: $sans)"
