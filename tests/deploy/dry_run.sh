#!/usr/bin/env bash
# deploy/azure/deploy.sh --dry-run, checked: the sequence of az commands for one LB VM and for a
# scale-out (LB scale set behind the Azure Load Balancer, Key Vault certificate), the arguments
# that make the design hold (instances join the pool by themselves, rolling upgrades gated by
# the probe, backends found through the private DNS zone, the built .deb shipped), the rendered
# cloud-init (HTTP health checks, drain longer than the probe window, TimeoutStopSec to match),
# and the refusals. Needs bash and python3 only: no Azure account, nothing is created.
#
#   tests/deploy/dry_run.sh        exit 0 pass, 1 fail (every failure is printed)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
bad() { echo "dry run: FAIL: $*" >&2; failed=1; }
# The subcommand of each az line ("az vmss create --name ..." -> "vmss create"), in order.
sequence() { grep '^az ' "$1" | sed -E 's/^az ((-?[a-z][a-z0-9-]* )*?)--.*/\1/; s/ $//' | sed -E 's/^az //'; }
same_sequence() { # plan expected-file what
  if ! diff -u "$2" <(sequence "$1") >"$work/diff"; then
    cat "$work/diff" >&2
    bad "$3: the az command sequence differs from the expected one (diff above: - expected, + got)"
  fi
}
has() { # plan regex what
  grep -Eq -- "$2" "$1" || bad "$3 (no line matches: $2)"
}

echo "== one LB VM (the default), 2 backends"
SSH_KEY=/dev/null PACKAGE=/tmp/journey_9.9.9_amd64.deb deploy/azure/deploy.sh --dry-run >"$work/one" ||
  bad "deploy.sh --dry-run failed"
cat >"$work/one.expected" <<'EOF'
group create
identity create
identity create
network nsg create
network nsg rule create
network nsg rule create
network nsg rule create
network nsg rule create
network nsg rule create
network public-ip create
network nat gateway create
network vnet create
network vnet subnet update
network private-dns zone create
network private-dns link vnet create
role assignment create
storage account create
storage container create
storage blob upload
role assignment create
role assignment create
vmss create
network public-ip create
vm create
EOF
same_sequence "$work/one" "$work/one.expected" "one LB VM"
has "$work/one" "^az storage blob upload .*--name journey_9\.9\.9_amd64\.deb --file /tmp/journey_9\.9\.9_amd64\.deb" \
  "the built .deb (PACKAGE) is uploaded"
has "$work/one" "^az vmss create --name journey-backend .*--instance-count 2 .*--lb '' " \
  "the backends are a scale set of 2 with no load balancer of their own"
has "$work/one" "^az vm create --name journey-lb .*--public-ip-address journey-pip " \
  "the single LB VM carries the public IP"
has "$work/one" "^az role assignment create .*Private\\\\ DNS\\\\ Zone\\\\ Contributor" \
  "the backends may write their records in the private DNS zone"
has "$work/one" "deny-admin-internet.*--access Deny --protocol Tcp --source-address-prefixes Internet.*--destination-port-ranges 9000" \
  "the NSG denies the admin port from the internet"

echo "== scale-out: LB_COUNT=3, BACKEND_COUNT=4, CERT_FILE imported into Key Vault"
printf 'not a real certificate: the dry run only names it\n' >"$work/cert.pem"
SSH_KEY=/dev/null LB_COUNT=3 BACKEND_COUNT=4 CERT_FILE="$work/cert.pem" PACKAGE=/tmp/journey_9.9.9_amd64.deb \
  deploy/azure/deploy.sh --dry-run >"$work/scale" || bad "deploy.sh --dry-run (scale-out) failed"
head -n -1 "$work/one.expected" >"$work/scale.expected" # everything up to the single LB VM
cat >>"$work/scale.expected" <<'EOF'
keyvault create
role assignment create
role assignment create
keyvault certificate import
network lb create
network lb probe create
network lb rule create
vmss create
vmss extension set
vmss scale
EOF
same_sequence "$work/scale" "$work/scale.expected" "scale-out"
has "$work/scale" "^az vmss create --name journey-backend .*--instance-count 4 " "4 backend instances"
has "$work/scale" "^az vmss create --name journey-lb .*--instance-count 0 .*--lb journey-alb --backend-pool-name lbvms --health-probe healthz --upgrade-policy-mode Rolling " \
  "the LB scale set is in the Azure LB's pool, upgraded in rolling batches gated by the probe"
has "$work/scale" "^az vmss extension set .*--name KeyVaultForLinux --publisher Microsoft.Azure.KeyVault" \
  "the Key Vault VM extension is in the LB scale set's model"
has "$work/scale" "^az vmss scale --resource-group journey-rg --name journey-lb --new-capacity 3 " \
  "the LB scale set grows to 3 once its model is complete"
