# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.prefect_ops.prefect.plugins.filter import worker

COMMON = {'PREFECT_API_URL': 'http://api:4200/api', 'X': 'common'}


def test_workers_are_numbered_per_pool_with_consecutive_ports():
    model = worker.worker_processes_model(
        [{'pool': 'ETL jobs', 'count': 2}, {'pool': 'ml', 'limit': 3, 'queues': ['gpu']}, {'pool': 'ETL jobs'}],
        'w1', COMMON, 8080, {'X': 'host'})
    assert [w['id'] for w in model] == ['etl-jobs-1', 'etl-jobs-2', 'ml-1', 'etl-jobs-3']
    assert [w['port'] for w in model] == [8080, 8081, 8082, 8083]
    assert model[3]['health_url'] == 'http://127.0.0.1:8083/health'
    assert model[3]['env']['PREFECT_WORKER_WEBSERVER_PORT'] == '8083'
    assert [w['name'] for w in model] == ['w1-ETL jobs-1', 'w1-ETL jobs-2', 'w1-ml-1', 'w1-ETL jobs-3']
    assert model[0]['unit'] == 'prefect-worker-etl-jobs-1.service'
    assert model[0]['service'] == 'worker-etl-jobs-1'
    assert model[2]['limit'] == 3 and model[2]['queues'] == ['gpu']
    assert model[1]['env']['PREFECT_WORKER_WEBSERVER_PORT'] == '8081'
    assert model[1]['env']['X'] == 'host'


def test_an_entry_env_wins_over_the_host_env_and_the_common_env():
    model = worker.worker_processes_model([{'pool': 'p', 'env': {'X': 'entry'}}], 'h', COMMON, 9000, {'X': 'host'})
    assert model[0]['env']['X'] == 'entry'
    assert model[0]['env']['PREFECT_API_URL'] == COMMON['PREFECT_API_URL']


def test_a_pool_name_without_letters_or_digits_still_gives_a_unit_name():
    assert worker.worker_processes_model([{'pool': '***'}], 'h', {}, 1)[0]['id'] == 'pool-1'


def test_an_entry_without_pool_is_refused():
    with pytest.raises(AnsibleFilterError, match='needs a pool'):
        worker.worker_processes_model([{'count': 1}], 'h', {}, 1)


def test_served_flows_get_runner_ports_and_deployment_names():
    model = worker.served_flows_model(
        [{'name': 'nightly', 'entrypoint': 'report.py:nightly', 'args': ['--cron', 5]},
         {'name': 'loop', 'script': 'loop.py', 'deployment': 'dep'}], COMMON, 8180, 60)
    assert [m['port'] for m in model] == [8180, 8181]
    assert [m['health_url'] for m in model] == ['http://127.0.0.1:8180/health', 'http://127.0.0.1:8181/health']
    assert model[0]['deployment'] == 'nightly' and model[1]['deployment'] == 'dep'
    assert model[0]['args'] == ['--cron', '5']
    assert model[1]['env']['PREFECT_RUNNER_SERVER_PORT'] == '8181'
    assert model[1]['env']['PREFECT_RUNNER_SERVER_MISSED_POLLS_TOLERANCE'] == '60'


def test_worker_command_lines():
    w = worker.worker_processes_model([{'pool': 'etl', 'limit': 2, 'queues': ['a', 'b']}], 'h', {}, 1)[0]
    assert worker.worker_command(w, '/flows', '/venv/bin/') == [
        '/venv/bin/prefect', 'worker', 'start', '--pool', 'etl', '--name', 'h-etl-1', '--type', 'process',
        '--with-healthcheck', '--limit', '2', '--work-queue', 'a', '--work-queue', 'b']
    served = worker.served_flows_model([{'name': 'n', 'entrypoint': 'f.py:g'}, {'name': 's', 'script': 's.py'}],
                                       {}, 1, 2)
    assert worker.worker_command(served[0], '/flows') == ['prefect', 'flow', 'serve', 'f.py:g', '--name', 'n']
    assert worker.worker_command(served[1], '/flows/', '/venv/bin') == ['/venv/bin/python', '/flows/s.py']


def test_worker_command_lines_through_the_drain_launcher():
    drain = {'launcher': '/opt/w/prefect_ops_drain.py', 'timeout': 600, 'grace': 30}
    launcher = ['/opt/w/prefect_ops_drain.py', '--timeout', '600', '--grace', '30', '--']
    w = worker.worker_processes_model([{'pool': 'etl'}], 'h', {}, 1)[0]
    assert worker.worker_command(w, '/flows', '/venv/bin', drain) == ['/venv/bin/python'] + launcher + [
        'prefect', 'worker', 'start', '--pool', 'etl', '--name', 'h-etl-1', '--type', 'process', '--with-healthcheck']
    served = worker.served_flows_model([{'name': 'n', 'entrypoint': 'f.py:g'}, {'name': 's', 'script': 's.py'}],
                                       {}, 1, 2)
    assert worker.worker_command(served[0], '/flows', '', drain) == ['python'] + launcher + [
        'prefect', 'flow', 'serve', 'f.py:g', '--name', 'n']
    assert worker.worker_command(served[1], '/flows', '', drain) == ['python'] + launcher + ['python', '/flows/s.py']


