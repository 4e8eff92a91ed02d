# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""A real HTTP server on 127.0.0.1 that answers like a Prefect 3 API, for the unit tests.

It follows what Prefect's server does (prefect/server/api/server.py, root.py, admin.py):
- GET /api/health -> true, GET /api/ready -> 200 {"message": "OK"} or 503 {"message": "Database is not available"};
- with an auth string, every path except GET /api/health and GET /api/ready needs
  "Authorization: Basic base64(auth_string)", else 401 {"exception_message": "Unauthorized"};
- GET /api/admin/version -> "3.9.1", GET /api/version -> "0.8.4";
- work pools under /api/work_pools/ (POST creates, GET/PATCH/DELETE /api/work_pools/{name}).
Tests change the attributes of the FakePrefect object to make the server misbehave.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.parse

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakePrefect:

    def __init__(self):
        self.version = '3.9.1'
        self.api_version = '0.8.4'
        self.auth_string = None
        # How many GET /api/ready calls answer 503 before the database is "ready".
        self.ready_after = 0
        # Seconds GET /api/health waits before answering (released at teardown).
        self.health_delay = 0
        # Raw body of GET /api/health.
        self.health_body = b'true'
        self.health_content_type = 'application/json'
        # Status code for every request below /api, to imitate a proxy or a wrong path.
        self.force_status = None
        self.requests = []
        self.ready_calls = 0
        self.pools = {}
        self.release = threading.Event()
        self.lock = threading.Lock()

    def calls(self, path):
        return [r for r in self.requests if r['path'] == path]


class Handler(BaseHTTPRequestHandler):
    server_version = 'FakePrefect/1.0'

    @property
    def fake(self):
        return self.server.fake

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _send(self, status, payload=None, raw=None, content_type='application/json'):
        body = raw if raw is not None else (b'' if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if body and self.command != 'HEAD':
            self.wfile.write(body)

    def _dispatch(self):
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        length = int(self.headers.get('Content-Length') or 0)
        raw = self.rfile.read(length) if length else b''
        record = dict(
            method=self.command,
            path=path,
            query=urllib.parse.parse_qs(parsed.query),
            headers=dict((k.lower(), v) for k, v in self.headers.items()),
            body=raw,
        )
        with self.fake.lock:
            self.fake.requests.append(record)
        fake = self.fake

        if fake.force_status is not None:
            return self._send(fake.force_status, {'detail': 'Not Found'} if fake.force_status == 404 else None)

        if fake.auth_string is not None and not (self.command == 'GET' and path in ('/api/health', '/api/ready')):
            expected = 'Basic ' + base64.b64encode(fake.auth_string.encode()).decode()
            if record['headers'].get('authorization') != expected:
                return self._send(401, {'exception_message': 'Unauthorized'})

        route = (self.command, path)
        if route == ('GET', '/api/health'):
            if fake.health_delay:
                fake.release.wait(fake.health_delay)
            return self._send(200, raw=fake.health_body, content_type=fake.health_content_type)
        if route == ('GET', '/api/ready'):
            with fake.lock:
                fake.ready_calls += 1
                ready = fake.ready_calls > fake.ready_after
            if ready:
                return self._send(200, {'message': 'OK'})
            return self._send(503, {'message': 'Database is not available'})
        if route == ('GET', '/api/admin/version'):
            return self._send(200, fake.version)
        if route == ('GET', '/api/version'):
            return self._send(200, fake.api_version)
        if path == '/api/echo':
            return self._send(200, dict(
                method=self.command,
                query=record['query'],
                headers=record['headers'],
                body=raw.decode('utf-8'),
            ))
        if path.startswith('/api/status/'):
            code = int(path.rsplit('/', 1)[1])
            return self._send(code, raw=b'<html>Bad Gateway</html>' if code == 502 else None,
                              content_type='text/html')
        if path == '/api/not-json':
            return self._send(200, raw=b'<!doctype html><title>Prefect UI</title>', content_type='text/html')
        if route == ('POST', '/api/work_pools/'):
            data = json.loads(raw or b'{}')
            if 'name' not in data:
                return self._send(422, {
                    'exception_message': 'Invalid request received.',
                    'exception_detail': [{'loc': ['body', 'name'], 'msg': 'Field required', 'type': 'missing'}],
                    'request_body': data,
                })
            if data['name'] in fake.pools:
                return self._send(409, {'detail': 'A work pool with this name already exists.'})
            pool = dict(type='process', concurrency_limit=None, is_paused=False, description=None)
            pool.update(data)
            fake.pools[data['name']] = pool
            return self._send(201, pool)
        if path.startswith('/api/work_pools/'):
            name = urllib.parse.unquote(path[len('/api/work_pools/'):])
            if name not in fake.pools:
                return self._send(404, {'detail': 'Work pool not found.'})
            if self.command == 'GET':
                return self._send(200, fake.pools[name])
            if self.command == 'PATCH':
                fake.pools[name].update(json.loads(raw or b'{}'))
                return self._send(204)
            if self.command == 'DELETE':
                del fake.pools[name]
                return self._send(204)
        return self._send(404, {'exception_message': 'Not Found'})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (request_timeout) closes the connection before a slow answer.
        pass


class FakeServer:
    def __init__(self, ssl_context=None):
        self.fake = FakePrefect()
        self.httpd = QuietServer(('127.0.0.1', 0), Handler)
        self.httpd.fake = self.fake
        scheme = 'http'
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = 'https'
        self.port = self.httpd.server_address[1]
        self.base_url = '%s://127.0.0.1:%d' % (scheme, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.fake.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Requests must go straight to 127.0.0.1, never through a proxy from the environment."""
    for name in list(os.environ):
        if name.lower().endswith('_proxy'):
            monkeypatch.delenv(name)
    monkeypatch.setenv('no_proxy', '*')


@pytest.fixture
def server():
    with FakeServer() as srv:
        yield srv


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections: bound (so nobody else gets it) but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture(scope='session')
def tls_cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (PEM file that holds key and certificate)."""
    openssl = shutil.which('openssl')
    if not openssl:
        pytest.skip('openssl is needed to create a test certificate')
    directory = tmp_path_factory.mktemp('tls')
    key = directory / 'key.pem'
    cert = directory / 'cert.pem'
    subprocess.run(
        [openssl, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
         '-keyout', str(key), '-out', str(cert), '-subj', '/CN=127.0.0.1',
         '-addext', 'subjectAltName=IP:127.0.0.1'],
        check=True, capture_output=True,
    )
    return dict(cert=str(cert), key=str(key))


@pytest.fixture
def tls_server(tls_cert):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_cert['cert'], tls_cert['key'])
    with FakeServer(ssl_context=context) as srv:
        yield srv
