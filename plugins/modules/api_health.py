#!/usr/bin/python
# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: api_health
short_description: Wait for a Prefect server API to be healthy and ready, and check its version
version_added: 0.1.0
description:
  - Verifies a Prefect server API from the host the module runs on.
  - Polls C(GET /api/health) (the server process answers V(true)) and C(GET /api/ready) (HTTP 200 once the
    server reaches its database, HTTP 503 while it cannot) until both answer, or until O(timeout) seconds have passed.
  - Then reads the Prefect server version from C(GET /api/admin/version) and the REST API version from
    C(GET /api/version), and compares the server version with O(expected_version) when that is set.
    With basic authentication on, C(/api/admin/version) needs O(auth_string), so this also proves that the
    credentials work. C(/api/health) and C(/api/ready) stay open without authentication.
  - Connection errors, request timeouts, HTTP 503 and other server errors are retried every O(interval) seconds
    until O(timeout). Where waiting cannot help, the module fails at once, with a message that says what to do,
    for HTTP 401 or 403 (missing or wrong O(auth_string)), for TLS certificate errors, and for answers that do not
    come from a Prefect API.
  - The module never changes anything and never reports RV(ignore:changed).
author:
  - prefect_ops maintainers (@prefect-ops)
extends_documentation_fragment:
  - prefect_ops.prefect.prefect_api
  - prefect_ops.prefect.attributes
  - prefect_ops.prefect.attributes.info_module
options:
  timeout:
    description:
      - How long to wait, in seconds, for the API to become healthy and ready before failing.
      - Each request waits at most O(request_timeout), and not much longer than what is left of O(timeout).
      - V(0) checks once without waiting.
    type: float
    default: 120
  interval:
    description:
      - Seconds to sleep between two attempts.
    type: float
    default: 1
  wait_for_ready:
    description:
      - Whether to wait for C(GET /api/ready) to answer HTTP 200, that is for the server to reach its database.
      - When V(false), the module waits only for C(GET /api/health), asks C(/api/ready) once and reports the
        answer in RV(database_ready) without failing on it.
    type: bool
    default: true
  expected_version:
    description:
      - The Prefect version the server must run, for example V(3.9.1). The module fails when it runs another one.
      - A shorter version matches every release that starts with it, for example V(3.9) accepts V(3.9.1).
        A leading V(v) is ignored.
      - Workers and clients must not be newer than the server (the server answers HTTP 422 to them), so pin one
        version for all of them and check it here.
      - Unset, the version is only reported.
    type: str
seealso:
  - name: Prefect self-hosting documentation
    description: Running a Prefect server, its settings and its basic authentication.
    link: https://docs.prefect.io/v3/manage/self-host
  - module: ansible.builtin.uri
    description: For other calls to the Prefect REST API.
"""

EXAMPLES = r"""
- name: Wait until the Prefect API answers and its database is ready
  prefect_ops.prefect.api_health:
    url: http://prefect.example.com:4200/api

- name: Check an API with basic auth, behind TLS with a private CA, and pin the server version
  prefect_ops.prefect.api_health:
    url: https://prefect.example.com
    auth_string: "{{ prefect_api_auth_string }}"
    ca_path: /etc/ssl/certs/example-ca.pem
    expected_version: "3.9.1"
    timeout: 300
  register: prefect_api

- name: Show what the API answered
  ansible.builtin.debug:
    msg: "Prefect {{ prefect_api.server_version }} (API {{ prefect_api.api_version }}) after {{ prefect_api.waited }} s"

- name: Check from the controller instead of the target host, once, without waiting for the database
  prefect_ops.prefect.api_health:
    url: "http://{{ inventory_hostname }}:4200"
    timeout: 0
    wait_for_ready: false
  delegate_to: localhost