def test_stale_units_are_those_the_model_does_not_use():
    model = worker.worker_processes_model([{'pool': 'etl'}], 'h', {}, 1)
    present = ['/etc/systemd/system/prefect-worker-etl-1.service', '/etc/systemd/system/prefect-serve-old.service']
    assert worker.stale_units(present, model) == ['prefect-serve-old.service']
    assert worker.stale_units(present, []) == ['prefect-serve-old.service', 'prefect-worker-etl-1.service']


def test_common_env_under_systemd_has_prefect_home_and_the_virtualenv_first_on_path():
    env = worker.worker_common_env('http://api:4200/api', 1, 10, 'systemd', '/var/lib/w', '/opt/w/venv')
    assert env['PREFECT_API_URL'] == 'http://api:4200/api'
    assert env['PREFECT_WORKER_QUERY_SECONDS'] == env['PREFECT_RUNNER_POLL_FREQUENCY'] == '1'
    assert env['PREFECT_WORKER_PREFETCH_SECONDS'] == '10'
    assert env['PREFECT_HOME'] == '/var/lib/w'
    assert env['PATH'].startswith('/opt/w/venv/bin:')
    assert 'PREFECT_API_SSL_CERT_FILE' not in env and 'PREFECT_API_TLS_INSECURE_SKIP_VERIFY' not in env
    assert 'PREFECT_FLOWS_HEARTBEAT_FREQUENCY' not in env


def test_common_env_sets_the_heartbeat_of_the_flow_runs():
    env = worker.worker_common_env('http://api:4200/api', 1, 10, 'systemd', '/h', '/v', '', True, 30)
    assert env['PREFECT_FLOWS_HEARTBEAT_FREQUENCY'] == '30'


def test_common_env_under_compose_leaves_home_and_path_to_the_image_and_passes_tls_settings():
    env = worker.worker_common_env('https://api/api', 2, 0, 'compose', '/h', '/v', '/etc/ca.pem', False)
    assert 'PREFECT_HOME' not in env and 'PATH' not in env
    assert env['PREFECT_API_SSL_CERT_FILE'] == '/etc/ca.pem'
    assert env['PREFECT_API_TLS_INSECURE_SKIP_VERIFY'] == 'true'


def test_pip_source_args_prefer_the_local_wheels_over_any_index():
    assert worker.pip_source_args('/opt/w/wheels', 'https://idx', 'https://extra', '/opt/w/ca.pem') == [
        '--no-index', '--find-links', '/opt/w/wheels', '--cert', '/opt/w/ca.pem']
    assert worker.pip_source_args('', 'https://idx', 'https://extra') == [
        '--index-url', 'https://idx', '--extra-index-url', 'https://extra']
    assert worker.pip_source_args() == []


def test_units_to_restart_are_the_changed_ones_or_all():
    units = ['prefect-worker-a.service', 'prefect-worker-b.service']
    changed = ['/etc/prefect-worker/secrets.env', '/etc/systemd/system/prefect-worker-b.service']
    assert worker.units_to_restart(units, changed, '/etc/systemd/system', False) == ['prefect-worker-b.service']
    assert worker.units_to_restart(units, changed, '/etc/systemd/system/', False) == ['prefect-worker-b.service']
    assert worker.units_to_restart(units, [], '/etc/systemd/system', False) == []
    assert worker.units_to_restart(units, [], '/etc/systemd/system', True) == units


def test_worker_host_state_reads_the_compose_project_the_python_and_the_distributions():
    lines = ['compose', 'venv-python', 'dist prefect-3.9.1.dist-info', 'dist typing_extensions-4.16.0.dist-info',
             'dist Jinja2-3.1.6.dist-info', 'dist broken.dist-info', 'dist pip-25.1.1.dist-info', 'other line', '']
    assert worker.worker_host_state(lines) == {
        'compose': True, 'venv_python': True,
        'distributions': {'prefect': '3.9.1', 'typing-extensions': '4.16.0', 'jinja2': '3.1.6', 'pip': '25.1.1'},
    }
    assert worker.worker_host_state([]) == {'compose': False, 'venv_python': False, 'distributions': {}}


@pytest.mark.parametrize('requirements, met', [
    (['prefect==3.9.1'], True),
    (['prefect==3.9.1', 'typing_extensions>=4', 'Jinja2', 'jinja2<4,>=3.1'], True),
    (['prefect[redis]==3.9.1'], True),
    (['prefect==3.9.2'], False),
    (['prefect==3.9.1', 'pandas'], False),
    (['pandas @ https://example.com/pandas.whl'], False),
    (["prefect==3.9.1; python_version >= '3.9'"], False),
    (['not a requirement ==='], False),
    (['rc-thing>=1'], True),
    ([], True),
])
def test_requirements_met_as_the_pip_modules_check_would_find(requirements, met):
    installed = {'prefect': '3.9.1', 'typing-extensions': '4.16.0', 'jinja2': '3.1.6', 'rc-thing': '2.0rc1'}
    assert worker.requirements_met(installed, requirements) is met
