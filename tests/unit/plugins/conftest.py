# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""A real HTTP server on 127.0.0.1 that answers like a Prefect 3 API, for the unit tests.

It follows what Prefect's server does (prefect/server/api/server.py, root.py, admin.py):
- GET /api/health -> true, GET /api/ready -> 200 {"message": "OK"} or 503 {"message": "Database is not available"};
- with an auth string, every path except GET /api/health and GET /api/ready needs
  "Authorization: Basic base64(auth_string)", else 401 {"exception_message": "Unauthorized"};
- GET /api/admin/version -> "3.9.1", GET /api/version -> "0.8.4";
- work pools under /api/work_pools/, a stateful store that answers like prefect/server/api/workers.py
  (checked against a real Prefect 3.9.1 server): POST / -> 201 with the whole pool, 409 for a name that exists,
  403 for names starting with "prefect", 422 for what WorkPoolCreate rejects (unknown fields, banned characters
  in the name, a negative concurrency limit, a template without job_configuration and variables, defaults that
  do not fit their variable); GET /{name} -> 200 or 404; PATCH /{name} -> 204 and only the fields sent change
  (null clears), 422 for what WorkPoolUpdate rejects (type and name among them), and no check of the defaults
  (the real server does not check them on update either); DELETE /{name} -> 204 or 404;
- GET /api/collections/views/aggregate-worker-metadata -> the worker registry (process and docker), from which
  clients take the default base job template of a pool type;
- automations under /api/automations/, a stateful store that answers like prefect/server/api/automations.py
  (checked against a real Prefect 3.9.1 server): POST / -> 201 with the whole automation, names need not be
  unique, 422 for unknown top-level fields or an event trigger without its posture, the trigger's defaults
  filled in and its lists of events kept as sets (here: sorted, not in the order sent), unknown keys inside
  the trigger dropped; POST /filter with {"automations": {"name": {"any_": [...]}}}; GET /{id} -> 200 or 404
  {"exception_message": "Automation not found"}; PUT /{id} -> 204, the whole automation replaced;
  DELETE /{id} -> 204 or 404.
Tests change the attributes of the FakePrefect object to make the server misbehave.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.parse
import uuid

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible.module_utils.testing import patch_module_args


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
        # Detail of GET/PATCH/DELETE /api/work_pools/{name} for a missing pool. The real server says
        # 'Work pool "NAME" not found.'; the default stays the older text that existing tests expect.
        self.pool_not_found_detail = 'Work pool not found.'
        self.worker_registry = copy.deepcopy(WORKER_REGISTRY)
        # Status code of GET /api/collections/views/aggregate-worker-metadata, None for 200.
        self.registry_status = None
        # Workers per pool name, as POST /api/work_pools/{name}/workers/filter lists them; a callable
        # value is called with the number of filter calls so far (to let workers come ONLINE later).
        self.workers = {}
        self.automations = {}
        self.release = threading.Event()
        self.lock = threading.Lock()

    def calls(self, path):
        return [r for r in self.requests if r['path'] == path]

    def pool_writes(self):
        """(method, path) of every request that could change a work pool."""
        return [(r['method'], r['path']) for r in self.requests
                if r['path'].startswith('/api/work_pools/') and r['method'] != 'GET']

    def add_pool(self, name, **fields):
        """Put a pool into the store directly, as if it had been created earlier."""
        pool = new_pool(dict(name=name, **fields))
        self.pools[name] = pool
        return pool