- name: Set the connection once for every Prefect API module of the collection
  module_defaults:
    group/prefect_ops.prefect.prefect_api:
      url: http://prefect.example.com:4200
      auth_string: "{{ prefect_api_auth_string }}"
  block:
    - name: Wait for the API
      prefect_ops.prefect.api_health:

    - name: Then manage a work pool on it
      prefect_ops.prefect.work_pool:
        name: default
        type: process

- name: Probe without failing and decide later
  prefect_ops.prefect.api_health:
    url: http://127.0.0.1:4200
    timeout: 10
  register: prefect_probe
  ignore_errors: true

- name: Explain a database problem
  ansible.builtin.debug:
    msg: "The API runs but cannot reach PostgreSQL"
  when: prefect_probe.status == 'database_not_ready'
"""

RETURN = r"""
status:
  description:
    - Outcome of the check.
    - V(ready) when the API is healthy and its database ready, V(healthy) when O(wait_for_ready=false) and only
      C(/api/health) answered.
    - On failure one of V(unreachable) (no connection), V(timeout) (no answer or server errors until O(timeout)),
      V(database_not_ready), V(unauthorized), V(tls_error), V(not_prefect) (the URL answers, but not like a
      Prefect API), V(version_mismatch), V(error).
  returned: always
  type: str
  sample: ready
url:
  description: The API base URL the module used, O(url) with C(/api) appended when it was missing.
  returned: always
  type: str
  sample: http://prefect.example.com:4200/api
healthy:
  description: Whether C(GET /api/health) answered V(true) on the last attempt.
  returned: always
  type: bool
  sample: true
database_ready:
  description: Whether C(GET /api/ready) answered HTTP 200 on the last attempt, that is whether the server reaches its database.
  returned: always
  type: bool
  sample: true
server_version:
  description: The Prefect version the server runs, from C(GET /api/admin/version). V(null) when not read.
  returned: always
  type: str
  sample: 3.9.1
api_version:
  description: The version of the REST API, from C(GET /api/version). V(null) when not read.
  returned: always
  type: str
  sample: 0.8.4
waited:
  description: Seconds from the first request until the module succeeded or gave up.
  returned: always
  type: float
  sample: 3.204
attempts:
  description: How many times the module asked C(/api/health) (and C(/api/ready)).
  returned: always
  type: int
  sample: 4
last_error:
  description:
    - The last error seen while waiting, for example a refused connection or HTTP 503 from C(/api/ready).
    - V(null) when every request succeeded at the first attempt.
  returned: always
  type: str
  sample: "GET /api/ready answered HTTP 503 Service Unavailable: database not ready"
