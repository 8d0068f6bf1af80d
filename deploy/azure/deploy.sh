#!/usr/bin/env bash
# Deploys journey on Azure VMs with the az CLI (2.50 or later, logged in: `az login`).
#
#   deploy/azure/deploy.sh [--dry-run] [--delete] [--render DIR]
#
# Creates, in one resource group:
#   - a VNet with one subnet, and a NAT gateway for the VMs' outbound traffic (apt, certbot): the
#     backend VMs have no public address, and Azure retires implicit outbound access
#   - an NSG on the subnet: 443 (and 80 for Let's Encrypt's HTTP-01 challenge) open to the
#     internet; the probe port 9000 (journey-lb's probe listener: /healthz and nothing else)
#     denied from the internet (allowed from the Azure Load Balancer's probe address only); the
#     admin page and actions stay on each VM (loopback and a UNIX socket); SSH only from
#     $SSH_SOURCE when it is set
#   - LB_COUNT journey-lb VMs and BACKEND_COUNT journey-backend VMs on fixed private addresses,
#     each provisioned by cloud-init (deploy/azure/cloud-init*.yaml, rendered below)
#   - LB_COUNT=1: a Standard static public IP (with DNS label) on the LB VM itself;
#     LB_COUNT>1 or AZURE_LB=1: a Standard Azure Load Balancer in front instead, with that
#     public IP, a rule for 443 (idle timeout $IDLE_TIMEOUT_MIN min, TCP reset on idle) and an HTTP
#     health probe on journey-lb's /healthz (its probe listener, port 9000)
# Every name, the region, sizes and addresses are variables below, overridable from the
# environment: e.g.  LOCATION=westeurope BACKEND_COUNT=3 DOMAIN=www.example.org EMAIL=me@example.org deploy/azure/deploy.sh
# --dry-run prints the az commands instead of running them. --delete removes the resource group.
# --render DIR only writes the rendered cloud-init files (lb.yaml, backend.yaml) into DIR.
# Runbook (certificates, logs, draining, scaling): docs/OPERATIONS.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---- variables (environment overrides) -----------------------------------------------------
PREFIX=${PREFIX:-journey}
RESOURCE_GROUP=${RESOURCE_GROUP:-${PREFIX}-rg}
LOCATION=${LOCATION:-koreacentral}             # Seoul, where the seed's request starts
VNET=${VNET:-${PREFIX}-vnet}
VNET_PREFIX=${VNET_PREFIX:-10.20.0.0/16}
SUBNET=${SUBNET:-${PREFIX}-subnet}
SUBNET_PREFIX=${SUBNET_PREFIX:-10.20.1.0/24}
NSG=${NSG:-${PREFIX}-nsg}
NAT_GATEWAY=${NAT_GATEWAY:-${PREFIX}-nat}
PUBLIC_IP=${PUBLIC_IP:-${PREFIX}-pip}
DNS_LABEL=${DNS_LABEL:-}                       # -> DNS_LABEL.LOCATION.cloudapp.azure.com
LB_COUNT=${LB_COUNT:-1}
LB_VM_PREFIX=${LB_VM_PREFIX:-${PREFIX}-lb}
LB_VM_SIZE=${LB_VM_SIZE:-Standard_B2s}
LB_IP_BASE=${LB_IP_BASE:-10.20.1.10}           # LB VMs: .10, .11, ...
BACKEND_COUNT=${BACKEND_COUNT:-2}
BACKEND_VM_PREFIX=${BACKEND_VM_PREFIX:-${PREFIX}-backend}
BACKEND_VM_SIZE=${BACKEND_VM_SIZE:-Standard_B1s}
BACKEND_IP_BASE=${BACKEND_IP_BASE:-10.20.1.20} # backend VMs: .20, .21, ...
BACKEND_PORT=${BACKEND_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9000}
AZURE_LB=${AZURE_LB:-0}                        # 1: Azure Load Balancer even with one LB VM
AZURE_LB_NAME=${AZURE_LB_NAME:-${PREFIX}-alb}
IDLE_TIMEOUT_MIN=${IDLE_TIMEOUT_MIN:-4}        # Azure's default TCP idle timeout (4..100)
IMAGE=${IMAGE:-Debian:debian-12:12-gen2:latest}
ADMIN_USER=${ADMIN_USER:-azureuser}
SSH_KEY=${SSH_KEY:-$HOME/.ssh/id_ed25519.pub}
SSH_SOURCE=${SSH_SOURCE:-}                     # e.g. 203.0.113.7/32; empty: no SSH from outside
ALGORITHM=${ALGORITHM:-round-robin}
PACKAGE_URL=${PACKAGE_URL:-}                   # URL of journey_VERSION_amd64.deb; empty: build
REPO_URL=${REPO_URL:-https://github.com/journey/journey.git}
REPO_REF=${REPO_REF:-main}
DOMAIN=${DOMAIN:-}                             # DNS name for Let's Encrypt (points at the public IP)
EMAIL=${EMAIL:-}                               # Let's Encrypt account e-mail
TAGS=${TAGS:-project=journey}

dry=0 delete=0 render_dir=
while [ $# -gt 0 ]; do
  a=$1
  shift
  case "$a" in
    --dry-run) dry=1 ;;
    --delete) delete=1 ;;
    --render) render_dir=${1:?--render needs a directory}; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n== deploy: %s\n' "$*"; }
