#!/usr/bin/env bash
# Unattended setup for CI: `provision up` → `provision smoke` → the Kafka REST proxy endpoint as a pipeline output.
#
#   scripts/ci/provision-ci.sh [CONFIG]
#
# CONFIG (or PROVISION_CONFIG) is the environment spec; every PROVISION_* variable works as for the CLI. The Azure
# identity is whatever DefaultAzureCredential finds: `azure/login` (GitHub Actions, OIDC) or AzureCLI@2 (Azure
# DevOps, workload identity federation) leave an `az` login behind. PROVISION_BIN overrides the command
# (default: provision).
#
# The endpoint is published as `kafkaRestEndpoint`: to $GITHUB_OUTPUT on GitHub Actions, as an output variable on
# Azure DevOps (TF_BUILD), else as `kafkaRestEndpoint=<url>` on stdout. Secrets are never printed: the client secret
# goes only into a 0600 file in a private temporary directory that is removed on exit.
set -euo pipefail

if [[ $# -gt 1 ]]; then
  echo "usage: $0 [CONFIG]" >&2
  exit 2
fi
if [[ $# -eq 1 ]]; then
  export PROVISION_CONFIG="$1"
fi
read -r -a provision <<<"${PROVISION_BIN:-provision}"

log() { echo "provision-ci: $*" >&2; }

# A real cloud needs a subscription; take the one the pipeline's `az` login selected when none is configured.
if [[ "${PROVISION_CLOUD:-}" != "local" && -z "${PROVISION_SUBSCRIPTION:-}${AZURE_SUBSCRIPTION_ID:-}" ]] \
    && command -v az >/dev/null 2>&1; then
  AZURE_SUBSCRIPTION_ID="$(az account show --query id --output tsv)"
  export AZURE_SUBSCRIPTION_ID
fi

umask 077  # everything written below is readable by this user only
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# provision's state (the app's client secret, generated passwords) stays in the private directory too, not in the
# job's workspace; each run converges from Azure's state, and a new secret replaces the previous one.
export PROVISION_STATE_DIR="${PROVISION_STATE_DIR:-$work/state}"

log "provision up"
# The JSON report (changes, outputs; no secrets) goes to the log; stdout is kept for the published output.
"${provision[@]}" up --output json >"$work/up.json"
cat "$work/up.json" >&2

# The client configuration for the smoke test, secret included: only in the private file, never on a stream.
"${provision[@]}" endpoint --format dotenv --show-secret >"$work/client.env"
endpoint="$(sed -n 's/^KAFKAREST_ENDPOINT=//p' "$work/client.env")"
if [[ -z "$endpoint" ]]; then
  log "provision up finished without a Kafka REST proxy endpoint"
  exit 1
fi

log "provision smoke against $endpoint"
"${provision[@]}" smoke --config "$work/client.env" >&2

if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  echo "kafkaRestEndpoint=$endpoint" >>"$GITHUB_OUTPUT"
elif [[ -n "${TF_BUILD:-}" ]]; then
  echo "##vso[task.setvariable variable=kafkaRestEndpoint;isOutput=true]$endpoint"
else
  echo "kafkaRestEndpoint=$endpoint"
fi
log "done: $endpoint"
