# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs prefect_ops.prefect.api_health through its main() against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import functools
import json
import time

import pytest

from ansible_collections.prefect_ops.prefect.plugins.modules import api_health

RESULT_KEYS = {'changed', 'status', 'url', 'healthy', 'database_ready', 'server_version', 'api_version',
               'waited', 'attempts', 'last_error'}


@pytest.fixture
def run(run_module):
    """Run api_health with the given arguments; return (failed, result)."""
    return functools.partial(run_module, api_health.main)


def basic(auth_string):
    return 'Basic ' + base64.b64encode(auth_string.encode()).decode()


def test_ready_at_once(run, server):
    failed, result = run(url=server.base_url)
    assert not failed, result
    assert RESULT_KEYS <= set(result)
    assert result['changed'] is False
    assert result['status'] == 'ready'
    assert result['url'] == server.base_url + '/api'
    assert result['healthy'] is True
    assert result['database_ready'] is True
    assert result['server_version'] == '3.9.1'
    assert result['api_version'] == '0.8.4'
    assert result['attempts'] == 1
    assert result['last_error'] is None
    assert isinstance(result['waited'], float) and 0 <= result['waited'] < 5
    paths = [(r['method'], r['path']) for r in server.fake.requests]
    assert paths == [('GET', '/api/health'), ('GET', '/api/ready'),
                     ('GET', '/api/admin/version'), ('GET', '/api/version')]
    assert 'authorization' not in server.fake.requests[0]['headers']
    assert server.fake.requests[0]['headers']['user-agent'].startswith('ansible-prefect_ops.prefect')


@pytest.mark.parametrize('suffix', ['', '/', '/api', '/api/', '//api//'])
def test_url_with_or_without_api(run, server, suffix):
    failed, result = run(url=server.base_url + suffix)
    assert not failed, result
    assert result['url'] == server.base_url + '/api'
    assert {r['path'] for r in server.fake.requests} == {
        '/api/health', '/api/ready', '/api/admin/version', '/api/version'}


def test_ready_after_503(run, server):
    server.fake.ready_after = 3
    failed, result = run(url=server.base_url, interval=0.05, timeout=10)
    assert not failed, result
    assert result['status'] == 'ready'
    assert result['attempts'] == 4
    assert result['database_ready'] is True
    assert len(server.fake.calls('/api/ready')) == 4
    assert len(server.fake.calls('/api/health')) == 4
    assert '503' in result['last_error']
    assert 'Database is not available' in result['last_error']
    assert result['waited'] >= 3 * 0.05


def test_database_never_ready(run, server):
    server.fake.ready_after = float('inf')
    started = time.monotonic()
    failed, result = run(url=server.base_url, interval=0.05, timeout=0.5)
    assert failed
    assert time.monotonic() - started < 5
    assert result['status'] == 'database_not_ready'
    assert result['healthy'] is True
    assert result['database_ready'] is False
    assert result['attempts'] >= 2
    assert result['attempts'] == server.fake.ready_calls
    assert result['waited'] >= 0.5
    assert result['server_version'] is None
    assert 'database is not ready' in result['msg']
    assert 'PostgreSQL' in result['msg']
    assert 'HTTP 503' in result['msg']
    assert 'timeout=0.5' in result['msg']
    # The version needs the database to be ready first: not asked.
    assert not server.fake.calls('/api/admin/version')


def test_wait_for_ready_false_reports_database(run, server):
    server.fake.ready_after = float('inf')
    failed, result = run(url=server.base_url, wait_for_ready=False, timeout=5)
    assert not failed, result
    assert result['status'] == 'healthy'
    assert result['healthy'] is True
    assert result['database_ready'] is False
    assert result['attempts'] == 1
    assert result['server_version'] == '3.9.1'
    assert '503' in result['last_error']