# The "process" entry of Prefect's worker registry, as Prefect 3.9.1 bundles it
# (prefect/server/api/collections_data/views/aggregate-worker-metadata.json); "docker" is a smaller stand-in
# for another type.
PROCESS_TEMPLATE = {
    'job_configuration': {
        'command': '{{ command }}',
        'env': '{{ env }}',
        'labels': '{{ labels }}',
        'name': '{{ name }}',
        'stream_output': '{{ stream_output }}',
        'working_dir': '{{ working_dir }}',
    },
    'variables': {
        'type': 'object',
        'properties': {
            'name': {
                'title': 'Name',
                'description': 'Name given to infrastructure created by a worker.',
                'type': 'string',
            },
            'env': {
                'title': 'Environment Variables',
                'description': 'Environment variables to set when starting a flow run.',
                'type': 'object',
                'additionalProperties': {'type': 'string'},
            },
            'labels': {
                'title': 'Labels',
                'description': 'Labels applied to infrastructure created by a worker.',
                'type': 'object',
                'additionalProperties': {'type': 'string'},
            },
            'command': {
                'title': 'Command',
                'description': 'The command to use when starting a flow run. In most cases, this should be left '
                               'blank and the command will be automatically generated by the worker.',
                'type': 'string',
            },
            'stream_output': {
                'title': 'Stream Output',
                'description': 'If enabled, workers will stream output from flow run processes to local standard '
                               'output.',
                'default': True,
                'type': 'boolean',
            },
            'working_dir': {
                'title': 'Working Directory',
                'description': 'If provided, workers will open flow run processes within the specified path as the '
                               'working directory. Otherwise, a temporary directory will be created.',
                'type': 'string',
                'format': 'path',
            },
        },
    },
}
DOCKER_TEMPLATE = {
    'job_configuration': {'image': '{{ image }}', 'env': '{{ env }}', 'auto_remove': '{{ auto_remove }}'},
    'variables': {
        'type': 'object',
        'properties': {
            'image': {'title': 'Image', 'type': 'string'},
            'env': {'title': 'Environment Variables', 'type': 'object', 'additionalProperties': {'type': 'string'}},
            'auto_remove': {'title': 'Auto Remove', 'default': False, 'type': 'boolean'},
        },
    },
}
WORKER_REGISTRY = {
    'prefect': {
        'process': {'type': 'process', 'display_name': 'Process', 'default_base_job_configuration': PROCESS_TEMPLATE},
    },
    'prefect-docker': {
        'docker': {'type': 'docker', 'display_name': 'Docker', 'default_base_job_configuration': DOCKER_TEMPLATE},
    },
}

POOL_NAME_PATTERN = '^[^/%&><]+$'
POOL_CREATE_FIELDS = ('name', 'description', 'type', 'base_job_template', 'is_paused', 'concurrency_limit',
                      'storage_configuration')
POOL_UPDATE_FIELDS = ('description', 'is_paused', 'base_job_template', 'concurrency_limit', 'storage_configuration')
JSON_TYPES = dict(string=str, boolean=bool, object=dict, array=list, number=(int, float), integer=int)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def new_pool(data):
    """A pool as the server stores and returns it (WorkPoolResponse)."""
    pool = dict(id=str(uuid.uuid4()), created=_now(), updated=_now(), name=data['name'], description=None,
                type='prefect-agent', base_job_template={}, is_paused=False, concurrency_limit=None, status=None,
                default_queue_id=str(uuid.uuid4()),
                storage_configuration=dict(bundle_upload_step=None, bundle_execution_step=None,
                                           default_result_storage_block_id=None),
                active_slots=None)
    pool.update((k, copy.deepcopy(v)) for k, v in data.items() if k != 'storage_configuration')
    _set_status(pool)
    return pool


def _set_status(pool):
    if pool['type'] != 'prefect-agent':
        pool['status'] = 'PAUSED' if pool['is_paused'] else 'NOT_READY'
    pool['active_slots'] = 0 if pool['concurrency_limit'] is not None else None


def _error(kind, field, msg, value):
    return dict(type=kind, loc=['body', field], msg=msg, input=value)


