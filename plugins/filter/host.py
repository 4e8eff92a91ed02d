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


def host_survey(lines):
    """What _common's survey printed, one fact a line ('<kind> <value>'), as a dict:
    ``packages`` (installed name -> version, from 'package <status> <name> [<version>]'),
    ``package_index`` (the index files under /var/lib/apt/lists), ``postgresql_clusters``
    ('17/main' for 'postgresql-cluster /etc/postgresql/17/main') and ``apt_files`` (path ->
    file name, for 'apt-file <path>'), ``postgresql_ports`` ('17/main' -> 5432, from
    'postgresql-port /var/lib/postgresql/17/main 5432', the port in a running cluster's
    postmaster.pid) and ``meminfo`` (the MemTotal line of /proc/meminfo, from 'memory
    MemTotal: ...') and ``units`` (unit -> {'active': ActiveState, 'enabled': UnitFileState}, from the
    'unit-Id', 'unit-ActiveState' and 'unit-UnitFileState' lines of `systemctl show`, in that
    unit's block) and ``containers`` (Compose project -> service -> state, from 'container
    <project> <service> <state>' of `docker ps`), ``images`` (the 'repository:tag' of each image,
    from 'image <repository>:<tag>' of `docker image ls`), ``accounts`` (user -> its uid, gid,
    comment, home and shell, from 'account <line of /etc/passwd>') and ``groups`` (group -> gid,
    from 'group <line of /etc/group>') and ``unit_files`` (the unit files in /etc/systemd/system,
    from 'unit-file <name>') and ``docker_engine`` (the version of the Docker engine that
    answered, '' when none did, from 'docker-engine <version>'). Lines of another kind are
    ignored."""
    survey = {'packages': {}, 'package_index': [], 'postgresql_clusters': [], 'apt_files': {},
              'postgresql_ports': {}, 'meminfo': '', 'units': {}, 'containers': {}, 'images': [],
              'accounts': {}, 'groups': {}, 'unit_files': [], 'docker_engine': ''}
    unit = None
    for line in lines or []:
        kind, _sep, value = line.partition(' ')
        if kind == 'package':
            fields = value.split()
            if len(fields) >= 2 and fields[0] == 'ii':
                survey['packages'][fields[1]] = fields[2] if len(fields) > 2 else ''
        elif kind == 'index' and value:
            survey['package_index'].append(value)
        elif kind == 'postgresql-cluster' and value.startswith('/etc/postgresql/'):
            survey['postgresql_clusters'].append(value[len('/etc/postgresql/'):].strip('/'))
        elif kind == 'apt-file' and value:
            survey['apt_files'][value] = os.path.basename(value)
        elif kind == 'postgresql-port':
            data_dir, _sep, port = value.rpartition(' ')
            if data_dir.startswith('/var/lib/postgresql/') and port.isdigit():
                survey['postgresql_ports'][data_dir[len('/var/lib/postgresql/'):].strip('/')] = int(port)
        elif kind == 'memory':
            survey['meminfo'] = value
        elif kind == 'container':
            fields = value.split()
            if len(fields) == 3:
                survey['containers'].setdefault(fields[0], {})[fields[1]] = fields[2]
        elif kind == 'unit-file' and value:
            survey['unit_files'].append(value)
        elif kind == 'docker-engine':
            survey['docker_engine'] = value.strip()
        elif kind == 'image' and value and '<none>' not in value:
            survey['images'].append(value)
        elif kind == 'account':
            fields = value.split(':')
            # '+' and '-' lines hand over to NIS: not local accounts.
            if len(fields) == 7 and fields[0] and fields[0][0] not in '+-':
                survey['accounts'][fields[0]] = dict(zip(('uid', 'gid', 'comment', 'home', 'shell'), fields[2:]))
        elif kind == 'group':
            fields = value.split(':')
            if len(fields) >= 3 and fields[0]:
                survey['groups'][fields[0]] = fields[2]
        elif kind == 'unit-Id' and value:
            unit = survey['units'].setdefault(value, {'active': '', 'enabled': ''})
        elif kind in ('unit-ActiveState', 'unit-UnitFileState') and unit is not None:
            unit['active' if kind == 'unit-ActiveState' else 'enabled'] = value
    survey['postgresql_clusters'].sort()
    survey['unit_files'] = sorted(set(survey['unit_files']))
    return survey


_ACTIVE = {'started': ('active',), 'stopped': ('inactive', 'failed')}


def units_to_change(names, units, state='started', enabled=True):
    """The systemd units among ``names`` ('docker' or 'docker.service') whose state, as
    host_survey's ``units`` saw it, is not ``state`` (started or stopped) and ``enabled``: the
    ones a systemd_service task has work for. Every name for another state (restarted,
    reloaded), and a unit the survey did not see (not installed, not loaded yet)."""
    wanted_enabled = ('enabled',) if enabled else ('disabled',)
    changes = []
    for name in names:
        seen = (units or {}).get(name if '.' in name else name + '.service')
        if not (seen and state in _ACTIVE and seen['active'] in _ACTIVE[state]
                and (enabled is None or seen['enabled'] in wanted_enabled)):
            changes.append(name)
    return changes


def services_not_running(services, containers, project):
    """The Compose services among ``services`` that host_survey's ``containers`` did not see
    running in ``project``."""
    running = (containers or {}).get(project, {})
    return [service for service in services if running.get(service) != 'running']


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


def image_present(images, name):
    """Whether ``name`` (as Docker takes it: 'prefecthq/prefect:3.9.1-python3.12', Docker Hub's
    docker.io/ and docker.io/library/ prefixes optional, the tag 'latest' when left out) is
    among ``images``, host_survey's list of the host's images ('repository:tag', as `docker
    image ls` names them). An image named by digest counts as missing: the caller asks Docker."""
    if '@' in name:
        return False
    last = name.rsplit('/', 1)[-1]
    if ':' not in last:
        name += ':latest'
    # Docker Hub's images are listed without its host, its official ones without library/.
    for prefix in ('docker.io/library/', 'docker.io/', 'index.docker.io/library/', 'index.docker.io/', 'library/'):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name in (images or [])


def account_converged(accounts, groups, user, group, home, shell, comment):
    """Whether the local account ``user`` exists as the user module would leave it: its primary
    group ``group`` (by gid, that group existing), ``home``, ``shell`` and ``comment``. From
    host_survey's ``accounts`` and ``groups`` (/etc/passwd and /etc/group): a user or group the
    files do not hold (a directory service's) counts as not converged, so the modules run."""
    account = (accounts or {}).get(user)
    gid = (groups or {}).get(group)
    return bool(account and gid is not None and account['gid'] == gid and account['home'] == home
                and account['shell'] == shell and account['comment'] == comment)


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
            'host_survey': host_survey,
            'version_in_text': version_in_text,
            'units_to_change': units_to_change,
            'services_not_running': services_not_running,
            'image_archive_to_ship': image_archive_to_ship,
            'image_present': image_present,
            'account_converged': account_converged,
        }
