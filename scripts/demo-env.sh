#!/usr/bin/env bash
# Write .env for the compose demo (docker-compose.yml takes its PSK and SSO key from it): random values,
# made once, readable by the owner only, never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .env ] && grep -q '^LABCTL_PSK=' .env && grep -q '^LABCTL_SSO_KEY=' .env; then
  echo ".env exists (delete it for new secrets)"; exit 0
fi
umask 077
{
  echo "LABCTL_PSK=$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  echo "LABCTL_SSO_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
} > .env
echo "wrote .env (LABCTL_PSK, LABCTL_SSO_KEY)"
