#!/usr/bin/env bash
# Deploys journey on Azure with the az CLI (2.50 or later, logged in: `az login`), as a user
# who may assign roles on the resource group (Owner, or Contributor + User Access Administrator).
#
#   deploy/azure/deploy.sh [--dry-run] [--delete] [--render DIR]
#
# Creates, in one resource group:
#   - a VNet with one subnet, a NAT gateway for outbound traffic (apt, certbot) and an NSG:
#     443 (and 80 for Let's Encrypt) open to the internet; the admin port denied from the
#     internet (allowed from the Azure Load Balancer's probe address); the backend port denied
#     from the internet; SSH only from $SSH_SOURCE when it is set
#   - the package: the .deb you built (PACKAGE, default the newest build*/journey_*_amd64.deb)
#     uploaded to a private blob container; every VM downloads it with its managed identity
#     (or PACKAGE_URL: any https URL of the .deb, nothing uploaded)
#   - backends: a VM scale set of BACKEND_COUNT journey-backend instances; each one adds its
#     private address to the A record BACKEND_DNS_NAME of the Azure Private DNS zone
#     PRIVATE_ZONE at boot and removes it at shutdown, and journey-lb follows that name
#     (backend-dns): scaling the backends needs no change on the LB
#   - the LB tier, either
#       LB_COUNT=1 (default): one journey-lb VM with a Standard static public IP on its NIC;
#         DOMAIN and EMAIL get a Let's Encrypt certificate with certbot on the VM, or
#       LB_COUNT>1 or AZURE_LB=1: a VM scale set of LB_COUNT instances in the backend pool of
#         a Standard Azure Load Balancer (public IP, rule 443, HTTP probe GET /healthz on the
#         admin port, TCP reset on idle); instances join the pool by themselves, and their
#         certificate comes from Key Vault through the Key Vault VM extension (CERT_FILE: a PEM
#         or PFX with the key and chain to import; without it Key Vault makes a self-signed one)
# Every name, the region, sizes and addresses are variables below, overridable from the
# environment: e.g.  LOCATION=westeurope LB_COUNT=2 BACKEND_COUNT=4 deploy/azure/deploy.sh
# --dry-run prints the az commands instead of running them. --delete removes the resource group.
# --render DIR only writes the rendered cloud-init files (lb.yaml, backend.yaml) into DIR.
# Runbook (scaling 1 -> N, rolling upgrades, certificates, draining): docs/OPERATIONS.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