has "$work/scale" "^az keyvault certificate import .*--file $work/cert.pem" "CERT_FILE is imported into Key Vault"
has "$work/scale" "^az network lb probe create .*--protocol Http --port 9000 --path /healthz --interval 5 --probe-threshold 2" \
  "the Azure LB probes GET /healthz every 5 s, 2 failures"
has "$work/scale" "Key\\\\ Vault\\\\ Secrets\\\\ User" "the LB identity may read the certificate"
has "$work/scale" '^#   kv.json: .*"observedCertificates": \["https://journey-kv-[0-9a-f]{8}\.vault\.azure\.net/secrets/journey-lb"\]' \
  "the extension observes the certificate"
grep -q '^az vm create' "$work/scale" && bad "the scale-out plan must not create single VMs"

echo "== without CERT_FILE: Key Vault makes a self-signed certificate; PACKAGE_URL: nothing uploaded"
SSH_KEY=/dev/null AZURE_LB=1 PACKAGE_URL=https://example.org/journey_9.9.9_amd64.deb deploy/azure/deploy.sh --dry-run >"$work/url" ||
  bad "deploy.sh --dry-run (AZURE_LB=1, PACKAGE_URL) failed"
has "$work/url" "^az keyvault certificate create .*--policy @" "a self-signed certificate is made in Key Vault"
grep -q '^az storage' "$work/url" && bad "PACKAGE_URL: nothing should be uploaded"
has "$work/url" "^az vmss scale .*--new-capacity 1 " "AZURE_LB=1: a scale set of one"

echo "== the rendered cloud-init"
SSH_KEY=/dev/null deploy/azure/deploy.sh --render "$work/r" >/dev/null
PROBE_INTERVAL=10 PROBE_THRESHOLD=3 deploy/azure/deploy.sh --render "$work/r2" >/dev/null
/usr/bin/python3 - "$work/r/lb.yaml" "$work/r/backend.yaml" "$work/r2/lb.yaml" <<'PY' || bad "rendered cloud-init (above)"
import re, sys, yaml

def files(path):
    return {f["path"]: f["content"] for f in yaml.safe_load(open(path))["write_files"]}

def conf(text):
    return dict(re.match(r"\s*([a-z-]+)\s*=\s*(.*)", l).groups() for l in text.splitlines()
                if re.match(r"\s*[a-z-]+\s*=", l))

def seconds(v):
    return float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))

ok = True
def want(cond, what):
    global ok
    if not cond:
        print("FAIL:", what); ok = False

for path, interval, threshold in ((sys.argv[1], 5, 2), (sys.argv[3], 10, 3)):
    lb = files(path)
    c = conf(lb["/etc/journey-provision/lb.conf"])
    want(c.get("health-path") == "/health", f"{path}: HTTP health checks on /health: {c}")
    for k in ("health-interval", "health-timeout", "health-rise", "health-fall"):
        want(k in c, f"{path}: {k} is set")
    want(c.get("backend-dns", "").startswith("backend.journey.internal:"), f"{path}: backends by DNS: {c.get('backend-dns')}")
    drain = seconds(c["drain-delay"])
    want(drain > interval * threshold, f"{path}: drain-delay {drain}s must exceed the probe window {interval}x{threshold}s")
    stop = re.search(r"TimeoutStopSec=(\d+)s", lb["/etc/systemd/system/journey-lb.service.d/azure.conf"])
    want(stop and int(stop.group(1)) > drain + seconds(c["shutdown-timeout"]),
         f"{path}: TimeoutStopSec must exceed drain-delay + shutdown-timeout")
    print(f"{path}: drain-delay {drain:.0f}s > probe window {interval * threshold}s; TimeoutStopSec {stop.group(1)}s")
be = files(sys.argv[2])
want("ExecStop=/usr/local/sbin/journey-dns-register remove" in be["/etc/systemd/system/journey-dns-register.service"],
     "the backend removes its DNS record when it stops")
sys.exit(0 if ok else 1)
PY

echo "== refusals"
if SSH_KEY=/dev/null LB_COUNT=2 DOMAIN=www.example.org EMAIL=a@example.org deploy/azure/deploy.sh --dry-run >/dev/null 2>"$work/err"; then
  bad "DOMAIN with several LB instances must be refused"
fi
grep -q "Key Vault" "$work/err" || bad "the refusal should point at Key Vault: $(cat "$work/err")"
if SSH_KEY=/dev/null PACKAGE_URL=http://example.org/x.deb deploy/azure/deploy.sh --dry-run >/dev/null 2>&1; then
  bad "a plain-http PACKAGE_URL must be refused"
fi

echo "plans: $(grep -c '^az ' "$work/one") az commands (one LB VM), $(grep -c '^az ' "$work/scale") (scale-out)"
if [ "$failed" = 1 ]; then echo "dry run: FAIL"; exit 1; fi
echo "dry run: PASS"