def test_auth_missing(run, server):
    server.fake.auth_string = 'admin:s3cret'
    failed, result = run(url=server.base_url)
    assert failed
    assert result['status'] == 'unauthorized'
    assert 'requires authentication' in result['msg']
    assert 'set auth_string' in result['msg']
    assert '401' in result['msg']
    # health and ready are open, the version is not; no waiting for something that cannot change.
    assert result['healthy'] is True and result['database_ready'] is True
    assert result['attempts'] == 1
    assert [r['path'] for r in server.fake.requests][-1] == '/api/admin/version'


def test_auth_wrong(run, server):
    server.fake.auth_string = 'admin:s3cret'
    failed, result = run(url=server.base_url, auth_string='admin:wrong-secret')
    assert failed
    assert result['status'] == 'unauthorized'
    assert 'rejected the credentials' in result['msg']
    assert 'PREFECT_SERVER_API_AUTH_STRING' in result['msg']
    # no_log: the value never shows up in the result.
    assert 'wrong-secret' not in json.dumps(result)
    assert server.fake.requests[-1]['headers']['authorization'] == basic('admin:wrong-secret')


@pytest.mark.parametrize('auth_string', ['admin:s3cret', 'admin:pa:ss@w/rd%"x'])
def test_auth_right(run, server, auth_string):
    server.fake.auth_string = auth_string
    failed, result = run(url=server.base_url, auth_string=auth_string)
    assert not failed, result
    assert result['status'] == 'ready'
    assert result['server_version'] == '3.9.1'
    assert result['api_version'] == '0.8.4'
    for request in server.fake.requests:
        assert request['headers']['authorization'] == basic(auth_string)


def test_auth_on_health_from_a_proxy(run, server):
    server.fake.force_status = 401
    failed, result = run(url=server.base_url, timeout=5)
    assert failed
    assert result['status'] == 'unauthorized'
    assert result['attempts'] == 1
    assert result['healthy'] is False


@pytest.mark.parametrize('expected', ['3.8.0', '3.9.10', '3.9.1.1', '4'])
def test_wrong_version(run, server, expected):
    failed, result = run(url=server.base_url, expected_version=expected)
    assert failed
    assert result['status'] == 'version_mismatch'
    assert 'runs version 3.9.1, expected %s' % expected in result['msg']
    assert result['server_version'] == '3.9.1'
    assert result['healthy'] is True and result['database_ready'] is True


@pytest.mark.parametrize('expected', ['3.9.1', 'v3.9.1', ' 3.9.1 ', '3.9', '3'])
def test_matching_version(run, server, expected):
    failed, result = run(url=server.base_url, expected_version=expected)
    assert not failed, result
    assert result['server_version'] == '3.9.1'


def test_connection_refused(run, closed_port):
    started = time.monotonic()
    failed, result = run(url='http://127.0.0.1:%d' % closed_port, timeout=0.5, interval=0.05)
    assert failed
    assert time.monotonic() - started < 5
    assert result['status'] == 'unreachable'
    assert result['healthy'] is False and result['database_ready'] is False
    assert result['attempts'] >= 2
    assert result['waited'] >= 0.5
    assert 'connection refused' in result['msg']
    assert 'port is not published' in result['msg']
    assert 'Gave up after' in result['msg']
    assert 'connection refused' in result['last_error']


def test_connection_refused_timeout_zero_tries_once(run, closed_port):
    failed, result = run(url='http://127.0.0.1:%d/api' % closed_port, timeout=0)
    assert failed
    assert result['status'] == 'unreachable'
    assert result['attempts'] == 1


def test_health_hangs_longer_than_request_timeout(run, server):
    server.fake.health_delay = 10
    started = time.monotonic()
    failed, result = run(url=server.base_url, request_timeout=0.3, timeout=1, interval=0.05)
    elapsed = time.monotonic() - started
    assert failed
    # Each request gives up after request_timeout, not after the 10 s the server hangs.
    assert elapsed < 5
    assert result['status'] == 'timeout'
    assert result['healthy'] is False
    assert result['attempts'] >= 2
    assert 'Gave up waiting for the Prefect API' in result['msg']
    assert 'request_timeout' in result['msg']
    assert 'no answer' in result['last_error']


