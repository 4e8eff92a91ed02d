#!/usr/bin/env bash
# `make demo`: deploys the whole platform onto a local sandbox host with site.yml and
# prints how to reach it. Running it again reuses the host and changes nothing.
# `make demo-destroy` (this script with "destroy") removes the sandbox host.
set -euo pipefail
cd "$(dirname "$0")/.."

hosts='{"testbed_hosts": [{"name": "prefect-sandbox", "published_ports": ["127.0.0.1:4200:4200"]}]}'

# The test bed's playbooks run on this machine alone, the implicit localhost, without an
# inventory: Ansible's warnings that no inventory was parsed say nothing here.
testbed() {
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ansible-playbook "$@"
}

if [ "${1:-}" = destroy ]; then
  testbed tests/testbed/destroy-hosts.yml -e "$hosts"
  exit 0
fi

# The roles generate the passwords on the first run into prefect_secrets_dir (set in
# sandbox/inventory.yml; owner-only files) and reuse them on every later run.
secrets_dir=.sandbox/secrets

testbed tests/testbed/create-hosts.yml -e "$hosts"
ansible-playbook -i sandbox/inventory.yml -e @tests/testbed/vars.yml \
  tests/testbed/prefect-image.yml prefect_ops.prefect.site

cat <<MSG

Prefect is up on the sandbox host "prefect-sandbox".
  UI and API:  http://127.0.0.1:4200        (API: http://127.0.0.1:4200/api)
  Work pool:   sandbox (one process worker on the sandbox host)
  Log in:      the login page has one field: type the whole auth string admin:<password>.
               Print it with:  echo "admin:\$(cat $secrets_dir/api_auth_password)"
               (the password file is root-only, generated on the first run)
  From this machine's Prefect client:
    export PREFECT_API_URL=http://127.0.0.1:4200/api PREFECT_API_AUTH_STRING="admin:\$(cat $secrets_dir/api_auth_password)"
Remove the sandbox with: make demo-destroy
MSG
