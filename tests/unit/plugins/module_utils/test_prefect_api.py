# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The shared Prefect API client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time

import pytest

from ansible_collections.prefect_ops.prefect.plugins.module_utils import prefect_api
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiClient,
    PrefectApiError,
    PrefectAuthError,
    PrefectConnectionError,
    PrefectHTTPError,
    PrefectNotFoundError,
    PrefectResponseError,
    PrefectTimeoutError,
    PrefectTLSError,
    normalize_api_url,
    quote_path_segment,
)


@pytest.mark.parametrize('url', [
    'http://h:4200', 'http://h:4200/', 'http://h:4200/api', 'http://h:4200/api/', ' http://h:4200/api ',
])
def test_normalize_api_url(url):
    assert normalize_api_url(url) == 'http://h:4200/api'


def test_normalize_api_url_keeps_prefix():
    assert normalize_api_url('https://example.com/prefect') == 'https://example.com/prefect/api'
    assert normalize_api_url('https://example.com/prefect/api/') == 'https://example.com/prefect/api'


@pytest.mark.parametrize('url', ['', None, 'h:4200', 'file:///etc/passwd', 'http://u:p@h/api', 'http://h/api#x'])
def test_normalize_api_url_rejects(url):
    with pytest.raises(ValueError):
        normalize_api_url(url)


def test_quote_path_segment():
    assert quote_path_segment('my pool/ä') == 'my%20pool%2F%C3%A4'


def test_get_json(server):
    client = PrefectApiClient(server.base_url)
    assert client.api_url == server.base_url + '/api'
    assert client.get('/health') is True
    assert client.get('admin/version') == '3.9.1'
    assert client.get('/version') == '0.8.4'
    response = client.request('GET', '/ready')
    assert response.status == 200
    assert response.json() == {'message': 'OK'}
    assert response.headers['content-type'] == 'application/json'


def test_request_headers_and_body(server):
    client = PrefectApiClient(server.base_url + '/api/', auth_string='admin:pa:ss', user_agent='test-agent/1')
    echo = client.post('/echo', {'name': 'pool', 'n': [1, 2]}, params={'a': 'b c', 'list': ['x', 'y']})
    assert echo['method'] == 'POST'
    assert json.loads(echo['body']) == {'name': 'pool', 'n': [1, 2]}
    assert echo['query'] == {'a': ['b c'], 'list': ['x', 'y']}
    headers = echo['headers']
    assert headers['content-type'] == 'application/json'
    assert headers['accept'] == 'application/json'
    assert headers['user-agent'] == 'test-agent/1'
    assert headers['authorization'] == 'Basic ' + base64.b64encode(b'admin:pa:ss').decode()

    for method in ('patch', 'put'):
        echo = getattr(client, method)('/echo', {'x': 1})
        assert echo['method'] == method.upper()
        assert json.loads(echo['body']) == {'x': 1}
    echo = client.delete('/echo')
    assert echo['method'] == 'DELETE'
    assert echo['body'] == ''
    assert 'content-type' not in echo['headers']


def test_no_auth_header_without_auth_string(server):
    echo = PrefectApiClient(server.base_url, auth_string='').get('/echo')
    assert 'authorization' not in echo['headers']


def test_work_pool_round_trip(server):
    """GET / POST / PATCH / DELETE as the work_pool module uses them."""
    client = PrefectApiClient(server.base_url)
    path = '/work_pools/' + quote_path_segment('my pool')
    assert client.get_or_none(path) is None

    created = client.post('/work_pools/', {'name': 'my pool', 'type': 'process'})
    assert created['name'] == 'my pool'
    response = client.request('GET', path)
    assert response.status == 200
    assert response.json()['type'] == 'process'
    assert server.fake.requests[-1]['path'] == '/api/work_pools/my%20pool'

    assert client.patch(path, {'concurrency_limit': 5}) is None  # 204 No Content
    assert client.get(path)['concurrency_limit'] == 5

    with pytest.raises(PrefectHTTPError) as exc_info:
        client.post('/work_pools/', {'name': 'my pool', 'type': 'process'})
    assert exc_info.value.status == 409
    assert exc_info.value.kind == 'http'
    assert exc_info.value.detail == 'A work pool with this name already exists.'
    assert 'POST /api/work_pools/ answered HTTP 409 Conflict: A work pool' in str(exc_info.value)

    assert client.delete(path) is None
    with pytest.raises(PrefectNotFoundError) as exc_info:
        client.get(path)
    assert exc_info.value.status == 404
    assert exc_info.value.kind == 'not_found'
    assert exc_info.value.detail == 'Work pool not found.'


def test_validation_error_detail(server):
    client = PrefectApiClient(server.base_url)
    with pytest.raises(PrefectHTTPError) as exc_info:
        client.post('/work_pools/', {'type': 'process'})
    assert exc_info.value.status == 422
    assert exc_info.value.detail == 'Invalid request received. name: Field required'
    assert 'HTTP 422 Unprocessable' in exc_info.value.message