"""

import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.prefect_ops.prefect.plugins.module_utils._api_module import PrefectApiModule, auth_hint
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiError,
    PrefectAuthError,
    PrefectConnectionError,
    PrefectHTTPError,
    PrefectResponseError,
    PrefectTimeoutError,
    PrefectTLSError,
)


def _normalize_version(version):
    version = to_native(version).strip()
    if version[:1] in ('v', 'V'):
        version = version[1:]
    return version


def version_matches(actual, expected):
    """True when ``actual`` equals ``expected`` or starts with it component by component (3.9 matches 3.9.1)."""
    actual_parts = _normalize_version(actual).split('.')
    expected_parts = _normalize_version(expected).split('.')
    return actual_parts[:len(expected_parts)] == expected_parts


class ApiHealthCheck(PrefectApiModule):

    positive = ('interval',)
    non_negative = ('timeout',)

    def __init__(self):
        super().__init__(dict(
            timeout=dict(type='float', default=120),
            interval=dict(type='float', default=1),
            wait_for_ready=dict(type='bool', default=True),
            expected_version=dict(type='str'),
        ))
        self.timeout = self.params['timeout']
        self.interval = self.params['interval']
        self.wait_for_ready = self.params['wait_for_ready']
        self.expected_version = self.params['expected_version']
        self.request_timeout = self.client.request_timeout
        self.start = None
        self.deadline = None
        self.problem = None
        self.last_exc = None
        self.result.update(
            changed=False,
            status=None,
            healthy=False,
            database_ready=False,
            server_version=None,
            api_version=None,
            waited=0.0,
            attempts=0,
            last_error=None,
        )

    def check_params(self):
        if self.params['expected_version'] is not None and not self.params['expected_version'].strip():
            self.module.fail_json(msg='expected_version must not be empty; leave it unset to only report the version')

    # -- helpers ---------------------------------------------------------------

    def _elapsed(self):
        return time.monotonic() - self.start

    def _per_request_timeout(self):
        """request_timeout, cut down to what is left of timeout (but at least a second, or request_timeout)."""
        if self.timeout <= 0:
            return self.request_timeout
        remaining = self.deadline - time.monotonic()
        return min(self.request_timeout, max(remaining, min(self.request_timeout, 1.0)))

    def _record(self, problem, exc, message=None):
        self.problem = problem
        self.last_exc = exc
        self.result['last_error'] = message or to_native(exc)

    def _fail(self, status, msg):
        self.result['status'] = status
        self.result['waited'] = round(self._elapsed(), 3)
        self.module.fail_json(msg=msg, **self.result)

    def _after(self):
        return 'after %.1f s and %d attempt%s' % (
            self._elapsed(), self.result['attempts'], '' if self.result['attempts'] == 1 else 's')

    def _fail_auth(self, exc):
        url = self.client.api_url
        what = 'rejected the credentials' if self.client.auth_string else 'requires authentication'
        self._fail('unauthorized', 'The Prefect API at %s %s: %s. %s' % (url, what, exc, auth_hint(self.client.auth_string)))

    def _fail_tls(self, exc):
        self._fail('tls_error', 'Cannot talk TLS to the Prefect API at %s: %s.' % (self.client.api_url, exc))

    def _fail_not_prefect(self, what):
        self._fail('not_prefect', 'The server at %s does not answer like a Prefect API: %s. Check that url is the '
                                  'base URL of the Prefect API (the one that ends in /api), not the UI or another '
                                  'service.' % (self.client.api_url, what))

    # -- one attempt -------------------------------------------------------------

    def _probe(self):
        """One attempt: GET /health, then GET /ready. True when the API is as healthy as we wait for."""
        self.result['attempts'] += 1
        self.result['healthy'] = False
        self.result['database_ready'] = False
        response = None
        try:
            response = self.client.request('GET', '/health', timeout=self._per_request_timeout())
        except PrefectAuthError as exc:
            self._fail_auth(exc)
        except PrefectTLSError as exc:
            self._fail_tls(exc)
        except PrefectTimeoutError as exc:
            self._record('timeout', exc)
            return False
        except PrefectConnectionError as exc:
            self._record('unreachable', exc)
            return False
        except PrefectApiError as exc:
            self._record('http', exc)
            return False
        try:
            health = response.json()
        except PrefectResponseError:
            health = None
        if health is not True:
            self._fail_not_prefect('GET /api/health answered %r instead of true' % response.body.strip()[:200])
        self.result['healthy'] = True

        try:
            self.client.request('GET', '/ready', timeout=self._per_request_timeout(), expected_status=200)
        except PrefectAuthError as exc:
            self._fail_auth(exc)
        except PrefectTLSError as exc:
            self._fail_tls(exc)
        except PrefectHTTPError as exc:
            if exc.status == 503:
                self._record('database_not_ready', exc,
                             '%s (the server cannot reach its database)' % to_native(exc))
            else:
                self._record('http', exc)
        except PrefectApiError as exc:
            self._record('timeout' if isinstance(exc, PrefectTimeoutError) else 'unreachable', exc)
        else:
            self.result['database_ready'] = True
        return self.result['database_ready'] or not self.wait_for_ready

    def _fail_waiting(self):
        url = self.client.api_url
        exc = self.last_exc
        gave_up = 'Gave up ' + self._after()
        if self.problem == 'database_not_ready':
            self._fail('database_not_ready', (
                'The Prefect API at %s is up, but its database is not ready: GET /api/ready kept answering '
                'HTTP 503. %s (timeout=%s). Check that PostgreSQL runs and accepts connections from the Prefect '
                'server (database host, port, user and password in PREFECT_SERVER_DATABASE_*, pg_hba.conf, '
                'firewall) and look for database or migration errors in the server logs; raise timeout if the '
                'first start or an upgrade migrates for longer.') % (url, gave_up, self.timeout))
        if self.problem == 'unreachable' and getattr(exc, 'refused', False):
            self._fail('unreachable', (
                'Cannot connect to the Prefect API at %s: %s. Nothing listens there: the '
                'Prefect server is down or still starting, or its port is not published or not reachable from '
                'this host. Check that the server container runs (docker compose ps, docker compose logs), that '
                'the port is published, that the server binds to 0.0.0.0 inside its container '
                '(PREFECT_SERVER_API_HOST), and that no firewall is in the way. %s (timeout=%s).')
                % (url, exc, gave_up, self.timeout))
        if self.problem == 'unreachable':
            self._fail('unreachable', (
                'Cannot connect to the Prefect API at %s: %s. Check the host name and port in url and the network '
                'between this host and the server. %s (timeout=%s).') % (url, exc, gave_up, self.timeout))
        hint = ''
        if self.problem == 'timeout':
            hint = (' The server accepts connections but does not answer in time: it may be overloaded or stuck; '
                    'check its logs, or raise request_timeout or timeout.')
        elif isinstance(exc, PrefectHTTPError) and exc.status == 404:
            hint = ' Check that url is the base URL of the Prefect API (the one that ends in /api).'
        elif isinstance(exc, PrefectHTTPError) and exc.status in (502, 504):
            hint = ' A proxy in front of the server cannot reach it: check that the server runs.'
        self._fail('timeout', 'Gave up waiting for the Prefect API at %s %s (timeout=%s); last error: %s.%s' % (
            url, self._after(), self.timeout, exc, hint))

    # -- versions -----------------------------------------------------------------

    def _read_version(self, path, key):
        value = None
        try:
            value = self.client.get(path, timeout=self._per_request_timeout())
        except PrefectAuthError as exc:
            self._fail_auth(exc)
        except PrefectTLSError as exc:
            self._fail_tls(exc)
        except PrefectResponseError as exc:
            self._fail_not_prefect(to_native(exc))
        except PrefectApiError as exc:
            self._fail('error', 'The Prefect API at %s is healthy, but reading its version failed: %s.'
                       % (self.client.api_url, exc))
        if not isinstance(value, str):
            self._fail_not_prefect('GET %s answered %r instead of a version string' % (self.client.url_for(path), value))
        self.result[key] = value

    # -- main ---------------------------------------------------------------------

    def run(self):
        self.start = time.monotonic()
        self.deadline = self.start + self.timeout
        while not self._probe():
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self._fail_waiting()
            time.sleep(min(self.interval, remaining))

        self._read_version('/admin/version', 'server_version')
        self._read_version('/version', 'api_version')

        if self.expected_version and not version_matches(self.result['server_version'], self.expected_version):
            self._fail('version_mismatch', (
                'The Prefect server at %s runs version %s, expected %s. Upgrade (or downgrade) the server to %s, '
                'or correct expected_version. Upgrade the server before its workers: a client newer than the '
                'server fails with HTTP 422.') % (
                    self.client.api_url, self.result['server_version'], self.expected_version, self.expected_version))

        self.result['status'] = 'ready' if self.result['database_ready'] else 'healthy'
        self.result['waited'] = round(self._elapsed(), 3)
        msg = 'The Prefect API at %s is %s: server %s, API %s' % (
            self.client.api_url, self.result['status'], self.result['server_version'], self.result['api_version'])
        self.exit(msg)


def main():
    ApiHealthCheck().run()


if __name__ == '__main__':
    main()