def validate_pool_body(data, allowed, create):
    """The pydantic errors of WorkPoolCreate / WorkPoolUpdate for ``data`` (a list, empty when valid)."""
    errors = []
    if not isinstance(data, dict):
        return [dict(type='model_attributes_type', loc=['body'], msg='Input should be a valid dictionary', input=data)]
    for key in data:
        if key not in allowed:
            errors.append(_error('extra_forbidden', key, 'Extra inputs are not permitted', data[key]))
    if create and 'name' not in data:
        errors.append(dict(type='missing', loc=['body', 'name'], msg='Field required', input=data))
    if 'name' in data and create:
        name = data['name']
        if not isinstance(name, str):
            errors.append(_error('string_type', 'name', 'Input should be a valid string', name))
        elif not name.strip('\' "'):
            errors.append(_error('value_error', 'name', 'Value error, name cannot be an empty string', name))
        elif not re.match(POOL_NAME_PATTERN, name):
            errors.append(_error('string_pattern_mismatch', 'name',
                                 "String should match pattern '%s'" % POOL_NAME_PATTERN, name))
    for key, kind in (('description', str), ('type', str)):
        if key in data and key in allowed and not isinstance(data[key], kind) and not (
                data[key] is None and key == 'description'):
            errors.append(_error('string_type', key, 'Input should be a valid string', data[key]))
    if 'is_paused' in data and not isinstance(data['is_paused'], bool) and not (
            data['is_paused'] is None and not create):
        errors.append(_error('bool_type', 'is_paused', 'Input should be a valid boolean', data['is_paused']))
    limit = data.get('concurrency_limit')
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool):
            errors.append(_error('int_type', 'concurrency_limit', 'Input should be a valid integer', limit))
        elif limit < 0:
            errors.append(_error('greater_than_equal', 'concurrency_limit',
                                 'Input should be greater than or equal to 0', limit))
    template = data.get('base_job_template')
    if 'base_job_template' in data and not (template is None and not create):
        if not isinstance(template, dict):
            errors.append(_error('dict_type', 'base_job_template', 'Input should be a valid dictionary', template))
        elif template:
            job_config = template.get('job_configuration')
            variables = template.get('variables')
            if not (job_config and variables):
                errors.append(_error('value_error', 'base_job_template',
                                     'Value error, The `base_job_template` must contain both a `job_configuration` '
                                     'key and a `variables` key.', template))
            else:
                used = set(re.findall(r'{{\s*([\w.-]+)\s*}}', json.dumps(job_config)))
                missing = used - set(variables.get('properties', {}))
                if missing:
                    errors.append(_error('value_error', 'base_job_template',
                                         'Value error, The variables specified in the job configuration template '
                                         'must be present as properties in the variables schema. Your job '
                                         'configuration uses the following undeclared variable(s): %s.'
                                         % ' ,'.join(sorted(missing)), template))
    return errors


def _fits(value, schema):
    """Whether ``value`` fits the JSON types of ``schema`` (type, or anyOf of types); True without type info."""
    options = schema.get('anyOf') or [schema]
    types = [option.get('type') for option in options if isinstance(option, dict)]
    if not types or None in types:
        return True
    for name in types:
        if name == 'null' and value is None:
            return True
        kind = JSON_TYPES.get(name)
        if kind and isinstance(value, kind) and not (isinstance(value, bool) and name in ('integer', 'number')):
            return True
    return False


def invalid_default(template):
    """Like validate_job_variable_defaults_for_work_pool: the error detail for a default that does not fit."""
    for field, schema in ((template.get('variables') or {}).get('properties') or {}).items():
        if isinstance(schema, dict) and 'default' in schema and not _fits(schema['default'], schema):
            return ("Validation failed for work pool's job variable defaults: Validation failed for field '%s'. "
                    "Failure reason: %r is not valid under any of the given schemas" % (field, schema['default']))
    return None


AUTOMATION_FIELDS = ('name', 'description', 'enabled', 'tags', 'trigger', 'actions', 'actions_on_trigger',
                     'actions_on_resolve')
# What a real server fills into an event trigger that leaves them out.
EVENT_TRIGGER_DEFAULTS = dict(match={}, match_related={}, after=[], expect=[], for_each=[], threshold=1, within=0.0)
EVENT_TRIGGER_SETS = ('after', 'expect', 'for_each')


