#!/usr/bin/env bash
# Configuring on a machine with neither libllhttp nor node-llhttp must stop with a message that
# names the package to install. Simulated by pointing the finder at empty directories.
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if cmake -S "$src" -B "$tmp/b" -DJOURNEY_TESTS=OFF -DLLHTTP_SOURCE_DIR="$tmp/none" \
     -DLLHTTP_SOURCE_INCLUDE_DIR="$tmp/none" >"$tmp/out" 2>&1; then
  echo "FAIL: cmake succeeded without llhttp"; exit 1
fi
if grep -q "node-llhttp" "$tmp/out" && grep -q "llhttp not found" "$tmp/out"; then
  echo "PASS: cmake stops and names node-llhttp"
else
  echo "FAIL: message does not name the package:"; cat "$tmp/out"; exit 1
fi
