# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs prefect_ops.prefect.worker_info through its main() against the fake Prefect API of conftest.py."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from ansible_collections.prefect_ops.prefect.plugins.modules import worker_info


def worker(name, status='ONLINE'):
    return dict(name=name, status=status, last_heartbeat_time='2026-12-05T10:00:00Z', work_pool_id='x')


@pytest.fixture
def run(run_module):
    return functools.partial(run_module, worker_info.main)


@pytest.fixture
def api(server):
    server.fake.pool_not_found_detail = 'Work pool "{name}" not found.'
    server.fake.add_pool('etl', type='process')
    server.args = dict(url=server.base_url)
    return server


def test_lists_every_worker_of_the_pool_sorted(run, api):
    api.fake.workers['etl'] = [worker('b-2', 'OFFLINE'), worker('a-1')]
    failed, result = run(work_pool='etl', **api.args)
    assert not failed, result
    assert [w['name'] for w in result['workers']] == ['a-1', 'b-2']
    assert result['online'] == ['a-1']
    assert result['missing'] == []
    assert result['pool_exists'] is True
    assert result['changed'] is False


def test_names_narrow_the_list_and_name_those_not_online(run, api):
    api.fake.workers['etl'] = [worker('a-1'), worker('b-1', 'OFFLINE'), worker('c-1')]
    failed, result = run(work_pool='etl', names=['b-1', 'c-1', 'd-1'], **api.args)
    assert not failed, result
    assert [w['name'] for w in result['workers']] == ['b-1', 'c-1']
    assert result['missing'] == ['b-1', 'd-1']


def test_reads_every_page(run, api):
    api.fake.workers['etl'] = [worker('w-%03d' % n) for n in range(450)]
    failed, result = run(work_pool='etl', **api.args)
    assert not failed, result
    assert len(result['workers']) == 450
    assert len(api.fake.calls('/api/work_pools/etl/workers/filter')) == 3


def test_a_missing_pool_has_no_workers(run, api):
    failed, result = run(work_pool='nightly', names=['x'], **api.args)
    assert not failed, result
    assert result['pool_exists'] is False
    assert result['missing'] == ['x']
    assert 'does not exist' in result['msg']


def test_waits_until_the_named_workers_are_online(run, api):
    def later(calls):
        return [worker('a-1'), worker('a-2', 'ONLINE' if calls >= 3 else 'OFFLINE')]
    api.fake.workers['etl'] = later
    failed, result = run(work_pool='etl', names=['a-1', 'a-2'], wait_for_online=True, interval=0.05, **api.args)
    assert not failed, result
    assert result['missing'] == []
    assert len(api.fake.calls('/api/work_pools/etl/workers/filter')) == 3


def test_waits_for_a_pool_that_its_workers_create(run, api):
    failed, result = run(work_pool='late', names=['a-1'], wait_for_online=True, interval=0.05, timeout=0.2,
                         **api.args)
    assert failed
    assert "a-1 never registered" in result['msg']
    assert len(api.fake.calls('/api/work_pools/late/workers/filter')) >= 2


def test_gives_up_naming_the_workers_missing_and_offline(run, api):
    api.fake.workers['etl'] = [worker('a-1', 'OFFLINE')]
    failed, result = run(work_pool='etl', names=['a-1', 'a-2'], wait_for_online=True, interval=0.05, timeout=0.2,
                         **api.args)
    assert failed
    assert 'a-2 never registered' in result['msg']
    assert 'a-1 is OFFLINE' in result['msg']
    assert result['missing'] == ['a-1', 'a-2']


def test_waiting_needs_names(run, api):
    failed, result = run(work_pool='etl', wait_for_online=True, **api.args)
    assert failed
    assert 'names' in result['msg']


def test_wrong_credentials_say_what_to_set(run, api):
    api.fake.auth_string = 'admin:right'
    failed, result = run(work_pool='etl', auth_string='admin:wrong', **api.args)
    assert failed
    assert 'did not let the module list the workers' in result['msg']
    assert 'Set auth_string to exactly the value of PREFECT_SERVER_API_AUTH_STRING' in result['msg']


def test_nothing_listening_says_so(run, closed_port):
    failed, result = run(work_pool='etl', url='http://127.0.0.1:%d' % closed_port)
    assert failed
    assert 'Nothing listens there' in result['msg']


@pytest.mark.parametrize('option', ['interval', 'request_timeout'])
def test_timing_options_must_be_positive(run, api, option):
    failed, result = run(work_pool='etl', **dict(api.args, **{option: 0}))
    assert failed
    assert result['msg'] == '%s must be greater than 0, got 0.0' % option


def test_runs_in_check_mode(run, api):
    api.fake.workers['etl'] = [worker('a-1')]
    failed, result = run(check_mode=True, work_pool='etl', names=['a-1'], wait_for_online=True, **api.args)
    assert not failed, result
    assert result['online'] == ['a-1']


class HealthEndpoint:
    """A worker's health check on 127.0.0.1: answers 503 to the first ``failures`` requests, then 200."""

    def __init__(self, failures=0):
        self.failures = failures
        self.requests = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                endpoint.requests += 1
                self.send_response(503 if endpoint.requests <= endpoint.failures else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d/health' % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def health():
    endpoints = []

    def make(failures=0):
        endpoints.append(HealthEndpoint(failures))
        return endpoints[-1]
    yield make
    for endpoint in endpoints:
        endpoint.close()


def test_health_urls_are_waited_for_before_the_pool_is_read(run, api, health):
    api.fake.workers['etl'] = [worker('a-1')]
    ready, late = health(), health(failures=2)
    failed, result = run(work_pool='etl', names=['a-1'], wait_for_online=True, interval=0.05,
                         health_urls=[ready.url, late.url], **api.args)
    assert not failed, result
    assert result['healthy'] == [ready.url, late.url]
    assert (ready.requests, late.requests) == (1, 3)
    assert result['online'] == ['a-1']


def test_health_urls_that_never_answer_are_named_with_their_answer(run, api, health, closed_port):
    api.fake.workers['etl'] = [worker('a-1')]
    ready, failing = health(), health(failures=1000)
    refused = 'http://127.0.0.1:%d/health' % closed_port
    failed, result = run(work_pool='etl', names=['a-1'], wait_for_online=True, interval=0.05, timeout=0.3,
                         health_urls=[ready.url, failing.url, refused], **api.args)
    assert failed
    assert '%s answered 503' % failing.url in result['msg']
    assert refused + ' answered' in result['msg']
    assert ready.url not in result['msg']
    assert result['healthy'] == [ready.url]
    # The pool is not read before the workers answer.
    assert api.fake.calls('/api/work_pools/etl/workers/filter') == []


def test_health_urls_are_asked_once_without_waiting(run, api, health):
    late = health(failures=1)
    failed, result = run(work_pool='etl', health_urls=[late.url], **api.args)
    assert failed
    assert late.requests == 1
    assert 'did not answer HTTP 200: %s answered 503' % late.url in result['msg']
