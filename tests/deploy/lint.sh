#!/usr/bin/env bash
# Static checks of everything under deploy/ and the project's shell scripts:
#   - shellcheck on every shell script (scripts/, certs/, tests/*/*.sh, deploy/**, .ci/run), on the
#     package's maintainer scripts (POSIX sh) and on the provisioning scripts embedded in the
#     cloud-init files (extracted first)
#   - `cloud-init schema` on both cloud-init templates and on their rendering by deploy.sh, run in
#     a throw-away bookworm chroot (cloud-init installed on a real host would act at its next boot)
#   - the compose file parses (docker compose config / docker-compose config)
#   - deploy.sh --dry-run: the az command sequences and the rendered cloud-init (dry_run.sh)
#
#   tests/deploy/lint.sh [--no-chroot]      (the cloud-init check needs root and debootstrap)
# Exit 0 when every check ran and passed, 1 on a failure, 77 when a check could not run.
set -euo pipefail
cd "$(dirname "$0")/../.."
chroot_ok=1
[ "${1:-}" = --no-chroot ] && chroot_ok=0
failed=0 skipped=0
step() { printf '\n== deploy lint: %s\n' "$*"; }
bad() { echo "deploy lint: FAIL: $*" >&2; failed=1; }
work=$(mktemp -d /var/tmp/journey-lint.XXXXXX)
mounted=
# --one-file-system: never follow a mount that failed to detach into the host.
cleanup() { [ -n "$mounted" ] && umount -l "$mounted" 2>/dev/null; rm -rf --one-file-system "$work"; }
trap cleanup EXIT

step "shellcheck"
if command -v shellcheck >/dev/null; then
  mapfile -t scripts < <({ ls scripts/*.sh certs/*.sh tests/*/*.sh 2>/dev/null; find deploy -name '*.sh'; echo .ci/run; } | sort -u)
  # every script cloud-init writes (rendered by deploy.sh, as the VMs get them)
  deploy/azure/deploy.sh --render "$work/rendered" >/dev/null
  for y in "$work"/rendered/*.yaml; do
    mapfile -t -O "${#scripts[@]}" scripts < <(/usr/bin/python3 - "$y" "$work/$(basename "$y" .yaml)" <<'PY'
import os, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
n = 0
for f in doc.get("write_files", []):
    if f["content"].startswith(("#!/bin/bash", "#!/bin/sh")):  # shellcheck reads the shebang
        out = sys.argv[2] + "-" + os.path.basename(f["path"]) + ".sh"
        open(out, "w").write(f["content"])
        print(out)
        n += 1
if not n:
    sys.exit(f"{sys.argv[1]}: no shell script in write_files")
PY
    )
  done
  shellcheck "${scripts[@]}" || bad "shellcheck (bash scripts)"
  shellcheck -s sh deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm || bad "shellcheck (maintainer scripts)"
  echo "checked ${#scripts[@]} shell scripts and 3 maintainer scripts"
else
  echo "SKIP: shellcheck not installed (scripts/install-deps.sh --package)"
  skipped=1
fi

step "deploy/azure/deploy.sh --dry-run: the az command sequences (tests/deploy/dry_run.sh)"
tests/deploy/dry_run.sh || bad "deploy.sh --dry-run (tests/deploy/dry_run.sh)"

step "compose file"
if docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config -q || bad "docker compose config"
elif command -v docker-compose >/dev/null; then
  docker-compose -f docker-compose.yml config -q || bad "docker-compose config"
else
  echo "SKIP: no docker compose (scripts/install-deps.sh --docker)"
  skipped=1
fi

step "cloud-init schema (in a throw-away bookworm chroot)"
if [ "$chroot_ok" = 1 ] && [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null; then
  root="$work/root"
  cp -a "$(scripts/offline-base-image.sh --chroot-only)" "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc" && mounted="$root/proc"
  if chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cloud-init' >"$work/apt.log" 2>&1; then
    mkdir -p "$root/tmp/ci"
    cp deploy/azure/cloud-init.yaml deploy/azure/cloud-init-backend.yaml "$root/tmp/ci/"
    DOMAIN=www.example.org EMAIL=ops@example.org deploy/azure/deploy.sh --render "$root/tmp/ci/rendered" >/dev/null
    LB_COUNT=3 deploy/azure/deploy.sh --render "$root/tmp/ci/rendered-scale" >/dev/null
    for f in cloud-init.yaml cloud-init-backend.yaml rendered/lb.yaml rendered/backend.yaml rendered-scale/lb.yaml; do
      chroot "$root" cloud-init schema --config-file "/tmp/ci/$f" || bad "cloud-init schema: $f"
    done
  else
    tail -5 "$work/apt.log"
    bad "could not install cloud-init in the chroot"
  fi
else
  echo "SKIP: cloud-init schema needs root and debootstrap (scripts/install-deps.sh --docker --package)"
  skipped=1
fi

if [ "$failed" = 1 ]; then echo "deploy lint: FAIL"; exit 1; fi
if [ "$skipped" = 1 ]; then echo "deploy lint: passed, some checks SKIPPED (above)"; exit 77; fi
echo "deploy lint: PASS"
