#!/usr/bin/env bash
# Prepares this machine (the Ansible controller) to run test hosts: a Docker engine,
# debootstrap, and a browser for the UI checks. Idempotent and quick when all is in
# place. Needs root.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
# ansible-test sanity lints the shell scripts only when shellcheck is there.
command -v shellcheck >/dev/null || need+=(shellcheck)
# The UI checks: a headless browser, its WebDriver, and certutil to make it trust the private CA.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v certutil >/dev/null || need+=(libnss3-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (log: /var/log/dockerd.log)" >&2
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi
