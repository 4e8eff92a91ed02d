# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

from ansible_collections.prefect_ops.prefect.plugins.filter import checks, host


def test_invalid_addresses():
    assert checks.invalid_addresses(['0.0.0.0', '127.0.0.1', '::', '[::1]', 'fd00::5']) == []
    assert checks.invalid_addresses('0.0.0.0.0') == ['0.0.0.0.0']
    assert checks.invalid_addresses(['localhost', '10.0.0.256', '']) == ['localhost', '10.0.0.256', '']


def test_invalid_networks():
    assert checks.invalid_networks(['172.30.42.0/24', 'fd00::/64']) == []
    assert checks.invalid_networks(['10.0.0.1']) == ['10.0.0.1']
    assert checks.invalid_networks(['10.0.0.1', 'db.example.com'], True) == ['db.example.com']
    assert checks.invalid_networks('172.30.42.0/33') == ['172.30.42.0/33']


def test_invalid_listen_addresses():
    assert checks.invalid_listen_addresses('*') == []
    assert checks.invalid_listen_addresses('localhost, 10.0.0.5,::1') == []
    assert checks.invalid_listen_addresses('10.0.0.5;drop') == ['10.0.0.5;drop']


def test_invalid_env_names():
    assert checks.invalid_env_names(['HTTP_PROXY', '_X', 'x1']) == []
    assert checks.invalid_env_names(['1X', 'A-B', 'A B']) == ['1X', 'A-B', 'A B']


def test_pool_name_problems_name_only_the_rejected_names():
    problems = checks.pool_name_problems(['etl', 'etl/nightly', 'Prefect-pool', ' "" '])
    assert sorted(problems) == [' "" ', 'Prefect-pool', 'etl/nightly']
    assert "'/'" in problems['etl/nightly']
    assert 'reserves' in problems['Prefect-pool']


def test_spec_options_leave_secrets_out():
    spec = {'argument_specs': {'main': {'options': {'b': {'type': 'str'}, 'a_password': {'no_log': True},
                                                    'a': {}}}}}
    assert checks.spec_options(spec) == ['a', 'b']
    assert checks.spec_options(spec, with_secrets=True) == ['a', 'a_password', 'b']


def test_platform_filters():
    platforms = {'Debian': ['12', '13'], 'Ubuntu': ['22.04', '24.04']}
    assert host.platform_supported({'distribution': 'Debian', 'distribution_major_version': '13'}, platforms)
    assert not host.platform_supported({'distribution': 'Debian', 'distribution_major_version': '11'}, platforms)
    assert host.platform_supported({'distribution': 'Ubuntu', 'distribution_version': '24.04'}, platforms)
    assert not host.platform_supported({'distribution': 'Ubuntu', 'distribution_version': '20.04'}, platforms)
    assert not host.platform_supported({'distribution': 'Alpine'}, platforms)
    assert host.platforms_text(platforms) == 'Debian 12/13 or Ubuntu 22.04/24.04'


def test_host_survey_reads_each_kind_of_line():
    lines = [
        'package ii  python3-apt 3.0.0',
        'package rc  old-thing 1.0',
        'package ii  docker.io 26.1.5+dfsg1-9+b9',
        'package un  never-installed',
        'package ii  no-version',
        'index deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages.lz4',
        'postgresql-cluster /etc/postgresql/17/main',
        'postgresql-cluster /etc/postgresql/15/other/',
        'apt-file /etc/apt/sources.list.d/docker.list',
        'apt-file /etc/apt/keyrings/docker.asc',
        'find: /etc/apt/keyrings: No such file or directory',
        'postgresql-port /var/lib/postgresql/17/main 5433',
        'postgresql-port /var/lib/postgresql/15/other ',
        'memory MemTotal:        4019404 kB',
        'unit-Id docker.service',
        'unit-ActiveState active',
        'unit-UnitFileState enabled',
        'unit-Id postgresql@17-main.service',
        'unit-ActiveState failed',
        'unit-UnitFileState ',
        'container prefect server running',
        'container prefect migrate exited',
        'container prefect-worker worker-1 running',
        'container  broken',
        'image prefecthq/prefect:3.9.1-python3.12',
        'image <none>:<none>',
        'account root:x:0:0:root:/root:/bin/bash',
        'account prefect-worker:x:998:996:Prefect workers:/var/lib/prefect-worker:/usr/sbin/nologin',
        'account +::::::',
        'account broken:x:1',
        'group prefect-worker:x:996:',
        'group docker:x:995:alice,bob',
        'group :x:1:',
        'unit-file prefect-worker-etl-1.service',
        'unit-file prefect-serve-report.service',
        'unit-file prefect-worker-etl-1.service',
        'unit-file ',
        'docker-engine 26.1.5+dfsg1',
        '',
    ]
    assert host.host_survey(lines) == {
        'packages': {'python3-apt': '3.0.0', 'docker.io': '26.1.5+dfsg1-9+b9', 'no-version': ''},
        'package_index': ['deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages.lz4'],
        'postgresql_clusters': ['15/other', '17/main'],
        'apt_files': {'/etc/apt/sources.list.d/docker.list': 'docker.list', '/etc/apt/keyrings/docker.asc': 'docker.asc'},
        'postgresql_ports': {'17/main': 5433},
        'meminfo': 'MemTotal:        4019404 kB',
        'units': {
            'docker.service': {'active': 'active', 'enabled': 'enabled'},
            'postgresql@17-main.service': {'active': 'failed', 'enabled': ''},
        },
        'containers': {'prefect': {'server': 'running', 'migrate': 'exited'}, 'prefect-worker': {'worker-1': 'running'}},
        'images': ['prefecthq/prefect:3.9.1-python3.12'],
        'accounts': {
            'root': {'uid': '0', 'gid': '0', 'comment': 'root', 'home': '/root', 'shell': '/bin/bash'},
            'prefect-worker': {'uid': '998', 'gid': '996', 'comment': 'Prefect workers', 'home': '/var/lib/prefect-worker',
                               'shell': '/usr/sbin/nologin'},
        },
        'groups': {'prefect-worker': '996', 'docker': '995'},
        'unit_files': ['prefect-serve-report.service', 'prefect-worker-etl-1.service'],
        'docker_engine': '26.1.5+dfsg1',
    }


def test_host_survey_of_a_bare_host_is_empty():
    assert host.host_survey([]) == {
        'packages': {}, 'package_index': [], 'postgresql_clusters': [], 'apt_files': {}, 'postgresql_ports': {}, 'meminfo': '',
        'units': {}, 'containers': {}, 'images': [], 'accounts': {}, 'groups': {}, 'unit_files': [], 'docker_engine': '',
    }


def test_image_present_names_an_image_as_docker_image_ls_lists_it():
    images = ['prefecthq/prefect:3.9.1-python3.12', 'postgres:17', 'registry.example.com:5000/team/prefect:3.9.1',
              'busybox:latest']
    assert host.image_present(images, 'prefecthq/prefect:3.9.1-python3.12')
    assert host.image_present(images, 'docker.io/prefecthq/prefect:3.9.1-python3.12')
    assert host.image_present(images, 'docker.io/library/postgres:17')
    assert host.image_present(images, 'library/postgres:17')
    assert host.image_present(images, 'registry.example.com:5000/team/prefect:3.9.1')
    assert host.image_present(images, 'busybox')
    assert not host.image_present(images, 'prefecthq/prefect:3.9.2-python3.12')
    assert not host.image_present(images, 'registry.example.com:5000/team/prefect')
    # By digest: not what `docker image ls` lists, so Docker is asked.
    assert not host.image_present(images, 'postgres@sha256:' + 'a' * 64)
    assert not host.image_present([], 'postgres:17')


def test_account_converged_only_when_the_user_is_as_the_user_module_leaves_it():
    accounts = {'prefect-worker': {'uid': '998', 'gid': '996', 'comment': 'Prefect workers',
                                   'home': '/var/lib/prefect-worker', 'shell': '/usr/sbin/nologin'}}
    groups = {'prefect-worker': '996', 'other': '42'}
    wanted = dict(user='prefect-worker', group='prefect-worker', home='/var/lib/prefect-worker',
                  shell='/usr/sbin/nologin', comment='Prefect workers')
    assert host.account_converged(accounts, groups, **wanted)
    for key, value in [('group', 'other'), ('group', 'missing'), ('home', '/home/x'), ('shell', '/bin/sh'),
                       ('comment', ''), ('user', 'someone-else')]:
        assert not host.account_converged(accounts, groups, **dict(wanted, **{key: value})), key
    assert not host.account_converged({}, {}, **wanted)