# ---- variables (environment overrides) -----------------------------------------------------
PREFIX=${PREFIX:-journey}
RESOURCE_GROUP=${RESOURCE_GROUP:-${PREFIX}-rg}
LOCATION=${LOCATION:-koreacentral}             # Seoul
VNET=${VNET:-${PREFIX}-vnet}
VNET_PREFIX=${VNET_PREFIX:-10.20.0.0/16}
SUBNET=${SUBNET:-${PREFIX}-subnet}
SUBNET_PREFIX=${SUBNET_PREFIX:-10.20.1.0/24}
NSG=${NSG:-${PREFIX}-nsg}
NAT_GATEWAY=${NAT_GATEWAY:-${PREFIX}-nat}
PUBLIC_IP=${PUBLIC_IP:-${PREFIX}-pip}
DNS_LABEL=${DNS_LABEL:-}                       # -> DNS_LABEL.LOCATION.cloudapp.azure.com
LB_COUNT=${LB_COUNT:-1}
LB_NAME=${LB_NAME:-${PREFIX}-lb}               # the VM, or the scale set
LB_VM_SIZE=${LB_VM_SIZE:-Standard_B2s}
LB_IP=${LB_IP:-10.20.1.10}                     # the single LB VM's private address
BACKEND_COUNT=${BACKEND_COUNT:-2}
BACKEND_NAME=${BACKEND_NAME:-${PREFIX}-backend}
BACKEND_VM_SIZE=${BACKEND_VM_SIZE:-Standard_B1s}
BACKEND_PORT=${BACKEND_PORT:-8080}
PRIVATE_ZONE=${PRIVATE_ZONE:-${PREFIX}.internal}
BACKEND_DNS_NAME=${BACKEND_DNS_NAME:-backend}  # -> backend.journey.internal, one A record per instance
ADMIN_PORT=${ADMIN_PORT:-9000}
AZURE_LB=${AZURE_LB:-0}                        # 1: scale set + Azure Load Balancer even for one LB
AZURE_LB_NAME=${AZURE_LB_NAME:-${PREFIX}-alb}
PROBE_INTERVAL=${PROBE_INTERVAL:-5}            # Azure LB probe: seconds between probes
PROBE_THRESHOLD=${PROBE_THRESHOLD:-2}          # failed probes before an instance leaves rotation
IDLE_TIMEOUT_MIN=${IDLE_TIMEOUT_MIN:-4}        # Azure's default TCP idle timeout (4..100)
IMAGE=${IMAGE:-Debian:debian-12:12-gen2:latest}
ADMIN_USER=${ADMIN_USER:-azureuser}
SSH_KEY=${SSH_KEY:-$HOME/.ssh/id_ed25519.pub}
SSH_SOURCE=${SSH_SOURCE:-}                     # e.g. 203.0.113.7/32; empty: no SSH from outside
ALGORITHM=${ALGORITHM:-round-robin}
PACKAGE=${PACKAGE:-}                           # the .deb to ship; empty: newest build*/journey_*_amd64.deb
PACKAGE_URL=${PACKAGE_URL:-}                   # instead of PACKAGE: an https URL the VMs download
# Globally unique names, derived from the resource group so that a second run finds the same ones.
suffix=$(printf '%s' "$RESOURCE_GROUP/$LOCATION" | sha1sum | cut -c1-8)
STORAGE_ACCOUNT=${STORAGE_ACCOUNT:-journeypkg${suffix}}
CONTAINER=${CONTAINER:-packages}
KEY_VAULT=${KEY_VAULT:-journey-kv-${suffix}}
CERT_NAME=${CERT_NAME:-journey-lb}
CERT_FILE=${CERT_FILE:-}                       # PEM (key + chain) or PFX imported into Key Vault
CERT_SUBJECT=${CERT_SUBJECT:-${DOMAIN:-www.my-app.com}}
DOMAIN=${DOMAIN:-}                             # single LB VM: DNS name for Let's Encrypt
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
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# A dry run shows the files it would pass to az (they live in a temporary directory).
show_file() { if [ "$dry" = 1 ]; then sed "s|^|#   $(basename "$1"): |" "$1"; fi; }
# A value az would return (an ID, a principal): printed as <what> in a dry run.
az_value() { # what az-args...
  local what=$1
  shift
  if [ "$dry" = 1 ]; then echo "<$what>"; else az "$@" --output tsv; fi
}
# Role assignments take a minute or two to reach Key Vault and Storage: retry what needs one.
az_retry() {
  local i
  if [ "$dry" = 1 ]; then az_ "$@"; return; fi
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if az "$@"; then return 0; fi
    echo "deploy: retrying in 20 s (attempt $i: a new role assignment may not have reached the service yet)" >&2
    sleep 20
  done
  die "az $1 $2 kept failing (output above)"
}

[ "$LB_COUNT" -ge 1 ] || die "LB_COUNT must be at least 1"
[ "$BACKEND_COUNT" -ge 1 ] || die "BACKEND_COUNT must be at least 1"
scale=$AZURE_LB
[ "$LB_COUNT" -gt 1 ] && scale=1
if [ -n "$DOMAIN" ] && [ -z "$EMAIL" ]; then die "DOMAIN is set: set EMAIL too (Let's Encrypt account)"; fi
if [ -n "$DOMAIN" ] && [ "$scale" = 1 ]; then
  die "several LB instances share one certificate from Key Vault: get it once (e.g. certbot's DNS-01 challenge), pass it as CERT_FILE and unset DOMAIN (docs/OPERATIONS.md, Scaling out)"
fi
if [ -n "$CERT_FILE" ] && [ "$scale" = 0 ]; then
  die "CERT_FILE is for the Key Vault of LB_COUNT>1 or AZURE_LB=1; a single LB VM takes DOMAIN and EMAIL (Let's Encrypt)"
