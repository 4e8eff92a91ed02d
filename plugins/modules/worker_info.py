#!/usr/bin/python
# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: worker_info
short_description: List the workers of a Prefect work pool, and wait until some are ONLINE
version_added: 0.1.0
description:
  - Reads the workers of one work pool from the Prefect REST API (C(POST /api/work_pools/{name}/workers/filter)), with
    their status (V(ONLINE) or V(OFFLINE)) and their last heartbeat.
  - With O(wait_for_online), waits until every worker named in O(names) is V(ONLINE), for example after starting them,
    and fails after O(timeout) seconds naming the workers that are still missing or V(OFFLINE).
  - A pool that does not exist (yet) has no workers. While waiting, the module asks again, because a process worker
    creates its pool when it starts.
  - With O(health_urls), it first waits until each of those URLs answers HTTP 200, for example the health endpoints
    that the workers serve on the host (C(--with-healthcheck)). One module run then proves that the processes answer
    and that they reach the API.
author:
  - prefect_ops maintainers (@prefect-ops)
extends_documentation_fragment:
  - prefect_ops.prefect.prefect_api
  - prefect_ops.prefect.attributes
  - prefect_ops.prefect.attributes.info_module
options:
  work_pool:
    description:
      - Name of the work pool.
    type: str
    required: true
  names:
    description:
      - The workers to report, by name. All workers of the pool when not given.
      - Required with O(wait_for_online=true).
    type: list
    elements: str
  wait_for_online:
    description:
      - Wait until every worker in O(names) is V(ONLINE).
    type: bool
    default: false
  timeout:
    description:
      - With O(wait_for_online=true), how many seconds to wait at most.
    type: float
    default: 120
  interval:
    description:
      - With O(wait_for_online=true), seconds between two reads.
    type: float
    default: 2
  health_urls:
    description:
      - URLs, as the target host reaches them, that must answer HTTP 200 before the module reads the pool, such as
        V(http://127.0.0.1:8080/health) for a worker started with C(--with-healthcheck).
      - Asked without credentials. With O(wait_for_online=true) asked again until they all answer or O(timeout)
        passed, else once. The module fails naming each URL that did not answer, and what it answered.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
notes:
  - Prefect marks a worker V(OFFLINE) when it missed several heartbeats, so a worker that stopped a moment ago can still
    be V(ONLINE) for up to a minute.
seealso:
  - module: prefect_ops.prefect.work_pool
"""

EXAMPLES = r"""
- name: Wait until this host's workers poll their pool
  prefect_ops.prefect.worker_info:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    work_pool: etl
    names:
      - "{{ inventory_hostname }}-etl-1"
      - "{{ inventory_hostname }}-etl-2"
    # Each worker's own health check on the host, answered before the pool is read.
    health_urls:
      - http://127.0.0.1:8080/health
      - http://127.0.0.1:8081/health
    wait_for_online: true
    timeout: 120

- name: List the workers of a pool
  prefect_ops.prefect.worker_info:
    url: http://prefect.example.com:4200/api
    work_pool: etl
  register: etl_workers
"""

RETURN = r"""
workers:
  description:
    - The workers of the pool (only those in O(names) when given), sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The worker's name.
      type: str
    status:
      description: V(ONLINE) or V(OFFLINE).
      type: str
    last_heartbeat_time:
      description: When the worker last sent a heartbeat (ISO 8601), V(null) before the first one.
      type: str
  sample:
    - name: worker-1-etl-1
      status: ONLINE
      last_heartbeat_time: "2026-12-05T10:00:00.000000Z"
online:
  description: Names of the workers returned that are V(ONLINE).
  returned: always
  type: list
  elements: str
missing:
  description: Names in O(names) that the pool does not have or that are not V(ONLINE).
  returned: always
  type: list
  elements: str
pool_exists:
  description: Whether the work pool exists.
  returned: always
  type: bool
healthy:
  description: The URLs of O(health_urls) that answered HTTP 200.
  returned: always
  type: list
  elements: str
waited:
  description: Seconds spent waiting (0 without O(wait_for_online)).
  returned: always
  type: float
"""

import http.client
import time
import urllib.error

from ansible.module_utils.urls import open_url

from ansible_collections.prefect_ops.prefect.plugins.module_utils._api_module import PrefectApiModule
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiError,
    PrefectNotFoundError,
    quote_path_segment,
)

# The API returns at most this many workers per call (prefect.server.api.workers: limit's maximum).
PAGE_SIZE = 200


def worker_summary(worker):
    return dict(name=worker.get('name'), status=worker.get('status'),
                last_heartbeat_time=worker.get('last_heartbeat_time'))


def health_answer(url, timeout, validate_certs=True, ca_path=None):
    """What ``url`` answers to a GET: its HTTP status, or why it did not answer (a string)."""
    try:
        response = open_url(url, method='GET', timeout=timeout, validate_certs=validate_certs, ca_path=ca_path,
                            follow_redirects='none')
        return response.getcode()
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return str(getattr(exc, 'reason', exc))


def not_online(names, workers):
    """The names of ``names`` that ``workers`` has not as ONLINE, in the order given."""
    online = set(w['name'] for w in workers if w.get('status') == 'ONLINE')
    return [name for name in names if name not in online]


class WorkerInfo(PrefectApiModule):

    positive = ('interval',)
    non_negative = ('timeout',)

    def __init__(self):
        super().__init__(dict(
            work_pool=dict(type='str', required=True),
            names=dict(type='list', elements='str'),
            wait_for_online=dict(type='bool', default=False),
            timeout=dict(type='float', default=120),
            interval=dict(type='float', default=2),
            health_urls=dict(type='list', elements='str', default=[]),
        ), required_if=[('wait_for_online', True, ('names',))])
        self.pool = self.params['work_pool']
        self.names = self.params['names']
        self.path = '/work_pools/%s/workers/filter' % quote_path_segment(self.pool)
        self.result.update(changed=False, workers=[], online=[], missing=[], pool_exists=False, healthy=[],
                           waited=0.0)

    def read(self):
        """The pool's workers (those of names, when given), or None when the pool does not exist."""
        workers = []
        while True:
            try:
                page = self.client.post(self.path, dict(limit=PAGE_SIZE, offset=len(workers)))
            except PrefectNotFoundError as exc:
                if self.work_pool_missing(exc):
                    return None
            except PrefectApiError as exc:
                self.fail_api(exc, 'list the workers of work pool %r' % self.pool)
            if not isinstance(page, list):
                self.fail('The server at %s does not answer like a Prefect API: POST %s answered %r instead of a '
                          'list of workers.' % (self.client.api_url, self.path, page))
            workers.extend(worker_summary(w) for w in page if isinstance(w, dict))
            if len(page) < PAGE_SIZE:
                break
        if self.names is not None:
            wanted = set(self.names)
            workers = [w for w in workers if w['name'] in wanted]
        return sorted(workers, key=lambda w: w['name'] or '')

    def report(self, workers):
        self.result.update(
            pool_exists=workers is not None,
            workers=workers or [],
            online=[w['name'] for w in workers or [] if w['status'] == 'ONLINE'],
            missing=not_online(self.names or [], workers or []),
        )

    def wait_healthy(self, start, deadline):
        """Asks each of health_urls until all answered 200 (only once without wait_for_online)."""
        answers = {}
        while True:
            for url in self.params['health_urls']:
                if answers.get(url) != 200:
                    answers[url] = health_answer(url, self.params['request_timeout'], self.params['validate_certs'],
                                                 self.params['ca_path'])
            self.result['healthy'] = [url for url in self.params['health_urls'] if answers[url] == 200]
            unhealthy = [url for url in self.params['health_urls'] if answers[url] != 200]
            remaining = deadline - time.monotonic()
            if not unhealthy:
                return
            if not self.params['wait_for_online'] or remaining <= 0:
                waited = ' after %.0f s' % (time.monotonic() - start) if self.params['wait_for_online'] else ''
                self.fail('These health checks of work pool %r\'s workers did not answer HTTP 200%s: %s. Check the '
                          'workers\' logs (journalctl -u prefect-worker-*, or docker compose logs).'
                          % (self.pool, waited, '; '.join('%s answered %s' % (url, answers[url]) for url in unhealthy)))
            time.sleep(min(self.params['interval'], remaining))

    def run(self):
        start = time.monotonic()
        deadline = start + self.params['timeout']
        self.wait_healthy(start, deadline)
        while True:
            self.report(self.read())
            self.result['waited'] = round(time.monotonic() - start, 3) if self.params['wait_for_online'] else 0.0
            if not self.params['wait_for_online'] or not self.result['missing']:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                offline = [w['name'] for w in self.result['workers'] if w['name'] in self.result['missing']]
                absent = [name for name in self.result['missing'] if name not in offline]
                parts = []
                if absent:
                    parts.append('%s never registered' % ', '.join(absent))
                if offline:
                    parts.append('%s %s OFFLINE' % (', '.join(offline), 'is' if len(offline) == 1 else 'are'))
                self.fail('Work pool %r at %s: after %.0f s, %s. Check the workers\' logs (journalctl -u '
                          'prefect-worker-*, or docker compose logs) for errors reaching the API.'
                          % (self.pool, self.client.api_url, self.result['waited'], '; '.join(parts)))
            time.sleep(min(self.params['interval'], remaining))
        msg = 'Work pool %r: %d worker%s, %d ONLINE' % (
            self.pool, len(self.result['workers']), '' if len(self.result['workers']) == 1 else 's',
            len(self.result['online']))
        if not self.result['pool_exists']:
            msg = 'Work pool %r does not exist' % self.pool
        self.exit(msg)


def main():
    WorkerInfo().run()


if __name__ == '__main__':
    main()