@pytest.mark.parametrize('body, detail', [
    ('', None),
    ('  ', None),
    ('{"detail": "Work pool not found."}', 'Work pool not found.'),
    ('{"detail": [{"loc": ["body", "base_job_template", "x"], "msg": "bad"}, "other"]}', 'base_job_template.x: bad; other'),
    ('{"exception_message": "Unauthorized"}', 'Unauthorized'),
    ('{"message": "Database is not available"}', 'Database is not available'),
    ('{"something": "else"}', '{"something": "else"}'),
    ('["a"]', '["a"]'),
    ('<html>Bad Gateway</html>', '<html>Bad Gateway</html>'),
])
def test_extract_detail(body, detail):
    assert prefect_api._extract_detail(body) == detail  # pylint: disable=protected-access


def test_expected_status(server):
    client = PrefectApiClient(server.base_url)
    assert client.request('GET', '/status/201', expected_status=(200, 201)).status == 201
    with pytest.raises(PrefectHTTPError):
        client.request('GET', '/health', expected_status=204)
    with pytest.raises(PrefectHTTPError) as exc_info:
        client.request('GET', '/status/503')
    assert exc_info.value.status == 503


def test_server_error_with_html_body(server):
    client = PrefectApiClient(server.base_url)
    with pytest.raises(PrefectHTTPError) as exc_info:
        client.get('/status/502')
    assert not isinstance(exc_info.value, (PrefectAuthError, PrefectNotFoundError))
    assert exc_info.value.status == 502
    assert exc_info.value.detail == '<html>Bad Gateway</html>'
    assert 'GET /api/status/502 answered HTTP 502 Bad Gateway' in str(exc_info.value)


@pytest.mark.parametrize('auth_string, hint', [(None, 'no auth_string was given'),
                                               ('admin:wrong', 'the auth_string was rejected')])
def test_auth_errors(server, auth_string, hint):
    server.fake.auth_string = 'admin:right'
    client = PrefectApiClient(server.base_url, auth_string=auth_string)
    assert client.get('/health') is True  # open without auth, as on a real server
    with pytest.raises(PrefectAuthError) as exc_info:
        client.get('/admin/version')
    error = exc_info.value
    assert isinstance(error, PrefectHTTPError)
    assert error.kind == 'auth'
    assert error.status == 401
    assert error.detail == 'Unauthorized'
    assert hint in error.message
    assert 'wrong' not in error.message
    assert PrefectApiClient(server.base_url, auth_string='admin:right').get('/admin/version') == '3.9.1'


def test_forbidden_is_auth_error(server):
    with pytest.raises(PrefectAuthError) as exc_info:
        PrefectApiClient(server.base_url).get('/status/403')
    assert exc_info.value.status == 403


def test_not_json(server):
    client = PrefectApiClient(server.base_url)
    response = client.request('GET', '/not-json')
    assert response.status == 200
    with pytest.raises(PrefectResponseError) as exc_info:
        response.json()
    assert exc_info.value.kind == 'invalid_response'
    assert 'not JSON' in str(exc_info.value)
    with pytest.raises(PrefectApiError):
        client.get('/not-json')


def test_connection_refused(closed_port):
    client = PrefectApiClient('http://127.0.0.1:%d' % closed_port)
    with pytest.raises(PrefectConnectionError) as exc_info:
        client.get('/health')
    error = exc_info.value
    assert not isinstance(error, (PrefectTimeoutError, PrefectTLSError))
    assert error.kind == 'connection'
    assert error.refused
    assert error.status is None
    assert 'GET /api/health: connection refused by 127.0.0.1:%d' % closed_port == str(error)


def test_read_timeout(server):
    server.fake.health_delay = 10
    client = PrefectApiClient(server.base_url, request_timeout=5)
    started = time.monotonic()
    with pytest.raises(PrefectTimeoutError) as exc_info:
        client.get('/health', timeout=0.2)
    assert time.monotonic() - started < 3
    error = exc_info.value
    assert isinstance(error, PrefectConnectionError)
    assert error.kind == 'timeout'
    assert not error.refused
    assert 'within 0.2 s' in str(error)


def test_tls_errors(tls_server, tls_cert):
    with pytest.raises(PrefectTLSError) as exc_info:
        PrefectApiClient(tls_server.base_url).get('/health')
    assert exc_info.value.kind == 'tls'
    assert 'ca_path' in str(exc_info.value)
    assert PrefectApiClient(tls_server.base_url, ca_path=tls_cert['cert']).get('/health') is True
    assert PrefectApiClient(tls_server.base_url, validate_certs=False).get('/version') == '0.8.4'


def test_argument_spec():
    spec = prefect_api.prefect_api_argument_spec()
    assert set(spec) == {'url', 'auth_string', 'validate_certs', 'ca_path', 'request_timeout'}
    assert spec['auth_string']['no_log'] is True
    assert spec['url']['required'] is True