die() { echo "deploy: $*" >&2; exit 1; }
az_() { # runs az, or prints it with --dry-run
  if [ "$dry" = 1 ]; then
    printf 'az'
    printf ' %q' "$@"
    printf '\n'
  else
    az "$@"
  fi
}

# "10.20.1.20" + 2 -> "10.20.1.22" (same /24)
ip_plus() {
  local base=$1 n=$2 last
  last=${base##*.}
  [ $((last + n)) -le 254 ] || die "address $base + $n leaves the /24: change ${3:-the IP base}"
  echo "${base%.*}.$((last + n))"
}

[ "$LB_COUNT" -ge 1 ] || die "LB_COUNT must be at least 1"
[ "$BACKEND_COUNT" -ge 1 ] || die "BACKEND_COUNT must be at least 1"
use_alb=$AZURE_LB
[ "$LB_COUNT" -gt 1 ] && use_alb=1
if [ -n "$DOMAIN" ] && [ -z "$EMAIL" ]; then die "DOMAIN is set: set EMAIL too (Let's Encrypt account)"; fi
if [ -n "$DOMAIN" ] && [ "$LB_COUNT" -gt 1 ]; then
  die "Let's Encrypt standalone on several LB VMs: get the certificate once and copy it (docs/OPERATIONS.md); unset DOMAIN"
fi

if [ "$dry" = 0 ] && [ -z "$render_dir" ]; then
  command -v az >/dev/null || die "the az CLI is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  az account show >/dev/null 2>&1 || die "not logged in to Azure: run 'az login' (and 'az account set -s SUBSCRIPTION')"
fi

if [ "$delete" = 1 ]; then
  say "delete resource group $RESOURCE_GROUP (everything this script made)"
  az_ group delete --name "$RESOURCE_GROUP" --yes --no-wait
  exit 0
fi
[ -r "$SSH_KEY" ] || [ "$dry" = 1 ] || [ -n "$render_dir" ] || die "SSH public key $SSH_KEY not readable: set SSH_KEY (ssh-keygen -t ed25519 makes one)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- cloud-init files, rendered ------------------------------------------------------------
backend_lines=
for ((i = 0; i < BACKEND_COUNT; i++)); do
  ip=$(ip_plus "$BACKEND_IP_BASE" "$i" BACKEND_IP_BASE)
  line="backend = ${BACKEND_VM_PREFIX}-$((i + 1))=${ip}:${BACKEND_PORT}"
  # the lines sit in a YAML block scalar indented by 6 spaces
  backend_lines+="${backend_lines:+\\n      }${line}"
done
render() { # template output [domain]
  sed -e "s|__PACKAGE_URL__|${PACKAGE_URL}|g" -e "s|__REPO_URL__|${REPO_URL}|g" \
    -e "s|__REPO_REF__|${REPO_REF}|g" -e "s|__DOMAIN__|${3:-}|g" -e "s|__EMAIL__|${EMAIL}|g" \
    -e "s|__ALGORITHM__|${ALGORITHM}|g" -e "s|__BACKEND_LINES__|${backend_lines}|g" \
    -e "s|0.0.0.0:8080|0.0.0.0:${BACKEND_PORT}|g" -e "s|0.0.0.0:9000|0.0.0.0:${ADMIN_PORT}|g" "$1" >"$2"
  if grep -n '__[A-Z_]*__' "$2"; then die "template $1 has placeholders this script does not fill"; fi
}
render "$here/cloud-init.yaml" "$work/lb.yaml" "$DOMAIN"
render "$here/cloud-init-backend.yaml" "$work/backend.yaml"
if [ -n "$render_dir" ]; then
  mkdir -p "$render_dir"
  cp "$work/lb.yaml" "$work/backend.yaml" "$render_dir/"
  echo "deploy: rendered $render_dir/lb.yaml and $render_dir/backend.yaml"
  exit 0
fi

tags=()
read -r -a tags <<<"$TAGS"

# ---- network ---------------------------------------------------------------------------------
say "resource group $RESOURCE_GROUP in $LOCATION"
az_ group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags "${tags[@]}" --output none

say "NSG $NSG: 443/80 from the internet, admin $ADMIN_PORT closed, SSH ${SSH_SOURCE:-closed}"
az_ network nsg create --resource-group "$RESOURCE_GROUP" --name "$NSG" --location "$LOCATION" --output none
nsg_rule() { # name priority access source port
  az_ network nsg rule create --resource-group "$RESOURCE_GROUP" --nsg-name "$NSG" --name "$1" \
    --priority "$2" --direction Inbound --access "$3" --protocol Tcp \
    --source-address-prefixes "$4" --source-port-ranges '*' \
    --destination-address-prefixes '*' --destination-port-ranges "$5" --output none
}
nsg_rule allow-https 100 Allow Internet 443
nsg_rule allow-http-acme 110 Allow Internet 80
# The Azure Load Balancer's probes come from 168.63.129.16 (service tag AzureLoadBalancer).
nsg_rule allow-admin-probe 150 Allow AzureLoadBalancer "$ADMIN_PORT"
nsg_rule deny-admin-internet 200 Deny Internet "$ADMIN_PORT"
nsg_rule deny-backend-internet 210 Deny Internet "$BACKEND_PORT"
if [ -n "$SSH_SOURCE" ]; then
  nsg_rule allow-ssh 300 Allow "$SSH_SOURCE" 22
fi

say "NAT gateway $NAT_GATEWAY (outbound for private VMs)"
az_ network public-ip create --resource-group "$RESOURCE_GROUP" --name "${NAT_GATEWAY}-pip" \
  --location "$LOCATION" --sku Standard --allocation-method Static --version IPv4 --output none
az_ network nat gateway create --resource-group "$RESOURCE_GROUP" --name "$NAT_GATEWAY" \
  --location "$LOCATION" --public-ip-addresses "${NAT_GATEWAY}-pip" --idle-timeout 4 --output none

say "VNet $VNET $VNET_PREFIX, subnet $SUBNET $SUBNET_PREFIX (NSG and NAT gateway attached)"
az_ network vnet create --resource-group "$RESOURCE_GROUP" --name "$VNET" --location "$LOCATION" \
  --address-prefixes "$VNET_PREFIX" --subnet-name "$SUBNET" --subnet-prefixes "$SUBNET_PREFIX" --output none
az_ network vnet subnet update --resource-group "$RESOURCE_GROUP" --vnet-name "$VNET" --name "$SUBNET" \
  --network-security-group "$NSG" --nat-gateway "$NAT_GATEWAY" --output none

say "public IP $PUBLIC_IP (Standard, static${DNS_LABEL:+, DNS label $DNS_LABEL})"
pip_args=(--resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --location "$LOCATION"
  --sku Standard --allocation-method Static --version IPv4)
[ -n "$DNS_LABEL" ] && pip_args+=(--dns-name "$DNS_LABEL")
az_ network public-ip create "${pip_args[@]}" --output none

# ---- VMs -------------------------------------------------------------------------------------
vm_create() { # name size private-ip cloud-init-file [public-ip]
  local args=(--resource-group "$RESOURCE_GROUP" --name "$1" --location "$LOCATION" --image "$IMAGE"
    --size "$2" --vnet-name "$VNET" --subnet "$SUBNET" --private-ip-address "$3"
    --nsg "" --admin-username "$ADMIN_USER" --ssh-key-values "$SSH_KEY"
    --custom-data "$4" --tags "${tags[@]}" --output none)
  if [ -n "${5:-}" ]; then args+=(--public-ip-address "$5"); else args+=(--public-ip-address ""); fi
  az_ vm create "${args[@]}"
}

for ((i = 0; i < BACKEND_COUNT; i++)); do
  name=${BACKEND_VM_PREFIX}-$((i + 1))
  ip=$(ip_plus "$BACKEND_IP_BASE" "$i" BACKEND_IP_BASE)
  say "backend VM $name ($BACKEND_VM_SIZE) on $ip, no public address"
  vm_create "$name" "$BACKEND_VM_SIZE" "$ip" "$work/backend.yaml"
done

for ((i = 0; i < LB_COUNT; i++)); do
  name=${LB_VM_PREFIX}-$((i + 1))
  ip=$(ip_plus "$LB_IP_BASE" "$i" LB_IP_BASE)
  if [ "$use_alb" = 1 ]; then
    say "LB VM $name ($LB_VM_SIZE) on $ip, behind the Azure Load Balancer"
    vm_create "$name" "$LB_VM_SIZE" "$ip" "$work/lb.yaml"
  else
    say "LB VM $name ($LB_VM_SIZE) on $ip, public IP $PUBLIC_IP on its NIC"
    vm_create "$name" "$LB_VM_SIZE" "$ip" "$work/lb.yaml" "$PUBLIC_IP"
  fi
done

# ---- optional Azure Load Balancer in front of the LB VMs ---------------------------------------
if [ "$use_alb" = 1 ]; then
  say "Azure Load Balancer $AZURE_LB_NAME: 443 -> LB VMs, probe GET /healthz on $ADMIN_PORT"
  az_ network lb create --resource-group "$RESOURCE_GROUP" --name "$AZURE_LB_NAME" --location "$LOCATION" \
    --sku Standard --public-ip-address "$PUBLIC_IP" --frontend-ip-name front --backend-pool-name lbvms --output none
  az_ network lb probe create --resource-group "$RESOURCE_GROUP" --lb-name "$AZURE_LB_NAME" --name healthz \
    --protocol Http --port "$ADMIN_PORT" --path /healthz --interval 5 --probe-threshold 2 --output none
  # TCP reset on idle: both ends learn that Azure dropped an idle flow, instead of a silent black hole.
  az_ network lb rule create --resource-group "$RESOURCE_GROUP" --lb-name "$AZURE_LB_NAME" --name https \
    --protocol Tcp --frontend-port 443 --backend-port 443 --frontend-ip-name front \
    --backend-pool-name lbvms --probe-name healthz --idle-timeout "$IDLE_TIMEOUT_MIN" \
    --enable-tcp-reset true --disable-outbound-snat true --output none
  if [ -n "$DOMAIN" ]; then
    # Let's Encrypt's HTTP-01 challenge reaches certbot (standalone) on the LB VM through port 80.
    az_ network lb rule create --resource-group "$RESOURCE_GROUP" --lb-name "$AZURE_LB_NAME" --name http-acme \
      --protocol Tcp --frontend-port 80 --backend-port 80 --frontend-ip-name front \
      --backend-pool-name lbvms --probe-name healthz --disable-outbound-snat true --output none
  fi
  for ((i = 0; i < LB_COUNT; i++)); do
    name=${LB_VM_PREFIX}-$((i + 1))
    # az vm create names the NIC <vm>VMNic and its IP configuration ipconfig<vm>
    az_ network nic ip-config address-pool add --resource-group "$RESOURCE_GROUP" \
      --nic-name "${name}VMNic" --ip-config-name "ipconfig${name}" \
      --lb-name "$AZURE_LB_NAME" --address-pool lbvms --output none
  done
fi

# ---- what to do next ---------------------------------------------------------------------------
say "done"
if [ "$dry" = 0 ]; then
  addr=$(az network public-ip show --resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --query ipAddress --output tsv)
  fqdn=$(az network public-ip show --resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --query dnsSettings.fqdn --output tsv)
else
  addr=PUBLIC_IP fqdn=
fi
cat <<EOF
Public address: $addr ${fqdn:+($fqdn)}
Provisioning takes a few minutes per VM (cloud-init; log /var/log/journey-provision.log).
Then:
  journey https://${DOMAIN:-${fqdn:-$addr}}/my-app/data
  az vm run-command invoke -g $RESOURCE_GROUP -n ${LB_VM_PREFIX}-1 --command-id RunShellScript \\
     --scripts 'curl -s http://127.0.0.1:${ADMIN_PORT}/stats'
Delete everything: $0 --delete
EOF