fi
[ -z "$CERT_FILE" ] || [ -r "$CERT_FILE" ] || die "CERT_FILE $CERT_FILE is not readable"

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

# ---- the package -----------------------------------------------------------------------------
package_blob=
if [ -z "$PACKAGE_URL" ]; then
  if [ -z "$PACKAGE" ]; then
    PACKAGE=$(find "$top" -maxdepth 2 -path "$top/build*/journey_*_amd64.deb" -printf '%T@ %p\n' 2>/dev/null |
      sort -rn | head -1 | cut -d' ' -f2-)
  fi
  if [ "$dry" = 1 ] || [ -n "$render_dir" ]; then
    PACKAGE=${PACKAGE:-$top/build/journey_VERSION_amd64.deb} # a plan needs no file
  elif [ -z "$PACKAGE" ] || [ ! -r "$PACKAGE" ]; then
    die "no package to ship${PACKAGE:+ ($PACKAGE is not readable)}: run 'make package' (writes build/journey_VERSION_amd64.deb), or set PACKAGE=FILE or PACKAGE_URL=URL"
  fi
  package_blob=$(basename "$PACKAGE")
  package_src="https://${STORAGE_ACCOUNT}.blob.core.windows.net/${CONTAINER}/${package_blob}"
  package_auth=identity
else
  case "$PACKAGE_URL" in https://*) ;; *) die "PACKAGE_URL must be an https URL" ;; esac
  package_src=$PACKAGE_URL package_auth=none
fi

# ---- identities (their client IDs go into cloud-init) -----------------------------------------
if [ -z "$render_dir" ]; then
  say "resource group $RESOURCE_GROUP in $LOCATION, managed identities for the two tiers"
  tags=()
  read -r -a tags <<<"$TAGS"
  az_ group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags "${tags[@]}" --output none
  az_ identity create --resource-group "$RESOURCE_GROUP" --name "${LB_NAME}-id" --location "$LOCATION" --output none
  az_ identity create --resource-group "$RESOURCE_GROUP" --name "${BACKEND_NAME}-id" --location "$LOCATION" --output none
  lb_client=$(az_value lb-identity-client-id identity show -g "$RESOURCE_GROUP" -n "${LB_NAME}-id" --query clientId)
  lb_principal=$(az_value lb-identity-principal-id identity show -g "$RESOURCE_GROUP" -n "${LB_NAME}-id" --query principalId)
  lb_identity=$(az_value lb-identity-id identity show -g "$RESOURCE_GROUP" -n "${LB_NAME}-id" --query id)
  be_client=$(az_value backend-identity-client-id identity show -g "$RESOURCE_GROUP" -n "${BACKEND_NAME}-id" --query clientId)
  be_principal=$(az_value backend-identity-principal-id identity show -g "$RESOURCE_GROUP" -n "${BACKEND_NAME}-id" --query principalId)
  be_identity=$(az_value backend-identity-id identity show -g "$RESOURCE_GROUP" -n "${BACKEND_NAME}-id" --query id)
elif command -v az >/dev/null && az identity show -g "$RESOURCE_GROUP" -n "${LB_NAME}-id" >/dev/null 2>&1; then
  # --render for a deployment that exists (a rolling upgrade): its identities' client IDs
  lb_client=$(az identity show -g "$RESOURCE_GROUP" -n "${LB_NAME}-id" --query clientId --output tsv)
  be_client=$(az identity show -g "$RESOURCE_GROUP" -n "${BACKEND_NAME}-id" --query clientId --output tsv)
else
  lb_client=LB-IDENTITY-CLIENT-ID be_client=BACKEND-IDENTITY-CLIENT-ID
  echo "deploy: --render without a deployment to look at: the identities' client IDs are placeholders" >&2
fi

