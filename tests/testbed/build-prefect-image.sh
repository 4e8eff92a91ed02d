#!/usr/bin/env bash
# Builds a stand-in for prefecthq/prefect:<version>-python3.12 and saves it as the
# image archive that the server role ships to air-gapped hosts (server_image_archive).
# No registry is reachable here: the image starts from the Debian 13 test base, and
# Prefect comes from a wheelhouse that pip downloads on this machine (a pip inside a
# build container does not trust this machine's proxy CA).
#
# Usage: build-prefect-image.sh PREFECT_VERSION [REQUIREMENT...]
# Extra requirements (for example 'fastapi<=0.136.1') constrain the dependencies: pip
# picks each dependency's newest release, which an older Prefect may not run with.
# Prints the wheelhouse directory (prefect and all its dependencies for CPython 3.13,
# which systemd-run workers install from), then the path of the gzipped `docker save`
# archive. Archive and image are reused
# while their inputs (this script, the version, the base image) are unchanged.
set -euo pipefail

version=${1:?usage: $0 PREFECT_VERSION [REQUIREMENT...]}
shift
constraints=("$@")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${PREFECT_OPS_CACHE:-$repo/.cache}
python=${PYTHON:-$repo/.venv/bin/python}

base=$("$here/build-base-image.sh")
key=$( (cat "$0"; echo "$version $base ${constraints[*]}") | sha256sum | cut -c1-12)
# The tag users would pull; the archive carries it, so the role's image reference
# stays the same whether the image is pulled or loaded.
image="prefecthq/prefect:${version}-python3.12"
archive="$cache/images/prefect-${version}-${key}.tar.gz"

wheels="$cache/wheels/prefect-$version"
if [ ${#constraints[@]} -gt 0 ]; then
  wheels="$wheels-$(echo "${constraints[*]}" | sha256sum | cut -c1-8)"
fi
if [ ! -f "$wheels/.complete" ]; then
  echo "downloading prefect==$version wheels for CPython 3.13 (Debian 13)" >&2
  mkdir -p "$wheels"
  "$python" -m pip download --quiet --only-binary=:all: \
    --python-version 3.13 --implementation cp --platform manylinux2014_x86_64 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 \
    -d "$wheels" "prefect==$version" "${constraints[@]}" >&2
  touch "$wheels/.complete"
fi

if [ -s "$archive" ]; then
  echo "$wheels"
  echo "$archive"
  exit 0
fi

mkdir -p "$cache/images"
ctx=$(mktemp -d /var/tmp/prefect-ops-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp -a "$wheels" "$ctx/wheels"

cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv tini \
 && rm -rf /var/lib/apt/lists/*
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/prefect-venv \
 && /opt/prefect-venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels "prefect==$version" \
 && rm -rf /tmp/wheels
ENV PATH=/opt/prefect-venv/bin:\$PATH \
    PYTHONUNBUFFERED=1
WORKDIR /opt/prefect
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["prefect", "server", "start"]
DOCKERFILE

echo "building $image" >&2
docker build --quiet -t "$image" "$ctx" >&2
docker save "$image" | gzip -1 > "$archive.part"
mv "$archive.part" "$archive"
echo "$wheels"
echo "$archive"
