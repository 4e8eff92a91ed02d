#!/usr/bin/env bash
# Builds a stand-in for prefecthq/prefect:<version>-python3.12 and saves it as the
# image archive that the server role ships to air-gapped hosts (server_image_archive).
# No registry is reachable here: the image starts from the Debian 13 test base, and
# Prefect comes from a wheelhouse that pip downloads on this machine (a pip inside a
# build container does not trust this machine's proxy CA).
#
# Usage: build-prefect-image.sh PREFECT_VERSION [REQUIREMENT...]
# A Prefect 2 image (the release a hand-made deployment runs, for the adopt scenario)
# starts from the Debian 12 base: Prefect 2 needs Python 3.12 or older, and Debian 12 has
# 3.11. PREFECT_IMAGE_TAG replaces the tag (for example 2-python3.12, the floating tag a
# hand-made compose file names).
# Extra requirements (for example 'fastapi<=0.136.1') constrain the dependencies: pip
# picks each dependency's newest release, which an older Prefect may not run with.
# Prints the wheelhouse directory (prefect and all its dependencies for CPython 3.13 and
# 3.11, which systemd-run workers install from), then the path of the gzipped `docker save`
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

major=${version%%.*}
if [ "$major" = 2 ]; then
  suite=bookworm python_versions=(3.11) image_python=3.11
else
  suite=trixie python_versions=(3.13 3.11) image_python=3.13
fi
# The tag users would pull; the archive carries it, so the role's image reference
# stays the same whether the image is pulled or loaded.
image="prefecthq/prefect:${PREFECT_IMAGE_TAG:-${version}-python3.12}"
base=$("$here/build-base-image.sh" "$suite")
key=$( (cat "$0"; echo "$version $base $image ${constraints[*]}") | sha256sum | cut -c1-12)
archive="$cache/images/prefect-${version}-${key}.tar.gz"

wheels="$cache/wheels/prefect-$version-$(printf 'cp%s-' "${python_versions[@]//./}")redis"
if [ ${#constraints[@]} -gt 0 ]; then
  wheels="$wheels-$(echo "${constraints[*]}" | sha256sum | cut -c1-8)"
fi
# CPython 3.13 for Debian 13 hosts (and the image), 3.11 for Debian 12 hosts: one
# wheelhouse, pip on each host picks the wheels of its own Python. Each download runs
# on a Python of its version: pip evaluates the requirements' markers (such as
# python_version < "3.13") with the interpreter it runs on. Debian 12 has 3.11.2, pyenv
# a later 3.11: what redis needs below 3.11.3 (async-timeout) is added by name.
if [ ! -f "$wheels/.complete" ]; then
  mkdir -p "$wheels"
  for python_version in "${python_versions[@]}"; do
    downloader=$python
    # The official Prefect 3 image carries prefect-redis (scale-out: messaging, ordering,
    # leases and the docket in Redis); the workers, which install prefect alone, do not
    # need it. Prefect 2 has no prefect-redis.
    extra=()
    if [ "$major" != 2 ] && [ "$python_version" = "$image_python" ]; then
      extra=("prefect-redis")
    elif [ "$major" != 2 ]; then
      extra=("async-timeout>=4.0.3")
    fi
    downloader=$python
    if [ "$python_version" != 3.13 ]; then
      downloader=
      for candidate in "$(pyenv root)/versions/$python_version".*/bin/python3; do
        if [ -x "$candidate" ]; then downloader=$candidate; fi
      done
      [ -n "$downloader" ] || { echo "no Python $python_version in pyenv to download its wheels with" >&2; exit 1; }
    fi
    # Prefect 2 on Python 3.11 needs pendulum 2, which has no wheel for it on PyPI:
    # built here, with this machine's Debian 12 (the image's base) toolchain, and found
    # by the download below (--find-links, the linux_x86_64 platform of a local build).
    if [ "$major" = 2 ]; then
      "$downloader" -m pip wheel --quiet --no-deps -w "$wheels" "pendulum>=2,<3" >&2
      extra+=("pendulum>=2,<3")
    fi
    echo "downloading prefect==$version wheels for CPython $python_version" >&2
    "$downloader" -m pip download --quiet --only-binary=:all: --find-links "$wheels" \
      --python-version "$python_version" --implementation cp --platform manylinux2014_x86_64 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_34_x86_64 --platform linux_x86_64 \
      -d "$wheels" "prefect==$version" "${constraints[@]}" ${extra[@]+"${extra[@]}"} >&2
  done
  touch "$wheels/.complete"
fi

if [ -s "$archive" ]; then
  echo "$wheels"
  echo "$archive"
  exit 0
fi

image_extra=prefect-redis
if [ "$major" = 2 ]; then image_extra=; fi
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
 && /opt/prefect-venv/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels "prefect==$version" $image_extra \
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