def test_units_to_change_names_only_the_units_not_in_the_wanted_state():
    units = {
        'docker.service': {'active': 'active', 'enabled': 'enabled'},
        'postgresql.service': {'active': 'active', 'enabled': 'disabled'},
        'postgresql@17-main.service': {'active': 'failed', 'enabled': 'enabled'},
        'redis-server.service': {'active': 'inactive', 'enabled': 'disabled'},
    }
    assert host.units_to_change(['docker', 'postgresql', 'postgresql@17-main', 'caddy'], units) == [
        'postgresql', 'postgresql@17-main', 'caddy']
    assert host.units_to_change(['docker.service'], units) == []
    assert host.units_to_change(['redis-server', 'postgresql@17-main'], units, 'stopped', False) == ['postgresql@17-main']
    # A restart is always work; so is a state the survey cannot tell.
    assert host.units_to_change(['docker'], units, 'restarted') == ['docker']
    assert host.units_to_change(['docker'], {}, 'started') == ['docker']


def test_services_not_running_names_the_services_without_a_running_container():
    containers = {'prefect': {'server': 'running', 'services': 'exited'}, 'other': {'server': 'running'}}
    assert host.services_not_running(['server'], containers, 'prefect') == []
    assert host.services_not_running(['server', 'services'], containers, 'prefect') == ['services']
    assert host.services_not_running(['server'], containers, 'prefect-2') == ['server']
    assert host.services_not_running(['server'], {}, 'prefect') == ['server']


def test_version_in_text():
    assert host.version_in_text('v2.26.1') == '2.26.1'
    assert host.version_in_text('Docker Compose version 2.18') == '2.18'
    assert host.version_in_text('') == '0'


def test_worker_process_problems_name_the_first_problem_of_each_wrong_entry_only():
    problems = checks.worker_process_problems([
        {'pool': 'ok', 'count': 2, 'limit': 1},
        {'count': 1},
        {'pool': 'etl', 'count': 0},
        {'pool': 'etl', 'count': 'two'},
        {'pool': 'etl', 'limit': 0},
        {'pool': 'etl/nightly'},
        {'pool': 'Prefect-internal'},
        'etl',
    ])
    assert problems[0] == 'worker_processes entry {"count": 1}: each entry needs a pool (a work pool name).'
    assert problems[1] == ('worker_processes entry {"pool": "etl", "count": 0}: count must be a whole number of '
                           'workers, 1 or more (got 0); remove the entry to run no workers.')
    assert 'count must be a whole number of workers, 1 or more (got two)' in problems[2]
    assert 'limit must be 1 or more concurrent flow runs per worker (got 0)' in problems[3]
    assert "the pool name 'etl/nightly' is one the Prefect API rejects: it contains '/'" in problems[4]
    assert "starts with 'prefect'" in problems[5]
    assert 'each entry must be a dictionary with a pool' in problems[6]
    assert len(problems) == 7
    assert checks.worker_process_problems([{'pool': 'etl'}, {'pool': 'ml', 'count': '3', 'limit': 2}]) == []


def test_image_archive_to_ship(tmp_path):
    archive = tmp_path / 'prefect.tar.gz'
    archive.write_bytes(b'x' * 10)
    image = [{'Id': 'sha256:abc'}]
    shipped = {'exists': True, 'size': 10}
    assert host.image_archive_to_ship(str(archive), shipped, image) is False
    assert host.image_archive_to_ship(str(archive), shipped, []) is True  # image removed from the host
    assert host.image_archive_to_ship(str(archive), {'exists': False}, image) is True  # never shipped
    assert host.image_archive_to_ship(str(archive), {'exists': True, 'size': 9}, image) is True  # rebuilt archive
    try:
        host.image_archive_to_ship(str(tmp_path / 'missing'), shipped, image)
    except Exception as e:  # AnsibleFilterError, naming the archive
        assert 'missing' in str(e)
    else:
        raise AssertionError('a missing archive must fail')


def test_below_minimum_names_only_the_settings_below_their_minimum():
    settings = {'worker_query_seconds': [0, 1], 'worker_prefetch_seconds': [10, 0], 'rate': ['fast', 0],
                'worker_pool_polls_per_second': ['0.5', 0]}
    assert checks.below_minimum(settings) == [
        'rate must be at least 0 (got "fast").',
        'worker_query_seconds must be at least 1 (got 0).',
    ]
    assert checks.below_minimum({}) == []