# ---- cloud-init files, rendered ------------------------------------------------------------
# LB drain: /healthz answers 503 while the Azure LB needs PROBE_THRESHOLD failed probes, one
# every PROBE_INTERVAL s, to take the instance out; 5 s more for flows already on their way.
drain_s=$((PROBE_INTERVAL * PROBE_THRESHOLD + 5))
shutdown_s=30
stop_s=$((drain_s + shutdown_s + 15)) # systemd TimeoutStopSec: drain + in-flight + margin
if [ "$scale" = 1 ]; then cert_mode=keyvault; elif [ -n "$DOMAIN" ]; then cert_mode=letsencrypt; else cert_mode=self-signed; fi
render() { # template output
  sed -e "s|__PACKAGE_SRC__|${package_src}|g" -e "s|__PACKAGE_AUTH__|${package_auth}|g" \
    -e "s|__DOMAIN__|${DOMAIN}|g" -e "s|__EMAIL__|${EMAIL}|g" -e "s|__ALGORITHM__|${ALGORITHM}|g" \
    -e "s|__BACKEND_FQDN__|${BACKEND_DNS_NAME}.${PRIVATE_ZONE}|g" -e "s|__BACKEND_PORT__|${BACKEND_PORT}|g" \
    -e "s|__PRIVATE_ZONE__|${PRIVATE_ZONE}|g" -e "s|__BACKEND_DNS_NAME__|${BACKEND_DNS_NAME}|g" \
    -e "s|__ADMIN_PORT__|${ADMIN_PORT}|g" -e "s|__DRAIN_DELAY__|${drain_s}s|g" \
    -e "s|__SHUTDOWN_TIMEOUT__|${shutdown_s}s|g" -e "s|__STOP_TIMEOUT__|${stop_s}s|g" \
    -e "s|__CERT_MODE__|${cert_mode}|g" -e "s|__KEY_VAULT__|${KEY_VAULT}|g" -e "s|__CERT_NAME__|${CERT_NAME}|g" \
    -e "s|__LB_CLIENT_ID__|${lb_client}|g" -e "s|__BACKEND_CLIENT_ID__|${be_client}|g" "$1" >"$2"
  if grep -n '__[A-Z_]*__' "$2"; then die "template $1 has placeholders this script does not fill"; fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
render "$here/cloud-init.yaml" "$work/lb.yaml"
render "$here/cloud-init-backend.yaml" "$work/backend.yaml"
if [ -n "$render_dir" ]; then
  mkdir -p "$render_dir"
  cp "$work/lb.yaml" "$work/backend.yaml" "$render_dir/"
  echo "deploy: rendered $render_dir/lb.yaml and $render_dir/backend.yaml"
  exit 0
fi

# ---- network ---------------------------------------------------------------------------------
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

say "private DNS zone $PRIVATE_ZONE on $VNET: the backends register as ${BACKEND_DNS_NAME}.${PRIVATE_ZONE}"
az_ network private-dns zone create --resource-group "$RESOURCE_GROUP" --name "$PRIVATE_ZONE" --output none
az_ network private-dns link vnet create --resource-group "$RESOURCE_GROUP" --zone-name "$PRIVATE_ZONE" \
  --name "${VNET}-link" --virtual-network "$VNET" --registration-enabled false --output none
zone_id=$(az_value private-dns-zone-id network private-dns zone show -g "$RESOURCE_GROUP" -n "$PRIVATE_ZONE" --query id)
role() { # principal role scope
  az_ role assignment create --assignee-object-id "$1" --assignee-principal-type ServicePrincipal \
    --role "$2" --scope "$3" --output none
}
role "$be_principal" "Private DNS Zone Contributor" "$zone_id"

# ---- the package, in a private blob container ----------------------------------------------------
if [ -n "$package_blob" ]; then
  say "storage account $STORAGE_ACCOUNT: $package_blob, read by the VMs' managed identities"
  az_ storage account create --resource-group "$RESOURCE_GROUP" --name "$STORAGE_ACCOUNT" --location "$LOCATION" \
    --sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --allow-blob-public-access false --output none
  az_ storage container create --account-name "$STORAGE_ACCOUNT" --name "$CONTAINER" --auth-mode key --output none
  az_ storage blob upload --account-name "$STORAGE_ACCOUNT" --container-name "$CONTAINER" --name "$package_blob" \
    --file "$PACKAGE" --overwrite true --auth-mode key --output none
  storage_id=$(az_value storage-account-id storage account show -g "$RESOURCE_GROUP" -n "$STORAGE_ACCOUNT" --query id)
  role "$lb_principal" "Storage Blob Data Reader" "$storage_id"
  role "$be_principal" "Storage Blob Data Reader" "$storage_id"
fi

# Scale set instances have no public address; the subnet's NSG applies to every NIC.
vm_common=(--resource-group "$RESOURCE_GROUP" --location "$LOCATION" --image "$IMAGE"
  --vnet-name "$VNET" --subnet "$SUBNET" --admin-username "$ADMIN_USER" --ssh-key-values "$SSH_KEY"
  --tags "${tags[@]}" --output none)

# ---- backends: a scale set, found through the private DNS zone ----------------------------------
say "backend scale set $BACKEND_NAME: $BACKEND_COUNT x $BACKEND_VM_SIZE, no public address"
az_ vmss create --name "$BACKEND_NAME" "${vm_common[@]}" --vm-sku "$BACKEND_VM_SIZE" \
  --instance-count "$BACKEND_COUNT" --orchestration-mode Uniform --upgrade-policy-mode Manual \
  --lb "" --public-ip-address "" --assign-identity "$be_identity" --custom-data "$work/backend.yaml"

# ---- the LB tier ---------------------------------------------------------------------------------
say "public IP $PUBLIC_IP (Standard, static${DNS_LABEL:+, DNS label $DNS_LABEL})"
pip_args=(--resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --location "$LOCATION"
  --sku Standard --allocation-method Static --version IPv4)
[ -n "$DNS_LABEL" ] && pip_args+=(--dns-name "$DNS_LABEL")
az_ network public-ip create "${pip_args[@]}" --output none

if [ "$scale" = 0 ]; then
  say "LB VM $LB_NAME ($LB_VM_SIZE) on $LB_IP, public IP $PUBLIC_IP on its NIC"
  az_ vm create --name "$LB_NAME" "${vm_common[@]}" --size "$LB_VM_SIZE" --private-ip-address "$LB_IP" \
    --nsg "" --public-ip-address "$PUBLIC_IP" --assign-identity "$lb_identity" --custom-data "$work/lb.yaml"
else
  say "Key Vault $KEY_VAULT: certificate $CERT_NAME for every LB instance"
  az_ keyvault create --resource-group "$RESOURCE_GROUP" --name "$KEY_VAULT" --location "$LOCATION" \
    --enable-rbac-authorization true --output none
  kv_id=$(az_value key-vault-id keyvault show -g "$RESOURCE_GROUP" -n "$KEY_VAULT" --query id)
  me=$(az_value signed-in-user-id ad signed-in-user show --query id)
  az_ role assignment create --assignee-object-id "$me" --assignee-principal-type User \
    --role "Key Vault Certificates Officer" --scope "$kv_id" --output none
  role "$lb_principal" "Key Vault Secrets User" "$kv_id"
  if [ -n "$CERT_FILE" ]; then
    az_retry keyvault certificate import --vault-name "$KEY_VAULT" --name "$CERT_NAME" --file "$CERT_FILE" --output none
  else
    # Self-signed by Key Vault, PEM, renewed by Key Vault before it expires: a working stack
    # until a real certificate is imported (docs/OPERATIONS.md, certificate renewal).
    cat >"$work/policy.json" <<EOF
{"issuerParameters": {"name": "Self"},
 "keyProperties": {"exportable": true, "keyType": "EC", "curve": "P-256", "reuseKey": false},
 "secretProperties": {"contentType": "application/x-pem-file"},
 "x509CertificateProperties": {"subject": "CN=${CERT_SUBJECT}", "validityInMonths": 12,
   "subjectAlternativeNames": {"dnsNames": ["${CERT_SUBJECT}"]}},
 "lifetimeActions": [{"trigger": {"daysBeforeExpiry": 30}, "action": {"actionType": "AutoRenew"}}]}
EOF
    show_file "$work/policy.json"
    az_retry keyvault certificate create --vault-name "$KEY_VAULT" --name "$CERT_NAME" --policy "@$work/policy.json" --output none
  fi

  say "Azure Load Balancer $AZURE_LB_NAME: 443 -> LB instances, probe GET /healthz on $ADMIN_PORT every ${PROBE_INTERVAL}s (out after $PROBE_THRESHOLD failures)"
  az_ network lb create --resource-group "$RESOURCE_GROUP" --name "$AZURE_LB_NAME" --location "$LOCATION" \
    --sku Standard --public-ip-address "$PUBLIC_IP" --frontend-ip-name front --backend-pool-name lbvms --output none
  az_ network lb probe create --resource-group "$RESOURCE_GROUP" --lb-name "$AZURE_LB_NAME" --name healthz \
    --protocol Http --port "$ADMIN_PORT" --path /healthz --interval "$PROBE_INTERVAL" \
    --probe-threshold "$PROBE_THRESHOLD" --output none
  # TCP reset on idle: both ends learn that Azure dropped an idle flow, instead of a silent black hole.
  az_ network lb rule create --resource-group "$RESOURCE_GROUP" --lb-name "$AZURE_LB_NAME" --name https \
    --protocol Tcp --frontend-port 443 --backend-port 443 --frontend-ip-name front \
    --backend-pool-name lbvms --probe-name healthz --idle-timeout "$IDLE_TIMEOUT_MIN" \
    --enable-tcp-reset true --disable-outbound-snat true --output none

  say "LB scale set $LB_NAME: $LB_COUNT x $LB_VM_SIZE in the pool lbvms, rolling upgrades gated by the probe"
  # Created empty: the Key Vault extension is in the model before the first instance exists,
  # so every instance, now or after a scale-out, gets the certificate the same way.
  az_ vmss create --name "$LB_NAME" "${vm_common[@]}" --vm-sku "$LB_VM_SIZE" --instance-count 0 \
    --orchestration-mode Uniform --lb "$AZURE_LB_NAME" --backend-pool-name lbvms --health-probe healthz \
    --upgrade-policy-mode Rolling --max-batch-instance-percent 50 --max-unhealthy-instance-percent 50 \
    --max-unhealthy-upgraded-instance-percent 0 --pause-time-between-batches PT30S \
    --assign-identity "$lb_identity" --custom-data "$work/lb.yaml"
  cat >"$work/kv.json" <<EOF
{"secretsManagementSettings": {"pollingIntervalInS": "3600",
   "certificateStoreLocation": "/var/lib/waagent/Microsoft.Azure.KeyVault.Store",
   "observedCertificates": ["https://${KEY_VAULT}.vault.azure.net/secrets/${CERT_NAME}"],
   "requireInitialSync": true},
 "authenticationSettings": {"msiEndpoint": "http://169.254.169.254/metadata/identity/oauth2/token",
   "msiClientId": "${lb_client}"}}
EOF
  show_file "$work/kv.json"
  az_ vmss extension set --resource-group "$RESOURCE_GROUP" --vmss-name "$LB_NAME" --name KeyVaultForLinux \
    --publisher Microsoft.Azure.KeyVault --version 3.0 --settings "@$work/kv.json" --output none
  az_ vmss scale --resource-group "$RESOURCE_GROUP" --name "$LB_NAME" --new-capacity "$LB_COUNT" --output none
fi

# ---- what to do next ---------------------------------------------------------------------------
say "done"
if [ "$dry" = 0 ]; then
  addr=$(az network public-ip show --resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --query ipAddress --output tsv)
  fqdn=$(az network public-ip show --resource-group "$RESOURCE_GROUP" --name "$PUBLIC_IP" --query dnsSettings.fqdn --output tsv)
else
  addr=PUBLIC_IP fqdn=
fi
if [ "$scale" = 1 ]; then
  check="az vmss run-command invoke -g $RESOURCE_GROUP -n $LB_NAME --instance-id 0 --command-id RunShellScript"
else
  check="az vm run-command invoke -g $RESOURCE_GROUP -n $LB_NAME --command-id RunShellScript"
fi
cat <<EOF
Public address: $addr ${fqdn:+($fqdn)}
Provisioning takes a few minutes per VM (cloud-init; log /var/log/journey-provision.log).
Then:
  journey https://${DOMAIN:-${fqdn:-$addr}}/my-app/data
  $check \\
     --scripts 'curl -s http://127.0.0.1:${ADMIN_PORT}/stats'
More backends:  az vmss scale -g $RESOURCE_GROUP -n $BACKEND_NAME --new-capacity N   (no LB change)
Delete everything: $0 --delete
EOF
