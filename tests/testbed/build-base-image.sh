#!/usr/bin/env bash
# Builds the Debian "VM" image that test hosts and the demo sandbox boot: systemd as
# PID 1, python3 for Ansible, nothing else. No registry is reachable from our machines,
# so the root filesystem comes from debootstrap and is imported.
#
# Usage: build-base-image.sh [SUITE]   (trixie, Debian 13, by default; bookworm is Debian 12)
# The image tag is a hash of this script and the suite, so a run reuses an image built
# from the same inputs and rebuilds when they change. Prints the image reference.
set -euo pipefail

suite=${1:-trixie}
declare -A release=([bookworm]=12 [trixie]=13)
[ -n "${release[$suite]:-}" ] || { echo "unknown suite $suite (bookworm or trixie)" >&2; exit 2; }
packages=python3,systemd,systemd-sysv,dbus,ca-certificates,iproute2,sudo,procps
key=$( (cat "$0"; echo "$suite $packages") | sha256sum | cut -c1-12)
image="prefect-ops-test/debian${release[$suite]}:${key}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

rootfs=$(mktemp -d /var/tmp/prefect-ops-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building $image with debootstrap ($suite)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >&2
# A test host has no console and no kernel modules to load; masking these units keeps
# its boot quiet and `systemctl is-system-running` honest.
for unit in systemd-modules-load.service getty.target console-getty.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# apt caches are noise in an image; keep it lean.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=docker' \
  - "$image" >&2
echo "$image"
