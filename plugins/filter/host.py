# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Filters about the managed host: its platform, its packages, versions printed by its tools."""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleFilterError

_VERSION = re.compile(r'\d+\.\d+(?:\.\d+)?')


def platform_release(facts):
    """The release a platform list names: Debian's major version, Ubuntu's full release."""
    if facts.get('distribution') == 'Debian':
        return str(facts.get('distribution_major_version', ''))
    return str(facts.get('distribution_version', ''))


def platform_supported(facts, platforms):
    """Whether the host's ``ansible_facts`` name a release listed in ``platforms`` ({distribution: [releases]})."""
    if not isinstance(platforms, dict):
        raise AnsibleFilterError('platform_supported expects a dict of distribution -> releases')
    return platform_release(facts) in [str(r) for r in platforms.get(facts.get('distribution'), [])]


def platforms_text(platforms):
    """'Debian 12/13 or Ubuntu 22.04/24.04', for messages."""
    return ' or '.join('%s %s' % (name, '/'.join(str(r) for r in releases)) for name, releases in platforms.items())


def dpkg_installed(lines):
    """Package names of the installed lines ('ii <name>') in dpkg-query output."""
    return [line.split()[-1] for line in lines if line.startswith('ii ')]


def version_in_text(text):
    """The first x.y[.z] in a tool's version output ('v2.26.1' -> '2.26.1'), or '0' when there is none."""
    found = _VERSION.search(text or '')
    return found.group(0) if found else '0'


def image_archive_to_ship(archive, shipped, images):
    """Whether the ``docker save`` archive at ``archive`` on the controller must be shipped and
    loaded: its image is missing on the host (``images``: docker_image_info's list), or the copy
    shipped before (``shipped``: the stat module's ``stat`` of it on the host) is missing or of
    another size. Sizes, not checksums: a checksum of the archive costs seconds on every run,
    and a rebuilt archive of the same image name differs in size."""
    if not images or not shipped or not shipped.get('exists'):
        return True
    try:
        return shipped.get('size') != os.path.getsize(archive)
    except OSError as e:
        raise AnsibleFilterError('image_archive_to_ship cannot read the archive %s: %s' % (archive, e))


def hosts_of(groups, names):
    """The hosts of the named inventory groups, each once, in inventory order; a group the
    inventory does not have adds none. Plays target optional groups (prefect_redis,
    prefect_worker...) through it: a host pattern naming a missing group makes Ansible warn
    on every run."""
    hosts = []
    for name in names:
        for host in (groups or {}).get(name, []):
            if host not in hosts:
                hosts.append(host)
    return hosts


class FilterModule:
    def filters(self):
        return {
            'hosts_of': hosts_of,
            'platform_supported': platform_supported,
            'platforms_text': platforms_text,
            'dpkg_installed': dpkg_installed,
            'version_in_text': version_in_text,
            'image_archive_to_ship': image_archive_to_ship,
        }
