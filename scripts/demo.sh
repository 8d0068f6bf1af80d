#!/usr/bin/env bash
# make demo: installs what is missing, builds, and runs the journey on loopback.
# (The programs arrive one by one; this script runs whichever are built.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build --test
make build
echo
echo "Built:"
ls -1 build/*/journey* 2>/dev/null || echo "  (no programs yet: only libjourney_common and the tests)"
