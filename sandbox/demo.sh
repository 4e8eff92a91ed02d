#!/usr/bin/env bash
# `make demo`: deploys the whole platform onto a local sandbox host with site.yml and
# prints how to reach it. Running it again reuses the host and changes nothing.
# `make demo-destroy` (this script with "destroy") removes the sandbox host.
set -euo pipefail
cd "$(dirname "$0")/.."

hosts='{"testbed_hosts": [{"name": "prefect-sandbox", "published_ports": ["127.0.0.1:4200:4200"]}]}'

if [ "${1:-}" = destroy ]; then
  ansible-playbook tests/testbed/destroy-hosts.yml -e "$hosts"
  exit 0
fi

# Secrets are generated once and kept on this machine, readable by root only.
secrets=.sandbox/secrets.yml
if [ ! -s "$secrets" ]; then
  mkdir -p .sandbox
  umask 077
  python3 - > "$secrets" <<'PY'
import secrets
print("---")
print(f"prefect_database_password: {secrets.token_urlsafe(24)}")
print(f"prefect_api_auth_password: {secrets.token_urlsafe(18)}")
PY
fi

ansible-playbook tests/testbed/create-hosts.yml -e "$hosts"
ansible-playbook -i sandbox/inventory.yml -e @tests/testbed/vars.yml -e @"$secrets" \
  tests/testbed/prefect-image.yml prefect_ops.prefect.site

cat <<MSG

Prefect is up on the sandbox host "prefect-sandbox".
  UI and API:  http://127.0.0.1:4200        (API: http://127.0.0.1:4200/api)
  Work pool:   sandbox (one process worker on the sandbox host)
  Log in as:   admin
  Password:    in $secrets (prefect_api_auth_password)
  From this machine's Prefect client:
    export PREFECT_API_URL=http://127.0.0.1:4200/api PREFECT_API_AUTH_STRING="admin:\$(sed -n 's/^prefect_api_auth_password: //p' $secrets)"
Remove the sandbox with: make demo-destroy
MSG