def test_server_errors_until_timeout(run, server):
    server.fake.force_status = 502
    failed, result = run(url=server.base_url, timeout=0.3, interval=0.1)
    assert failed
    assert result['status'] == 'timeout'
    assert 'HTTP 502' in result['msg']
    assert 'proxy' in result['msg']


def test_wrong_path_prefix(run, server):
    server.fake.force_status = 404
    failed, result = run(url=server.base_url + '/prefect', timeout=0.2, interval=0.1)
    assert failed
    assert result['url'] == server.base_url + '/prefect/api'
    assert result['status'] == 'timeout'
    assert 'HTTP 404' in result['msg']
    assert 'ends in /api' in result['msg']


def test_not_a_prefect_api(run, server):
    server.fake.health_body = b'<!doctype html><title>Something else</title>'
    server.fake.health_content_type = 'text/html'
    failed, result = run(url=server.base_url, timeout=5)
    assert failed
    assert result['status'] == 'not_prefect'
    assert result['attempts'] == 1
    assert 'does not answer like a Prefect API' in result['msg']


def test_check_mode_same_result(run, server):
    server.fake.ready_after = 1
    failed, normal = run(url=server.base_url, interval=0.01)
    assert not failed
    server.fake.ready_calls = 0
    failed, checked = run(check_mode=True, url=server.base_url, interval=0.01)
    assert not failed
    assert checked['changed'] is False
    for key in RESULT_KEYS - {'waited'}:
        assert checked[key] == normal[key], key


def test_check_mode_failure_is_the_same(run, closed_port):
    failed, result = run(check_mode=True, url='http://127.0.0.1:%d' % closed_port, timeout=0)
    assert failed
    assert result['status'] == 'unreachable'
    assert result['changed'] is False


def test_tls_untrusted_certificate(run, tls_server):
    failed, result = run(url=tls_server.base_url, timeout=5)
    assert failed
    assert result['status'] == 'tls_error'
    assert result['attempts'] == 1
    assert 'ca_path' in result['msg']


def test_tls_with_ca_path(run, tls_server, tls_cert):
    failed, result = run(url=tls_server.base_url, ca_path=tls_cert['cert'])
    assert not failed, result
    assert result['url'] == tls_server.base_url + '/api'
    assert result['status'] == 'ready'


def test_tls_without_validation(run, tls_server):
    failed, result = run(url=tls_server.base_url, validate_certs=False)
    assert not failed, result
    assert result['status'] == 'ready'


@pytest.mark.parametrize('url, message', [
    ('ftp://127.0.0.1/api', 'is not an http:// or https:// URL'),
    ('127.0.0.1:4200', 'is not an http:// or https:// URL'),
    ('http://admin:secret@127.0.0.1:4200', 'must not contain credentials'),
    ('http:///api', 'has no host name'),
    ('http://127.0.0.1:4200/api?x=1', 'query string'),
])
def test_bad_url(run, url, message):
    failed, result = run(url=url)
    assert failed
    assert message in result['msg']


@pytest.mark.parametrize('args, message', [
    (dict(interval=0), 'interval must be greater than 0'),
    (dict(request_timeout=-1), 'request_timeout must be greater than 0'),
    (dict(timeout=-1), 'timeout must be at least 0'),
    (dict(expected_version=' '), 'expected_version must not be empty'),
])
def test_bad_numbers(run, args, message):
    failed, result = run(url='http://127.0.0.1:1', **args)
    assert failed
    assert message in result['msg']


def test_url_is_required(run):
    failed, result = run()
    assert failed
    assert 'url' in result['msg']


@pytest.mark.parametrize('actual, expected, matches', [
    ('3.9.1', '3.9.1', True),
    ('3.9.1', '3.9', True),
    ('3.9.10', '3.9.1', False),
    ('3.9.1', '3.9.1.dev1', False),
    ('3.9.1', 'V3.9.1', True),
])
def test_version_matches(actual, expected, matches):
    assert api_health.version_matches(actual, expected) is matches