def validate_automation(data):
    """The errors AutomationCreate/AutomationUpdate would report, for the cases the tests use."""
    errors = [dict(type='extra_forbidden', loc=['body', key], msg='Extra inputs are not permitted', input=value)
              for key, value in data.items() if key not in AUTOMATION_FIELDS]
    for key in ('name', 'trigger', 'actions'):
        if key not in data:
            errors.append(dict(type='missing', loc=['body', key], msg='Field required'))
    trigger = data.get('trigger') or {}
    if trigger.get('type') == 'event' and trigger.get('posture') not in ('Reactive', 'Proactive'):
        errors.append(dict(type='literal_error', loc=['body', 'trigger', 'EventTrigger', 'posture'],
                           msg='Input should be Posture.Reactive or Posture.Proactive', input=trigger.get('posture')))
    return errors


def normalized_automation(data):
    """An automation as the real server stores and returns it."""
    trigger = dict(EVENT_TRIGGER_DEFAULTS)
    trigger.update((k, copy.deepcopy(v)) for k, v in data['trigger'].items()
                   if k in ('type', 'posture', 'id') or k in EVENT_TRIGGER_DEFAULTS)
    trigger.setdefault('id', str(uuid.uuid4()))
    trigger['within'] = float(trigger['within'])
    for key in EVENT_TRIGGER_SETS:
        trigger[key] = sorted(set(trigger[key]))
    actions = []
    for action in data.get('actions') or []:
        action = copy.deepcopy(action)
        if action.get('type') == 'change-flow-run-state':
            action.setdefault('name', None)
            action.setdefault('message', None)
            action.setdefault('force', False)
        actions.append(action)
    return dict(name=data['name'], description=data.get('description', ''), enabled=data.get('enabled', True),
                tags=list(data.get('tags') or []), trigger=trigger, actions=actions,
                actions_on_trigger=copy.deepcopy(data.get('actions_on_trigger') or []),
                actions_on_resolve=copy.deepcopy(data.get('actions_on_resolve') or []))


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
        if route == ('GET', '/api/collections/views/aggregate-worker-metadata'):
            if fake.registry_status:
                return self._send(fake.registry_status, {'detail': 'View aggregate-worker-metadata not found'})
            return self._send(200, fake.worker_registry)
        if path == '/api/work_pools/' or path.startswith('/api/work_pools/'):
            with fake.lock:
                return self._work_pools(path, raw)
        if path.startswith('/api/automations/'):
            with fake.lock:
                return self._automations(path[len('/api/automations/'):], raw)
        return self._send(404, {'detail': 'Not Found'})

    def _automations(self, rest, raw):
        fake = self.fake
        data = json.loads(raw) if raw else {}
        if rest == '' and self.command == 'POST':
            errors = validate_automation(data)
            if errors:
                return self._invalid(errors, data)
            automation = normalized_automation(data)
            automation.update(id=str(uuid.uuid4()), created=_now(), updated=_now())
            fake.automations[automation['id']] = automation
            return self._send(201, automation)
        if rest == 'filter' and self.command == 'POST':
            names = ((data.get('automations') or {}).get('name') or {}).get('any_')
            found = [a for a in fake.automations.values() if names is None or a['name'] in names]
            return self._send(200, found)
        not_found = {'exception_message': 'Automation not found'}
        if rest not in fake.automations:
            return self._send(404, not_found)
        if self.command == 'GET':
            return self._send(200, fake.automations[rest])
        if self.command == 'PUT':
            errors = validate_automation(data)
            if errors:
                return self._invalid(errors, data)
            automation = normalized_automation(data)
            automation.update(id=rest, created=fake.automations[rest]['created'], updated=_now())
            fake.automations[rest] = automation
            return self._send(204)
        if self.command == 'DELETE':
            del fake.automations[rest]
            return self._send(204)
        return self._send(405, {'detail': 'Method Not Allowed'})

    def _invalid(self, errors, data):
        return self._send(422, {'exception_message': 'Invalid request received.', 'exception_detail': errors,
                                'request_body': data})

    def _work_pools(self, path, raw):
        fake = self.fake
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            return self._send(422, {'exception_message': 'Invalid request received.'})
        if path == '/api/work_pools/':
            if self.command != 'POST':
                return self._send(405, {'detail': 'Method Not Allowed'})
            data = {} if data is None else data
            errors = validate_pool_body(data, POOL_CREATE_FIELDS, create=True)
            if errors:
                return self._invalid(errors, data)
            if data['name'].lower().startswith('prefect'):
                return self._send(403, {'detail': "Work pools starting with 'Prefect' are reserved for internal use."})
            detail = invalid_default(data.get('base_job_template') or {})
            if detail:
                return self._send(422, {'detail': detail})
            if data['name'] in fake.pools:
                return self._send(409, {'detail': 'A work pool with this name already exists.'})
            pool = new_pool(data)
            fake.pools[pool['name']] = pool
            return self._send(201, pool)

        name = urllib.parse.unquote(path[len('/api/work_pools/'):])
        if name.endswith('/workers/filter') and self.command == 'POST':
            return self._workers(name[:-len('/workers/filter')], data or {})
        if '/' in name:
            return self._send(404, {'detail': 'Not Found'})
        not_found = {'detail': fake.pool_not_found_detail.format(name=name)}
        if self.command == 'GET':
            if name not in fake.pools:
                return self._send(404, not_found)
            return self._send(200, fake.pools[name])
        if self.command == 'PATCH':
            data = {} if data is None else data
            errors = validate_pool_body(data, POOL_UPDATE_FIELDS, create=False)
            if errors:
                return self._invalid(errors, data)
            if name.lower().startswith('prefect') and set(data) - {'is_paused', 'concurrency_limit'}:
                return self._send(403, {'detail': "Work pools starting with 'Prefect' are reserved for internal use "
                                                  "and can only be updated to set concurrency limits or pause."})
            if name not in fake.pools:
                return self._send(404, not_found)
            if data.get('is_paused', False) is None:
                return self._send(409, {'detail': 'Data integrity conflict. This usually means a unique or foreign '
                                                  'key constraint was violated. See server logs for details.'})
            pool = fake.pools[name]
            pool.update((k, copy.deepcopy(v)) for k, v in data.items() if k != 'storage_configuration')
            pool['updated'] = _now()
            _set_status(pool)
            return self._send(204)
        if self.command == 'DELETE':
            if name.lower().startswith('prefect'):
                return self._send(403, {'detail': "Work pools starting with 'Prefect' are reserved for internal use "
                                                  "and can not be deleted."})
            if name not in fake.pools:
                return self._send(404, not_found)
            del fake.pools[name]
            return self._send(204)
        return self._send(405, {'detail': 'Method Not Allowed'})

    def _workers(self, name, data):
        fake = self.fake
        if name not in fake.pools:
            return self._send(404, {'detail': fake.pool_not_found_detail.format(name=name)})
        workers = fake.workers.get(name, [])
        if callable(workers):
            workers = workers(len([r for r in fake.requests if r['path'].endswith('/workers/filter')]))
        offset, limit = data.get('offset', 0), data.get('limit', 200)
        return self._send(200, workers[offset:offset + limit])

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


@pytest.fixture
def run_module(capsys):
    """Run a module's main() with the given arguments, as Ansible would; return (failed, result)."""
    def _run(module_main, check_mode=False, diff=False, **args):
        if check_mode:
            args['_ansible_check_mode'] = True
        if diff:
            args['_ansible_diff'] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exit_info:
                module_main()
        result = json.loads(capsys.readouterr().out)
        failed = exit_info.value.code != 0
        assert failed == bool(result.get('failed')), result
        return failed, result
    return _run
