#!/bin/sh
# Rotates the scans' user agent (rotate-user-agent.yml):
#   1. the user-provided service USER_AGENT_SERVICE takes USER_AGENT_NEW as
#      its USER_AGENT (the string CredHub keeps in slot 2, which the WAF
#      already lets through);
#   2. CredHub's slot 1 (USER_AGENT_CURRENT_NAME) takes that value: the one
#      in use;
#   3. slot 2 (USER_AGENT_NEXT_NAME) is regenerated for the next rotation.
# Secrets stay in the environment except the new string itself, which
# `credhub set` and the service's JSON take as arguments (the CLIs have no
# other way in). A step that fails says which and stops the rotation.
set -eu
for name in CF_API CF_ORG CF_SPACE CF_USERNAME CF_PASSWORD USER_AGENT_SERVICE USER_AGENT_NEW \
  USER_AGENT_CURRENT_NAME USER_AGENT_NEXT_NAME CREDHUB_SERVER CREDHUB_CLIENT CREDHUB_SECRET CREDHUB_CA_CERT_VALUE; do
  eval "value=\${$name:-}"
  if [ -z "$value" ]; then
    echo "rotate-user-agent: $name is not set" >&2
    exit 1
  fi
done
fail() { echo "rotate-user-agent: $*" >&2; exit 1; }

# The credhub CLI reads CREDHUB_CLIENT, CREDHUB_SECRET and CREDHUB_CA_CERT.
ca=$(mktemp)
trap 'rm -f "$ca"' EXIT
printf '%s\n' "$CREDHUB_CA_CERT_VALUE" > "$ca"
export CREDHUB_CA_CERT="$ca"
credhub api --server "$CREDHUB_SERVER" >/dev/null || fail "cannot reach CredHub at $CREDHUB_SERVER"

cf api "$CF_API"
cf auth
cf target -o "$CF_ORG" -s "$CF_SPACE"

credentials=$(jq -cn --arg ua "$USER_AGENT_NEW" '{USER_AGENT: $ua}')
cf update-user-provided-service "$USER_AGENT_SERVICE" -p "$credentials" \
  || fail "cannot update the service $USER_AGENT_SERVICE; CredHub is unchanged"
credhub set --name "$USER_AGENT_CURRENT_NAME" --type value --value "$USER_AGENT_NEW" >/dev/null \
  || fail "the service has the new string, but CredHub's $USER_AGENT_CURRENT_NAME could not be set to it"
credhub regenerate --name "$USER_AGENT_NEXT_NAME" >/dev/null \
  || fail "the service and $USER_AGENT_CURRENT_NAME have the new string, but $USER_AGENT_NEXT_NAME could not be regenerated"
echo "rotate-user-agent: $USER_AGENT_SERVICE in $CF_ORG/$CF_SPACE has the next string; $USER_AGENT_NEXT_NAME is new"
