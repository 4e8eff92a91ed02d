#!/usr/bin/python
# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: work_pool
short_description: Create, update and delete Prefect work pools
version_added: 0.1.0
description:
  - Manages one work pool of a Prefect server through its REST API (C(/api/work_pools/)), idempotently.
  - With O(state=present) the module creates the pool when it does not exist and otherwise updates the fields that
    differ from the options given, that is O(description), O(concurrency_limit), O(is_paused) and the base job template
    (O(base_job_template), O(job_variables)). An option that is not given is not managed, the pool keeps its value.
  - The Prefect API cannot change the type of a pool. When O(type) differs from the type of an existing pool the
    module fails, unless O(recreate=true) lets it delete the pool and create it again with the new type.
  - With O(state=absent) the module deletes the pool when it exists.
  - The module reports RV(ignore:changed) only when it changed the pool (or would change it, in check mode), and
    returns the pool as the server has it afterwards in RV(work_pool).
  - Pool names are checked before anything is sent, with the rule the Prefect API applies. Names that start with
    V(prefect) (in any case) are reserved by Prefect. The API refuses to create or delete such pools and only lets
    their O(is_paused) and O(concurrency_limit) change, so the module refuses the rest before it asks.
author:
  - prefect_ops maintainers (@prefect-ops)
extends_documentation_fragment:
  - prefect_ops.prefect.prefect_api
  - prefect_ops.prefect.prefect_api.client_version
  - prefect_ops.prefect.attributes
options:
  name:
    description:
      - Name of the work pool. Workers and deployments refer to the pool by this name.
      - It must not be empty (nor only quotes and spaces) and must not contain any of the characters
        C(/), C(%), C(&), C(<) and C(>), which the Prefect API rejects.
      - Names starting with V(prefect) are reserved, see the description.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the pool, V(absent) deletes it.
      - Deleting a pool deletes its work queues too. Deployments and flow runs that used the pool lose their link
        to it (their work queue becomes none), even when a pool of the same name is created again. Deploy them
        again.
    type: str
    choices: [present, absent]
    default: present
  type:
    description:
      - The worker type of the pool, for example V(process), V(docker) or V(kubernetes). Only workers of this type
        take work from the pool.
      - Required to create a pool. Unset, the type of an existing pool is not checked.
      - When the pool is created without O(base_job_template), the type must be one that the server's worker
        registry knows (C(GET /api/collections/views/aggregate-worker-metadata), the list the Prefect UI offers);
        the module fails for a type it does not know and names the types it knows. For a worker type from a
        package the registry does not list, give its O(base_job_template).
      - A pool's type cannot be changed in place, see O(recreate).
    type: str
  description:
    description:
      - Description of the pool, shown in the Prefect UI.
      - V("") removes the description (the API then returns an empty string); an empty description and no
        description count as the same.
    type: str
  concurrency_limit:
    description:
      - The most flow runs that may run at the same time from this pool, over all of its workers.
      - V(0) lets no flow run start. V(-1) removes the limit.
    type: int
  is_paused:
    description:
      - Whether the pool is paused. Workers of a paused pool take no new flow runs.
    type: bool
  base_job_template:
    description:
      - The whole base job template of the pool, a dictionary with the keys C(job_configuration) and
        C(variables) (a JSON schema), as C(prefect work-pool get-default-base-job-template --type TYPE) prints it.
        The module makes the pool's template equal to it (after O(job_variables) are applied).
      - V({}) empties the template; the first worker that connects then fills in its default one.
      - Unset when a pool is created, the module sends the default template for O(type) from the server's worker
        registry, as C(prefect work-pool create) and the Prefect UI do. Unset for an existing pool, the template is
        not managed, unless O(job_variables) is set.
    type: dict
  job_variables:
    description:
      - Default values of job variables, merged into the base job template. Each key must be a variable of the
        template (a property of its C(variables) schema); its value becomes that variable's C(default).
        A V(null) value removes the default of that variable. Variables not listed keep their defaults.
      - For a V(process) pool the variables are C(command), C(env), C(labels), C(name), C(stream_output) and
        C(working_dir), see the examples.
      - The defaults are applied to O(base_job_template) when that is given, else to the pool's current template,
        else (new pool, or a pool whose template is still empty) to the default template for O(type).
      - Deployments and flow runs can override these defaults with their own C(job_variables).
      - The module checks that each value has a JSON type its variable allows (for example a dictionary for
        C(env)), because the Prefect API checks defaults against the variables' schema only when a pool is
        created, not when it is updated.
    type: dict
  recreate:
    description:
      - What to do when the existing pool has another type than O(type).
      - V(false) fails, the pool is left alone.
      - V(true) deletes the pool and creates it again with O(type), as O(state=absent) and then O(state=present)
        would. Its ID and its work queues (other than C(default)) are lost, and its deployments lose their link
        to it (deploy them again). O(description), O(concurrency_limit) and O(is_paused) keep their old values
        unless given; the base job template is the default one for the new type unless O(base_job_template) is
        given (the old one belongs to the old type).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module only reads. It predicts RV(ignore:changed), RV(work_pool) and the diff.
  diff_mode:
    support: full
    details:
      - The diff shows the name, type, description, concurrency limit, paused state and base job template before
        and after the change; an empty dictionary stands for a pool that does not exist.
  idempotent:
    support: full
notes:
  - The pool's C(storage_configuration) and its work queues are not managed by this module.
  - Prefect servers create a pool C(default-agent-pool) (type C(prefect-agent), for the agents of Prefect 2) when a
    work queue is created without a pool. The module treats it as any other pool.
  - Prefect's worker registry lists the worker types of Prefect's own integrations. A server without internet access
    answers with the copy bundled with its Prefect version. When the registry cannot be read at all, the module
    warns and creates the pool with an empty template, which its first worker fills in.
seealso:
  - name: Prefect work pools
    description: Concepts, work pool types and base job templates.
    link: https://docs.prefect.io/v3/concepts/work-pools
  - name: Prefect REST API, work pools
    description: The endpoints this module uses.
    link: https://docs.prefect.io/v3/api-ref/rest-api/server/work-pools/create-work-pool
  - module: prefect_ops.prefect.api_health
    description: Wait until the Prefect API answers before managing pools.
"""

EXAMPLES = r"""
- name: A process work pool with at most 10 flow runs at a time
  prefect_ops.prefect.work_pool:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    name: default
    type: process
    description: Flows of the data team
    concurrency_limit: 10

- name: Set the connection once for every Prefect API module
  module_defaults:
    group/prefect_ops.prefect.prefect_api:
      url: http://prefect.example.com:4200
      auth_string: "{{ prefect_api_auth_string }}"
  block:
    - name: Wait for the API
      prefect_ops.prefect.api_health:

    - name: A pool whose flow runs start in /opt/flows with some environment variables
      prefect_ops.prefect.work_pool:
        name: etl
        type: process
        job_variables:
          working_dir: /opt/flows
          env:
            TZ: UTC
            PREFECT_LOGGING_LEVEL: INFO
      register: etl_pool

    - name: Show the pool as the server has it
      ansible.builtin.debug:
        msg: "Pool {{ etl_pool.work_pool.name }} ({{ etl_pool.work_pool.id }}) is {{ etl_pool.work_pool.status }}"

    - name: Pause the pool for a maintenance window and remove its concurrency limit
      prefect_ops.prefect.work_pool:
        name: etl
        is_paused: true
        concurrency_limit: -1

    - name: Give the pool a whole base job template of its own
      prefect_ops.prefect.work_pool:
        name: etl
        type: process
        base_job_template: "{{ lookup('ansible.builtin.file', 'files/etl-template.json') | from_json }}"

    - name: Turn the process pool into a docker pool (deletes and creates it again)
      prefect_ops.prefect.work_pool:
        name: etl
        type: docker
        recreate: true

    - name: Delete a pool
      prefect_ops.prefect.work_pool:
        name: old-pool
        state: absent

- name: Create the pools once, not once per worker host
  prefect_ops.prefect.work_pool:
    url: "http://{{ groups['server'][0] }}:4200"
    auth_string: "{{ prefect_api_auth_string }}"
    name: "{{ item }}"
    type: process
  loop: [etl, reports]
  run_once: true
"""

RETURN = r"""
work_pool:
  description:
    - The pool as the server returns it from C(GET /api/work_pools/{name}) after the change.
    - Empty when the pool does not exist (any more).
    - In check mode the predicted pool. A pool that would be created then has only the fields the module sends
      and the defaults the server fills in (no RV(work_pool.id), no RV(work_pool.status)). For a pool that would
      be updated, the fields the server derives (RV(work_pool.status), C(active_slots), C(updated)) keep their
      current values.
  returned: always
  type: dict
  contains:
    id:
      description: ID of the pool.
      type: str
      sample: 1a8cb35d-b0a2-48cc-beb8-0e5cc2cebee2
    name:
      description: Name of the pool.
      type: str
      sample: default
    type:
      description: Worker type of the pool.
      type: str
      sample: process
    description:
      description: Description of the pool.
      type: str
      sample: Flows of the data team
    concurrency_limit:
      description: Concurrency limit of the pool, V(null) for none.
      type: int
      sample: 10
    is_paused:
      description: Whether the pool is paused.
      type: bool
      sample: false
    status:
      description: V(READY) (a worker is online), V(NOT_READY) or V(PAUSED).
      type: str
      sample: NOT_READY
    base_job_template:
      description: The base job template, with C(job_configuration) and C(variables).
      type: dict
      sample: {"job_configuration": {"command": "{{ command }}"}, "variables": {"type": "object", "properties": {}}}
    default_queue_id:
      description: ID of the pool's C(default) work queue.
      type: str
      sample: 1de655db-b0ad-40d9-a880-87cb91aeb2e8
  sample:
    id: 1a8cb35d-b0a2-48cc-beb8-0e5cc2cebee2
    created: "2026-01-05T13:34:10.156287Z"
    updated: "2026-01-05T13:34:10.178000Z"
    name: default
    description: Flows of the data team
    type: process
    base_job_template:
      job_configuration:
        command: "{{ command }}"
      variables:
        type: object
        properties:
          command:
            type: string
    is_paused: false
    concurrency_limit: 10
    status: NOT_READY
    default_queue_id: 1de655db-b0ad-40d9-a880-87cb91aeb2e8
    storage_configuration:
      bundle_upload_step: null
      bundle_execution_step: null
      default_result_storage_block_id: null
    active_slots: 0
action:
  description:
    - What the module did (or would do, in check mode).
    - V(created), V(updated), V(recreated) (deleted and created again for a new O(type)), V(deleted) or V(none).
  returned: always
  type: str
  sample: updated
changed_fields:
  description:
    - The fields that changed (or would change), among C(name), C(type), C(description), C(concurrency_limit),
      C(is_paused) and C(base_job_template). All of them when the pool is created or deleted.
  returned: always
  type: list
  elements: str
  sample: [concurrency_limit, is_paused]
url:
  description: The API base URL the module used, O(url) with C(/api) appended when it was missing.
  returned: always
  type: str
  sample: http://prefect.example.com:4200/api
server_version:
  description: The Prefect release the server runs, read to compare it with O(client_version).
  returned: when O(client_version) is set
  type: str
  sample: 3.9.1
"""

import copy

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.prefect_ops.prefect.plugins.module_utils._api_module import PrefectApiModule
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiError,
    PrefectAuthError,
    PrefectConnectionError,
    PrefectHTTPError,
    PrefectNotFoundError,
    quote_path_segment,
)
from ansible_collections.prefect_ops.prefect.plugins.module_utils._names import (
    RESERVED_POOL_PREFIX as RESERVED_PREFIX,
    is_reserved_pool_name as is_reserved,
    name_problem,
)

RESERVED_UPDATABLE = ('is_paused', 'concurrency_limit')
WORKER_REGISTRY_PATH = '/collections/views/aggregate-worker-metadata'
# The fields the module manages, in the order they appear in diffs.
DIFF_FIELDS = ('name', 'type', 'description', 'concurrency_limit', 'is_paused', 'base_job_template')
# Values a new pool gets from the server for the fields the module does not send (WorkPoolCreate).
CREATE_DEFAULTS = dict(description=None, concurrency_limit=None, is_paused=False, base_job_template={})
# Python types of the JSON types of a job variable's schema.
JSON_TYPES = dict(string=(str,), boolean=(bool,), object=(dict,), array=(list,), number=(int, float), integer=(int,))


def same_description(a, b):
    return (a or None) == (b or None)


def json_types_of(schema):
    """The JSON types a variable's schema allows (from "type" or "anyOf"/"oneOf"); None when it does not say."""
    options = schema.get('anyOf') or schema.get('oneOf') or [schema]
    types = []
    for option in options:
        kind = option.get('type') if isinstance(option, dict) else None
        if kind is None:
            return None
        types.extend(kind if isinstance(kind, list) else [kind])
    return types


def fits_json_types(value, types):
    for name in types:
        if name == 'null' and value is None:
            return True
        if name in ('integer', 'number') and isinstance(value, bool):
            continue
        if name == 'integer' and isinstance(value, float) and value.is_integer():
            return True
        if isinstance(value, JSON_TYPES.get(name, ())):
            return True
    return False


def apply_job_variables(template, job_variables, what):
    """Return a copy of ``template`` with the defaults of ``job_variables``; raise ValueError when one does not fit."""
    template = copy.deepcopy(template)
    variables = template.get('variables') if isinstance(template, dict) else None
    properties = variables.get('properties') if isinstance(variables, dict) else None
    if not isinstance(properties, dict):
        raise ValueError('%s has no variables schema with properties to set job_variables defaults in' % what)
    unknown = sorted(k for k in job_variables if k not in properties)
    if unknown:
        raise ValueError('job_variables %s %s not a variable of %s; its variables are: %s' % (
            ', '.join(unknown), 'is' if len(unknown) == 1 else 'are', what, ', '.join(sorted(properties)) or 'none'))
    for key, value in job_variables.items():
        prop = properties[key]
        if not isinstance(prop, dict):
            raise ValueError('variable %s of %s is not a JSON schema object' % (key, what))
        if value is None:
            if prop.get('default') is not None:
                del prop['default']
        else:
            types = json_types_of(prop)
            if types is not None and not fits_json_types(value, types):
                raise ValueError('job_variables %s must be of type %s to fit its variable in %s, got %s %r' % (
                    key, ' or '.join(types), what, type(value).__name__, value))
            prop['default'] = copy.deepcopy(value)
    return template


def managed_view(pool):
    """The fields of ``pool`` that diffs show; {} for no pool."""
    if not pool:
        return {}
    return dict((key, copy.deepcopy(pool.get(key))) for key in DIFF_FIELDS)


class WorkPool(PrefectApiModule):
    gates_client_version = True

    def __init__(self):
        super().__init__(dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            type=dict(type='str'),
            description=dict(type='str'),
            concurrency_limit=dict(type='int'),
            is_paused=dict(type='bool'),
            base_job_template=dict(type='dict'),
            job_variables=dict(type='dict'),
            recreate=dict(type='bool', default=False),
        ))
        params = self.params
        self.name = params['name']
        self.state = params['state']
        self.type = params['type']
        self.description = params['description']
        self.concurrency_limit = params['concurrency_limit']
        self.is_paused = params['is_paused']
        self.base_job_template = params['base_job_template']
        self.job_variables = params['job_variables']
        self.recreate = params['recreate']
        self.check_mode = self.module.check_mode
        self.path = '/work_pools/' + quote_path_segment(self.name)
        self._registry = None
        self._registry_read = False
        self.before = None
        self.result.update(changed=False, action='none', changed_fields=[], work_pool={})

    def check_params(self):
        params = self.params
        problem = name_problem(params['name'])
        if problem:
            self.module.fail_json(msg='Work pool name %r %s' % (params['name'], problem))
        if params['type'] is not None:
            params['type'] = params['type'].strip()
            if not params['type']:
                self.module.fail_json(msg='type must not be empty; leave it unset to keep the type of an existing pool')
        if params['concurrency_limit'] is not None and params['concurrency_limit'] < -1:
            self.module.fail_json(msg='concurrency_limit must be 0 or more, or -1 to remove the limit, got %d'
                                  % params['concurrency_limit'])
        template = params['base_job_template']
        if template and not (isinstance(template.get('job_configuration'), dict)
                             and isinstance(template.get('variables'), dict)):
            self.module.fail_json(msg='base_job_template must be {} or have both a job_configuration and a variables '
                                      'dictionary, as "prefect work-pool get-default-base-job-template --type TYPE" '
                                      'prints it')

    # -- errors ------------------------------------------------------------------

    def fail_api(self, exc, doing):
        if isinstance(exc, PrefectAuthError) and exc.status == 403 and exc.detail and 'reserved' in exc.detail.lower():
            self.fail('The Prefect API at %s refused to %s: %s' % (self.client.api_url, doing, exc.detail))
        super().fail_api(exc, doing)

    # -- API calls -----------------------------------------------------------------

    def _check_pool(self, pool, doing):
        if not isinstance(pool, dict) or not isinstance(pool.get('name'), str) or 'type' not in pool:
            self.fail('The server at %s does not answer like a Prefect API: %s answered %r instead of a work pool. '
                      'Check that url is the base URL of the Prefect API.'
                      % (self.client.api_url, doing, pool if not isinstance(pool, (str, bytes)) else pool[:200]))
        return pool

    def read(self):
        """The pool from the server, or None when there is none."""
        try:
            pool = self.client.get(self.path)
        except PrefectNotFoundError as exc:
            if self.work_pool_missing(exc):
                return None
        except PrefectApiError as exc:
            self.fail_api(exc, 'read work pool %r' % self.name)
        return self._check_pool(pool, 'GET /api/work_pools/%s' % quote_path_segment(self.name))

    def worker_templates(self):
        """{type: default base job template} from the server's worker registry; None when it cannot be read."""
        if self._registry_read:
            return self._registry
        self._registry_read = True
        try:
            data = self.client.get(WORKER_REGISTRY_PATH)
        except (PrefectAuthError, PrefectConnectionError) as exc:
            self.fail_api(exc, 'read the worker types it knows')
        except PrefectApiError as exc:
            self.module.warn('Cannot read the worker types the Prefect server knows (%s), so the type %r is not '
                             'checked and no default base job template is sent.' % (exc, self.type))
            return None
        templates = {}
        if isinstance(data, dict):
            for collection in data.values():
                if not isinstance(collection, dict):
                    continue
                for worker in collection.values():
                    if isinstance(worker, dict) and isinstance(worker.get('type'), str):
                        templates[worker['type']] = worker.get('default_base_job_configuration') or {}
        self._registry = templates
        return templates

    def default_template(self, pool_type, needed_for):
        """The registry's default template for ``pool_type``; fails when it is unknown."""
        templates = self.worker_templates()
        if templates is None:
            self.fail('The default base job template of type %r is needed for %s, but the Prefect server did not '
                      'give its worker types; give base_job_template.' % (pool_type, needed_for))
        if pool_type not in templates:
            self.fail('Unknown work pool type %r: the Prefect server knows the worker types %s. Correct type, or, '
                      'for a worker type from a package the server does not list, give its base_job_template '
                      '(prefect work-pool get-default-base-job-template --type TYPE prints it).'
                      % (pool_type, ', '.join(sorted(templates)) or 'none'))
        return copy.deepcopy(templates[pool_type])

    # -- desired state -------------------------------------------------------------------

    def _with_job_variables(self, template, what):
        if not self.job_variables:
            return template
        try:
            return apply_job_variables(template, self.job_variables, what)
        except ValueError as exc:
            self.fail(to_native(exc))

    def template_for_new_pool(self, pool_type):
        """The base_job_template to send when creating a pool of ``pool_type``; None to send none."""
        if self.base_job_template is not None:
            return self._with_job_variables(self.base_job_template, 'base_job_template')
        templates = self.worker_templates()
        if templates is None:
            if self.job_variables:
                self.default_template(pool_type, 'job_variables')
            return None
        return self._with_job_variables(self.default_template(pool_type, 'a new pool'),
                                        'the default base job template of type %s' % pool_type)

    def template_for_pool(self, pool):
        """The base_job_template the existing ``pool`` must have; None when it is not managed."""
        if self.base_job_template is not None:
            return self._with_job_variables(self.base_job_template, 'base_job_template')
        if self.job_variables is None:
            return None
        current = pool.get('base_job_template')
        if current:
            return self._with_job_variables(current, 'the base job template of pool %s' % self.name)
        # A pool no worker has connected to yet has an empty template: start from the type's default.
        return self._with_job_variables(self.default_template(pool['type'], 'job_variables'),
                                        'the default base job template of type %s' % pool['type'])

    def create_body(self, pool_type, old=None):
        old = old or {}
        body = dict(name=self.name, type=pool_type)
        description = self.description if self.description is not None else old.get('description')
        if description is not None:
            body['description'] = description
        if self.concurrency_limit is not None:
            limit = None if self.concurrency_limit == -1 else self.concurrency_limit
        else:
            limit = old.get('concurrency_limit')
        if limit is not None:
            body['concurrency_limit'] = limit
        is_paused = self.is_paused if self.is_paused is not None else old.get('is_paused')
        if is_paused is not None:
            body['is_paused'] = is_paused
        template = self.template_for_new_pool(pool_type)
        if template is not None:
            body['base_job_template'] = template
        return body

    def update_body(self, pool):
        """The PATCH body that brings ``pool`` to the desired state ({} when nothing differs)."""
        body = {}
        if self.description is not None and not same_description(self.description, pool.get('description')):
            body['description'] = self.description
        if self.concurrency_limit is not None:
            limit = None if self.concurrency_limit == -1 else self.concurrency_limit
            if limit != pool.get('concurrency_limit'):
                body['concurrency_limit'] = limit
        if self.is_paused is not None and self.is_paused != pool.get('is_paused'):
            body['is_paused'] = self.is_paused
        template = self.template_for_pool(pool)
        if template is not None and template != (pool.get('base_job_template') or {}):
            body['base_job_template'] = template
        return body

    # -- actions -----------------------------------------------------------------------

    def _post(self, body):
        try:
            return self._check_pool(self.client.post('/work_pools/', body), 'POST /api/work_pools/')
        except PrefectHTTPError as exc:
            if exc.status == 409:
                return None
            self.fail_api(exc, 'create work pool %r' % self.name)
        except PrefectApiError as exc:
            self.fail_api(exc, 'create work pool %r' % self.name)

    def _delete(self, doing):
        try:
            self.client.delete(self.path)
        except PrefectNotFoundError:
            pass
        except PrefectApiError as exc:
            self.fail_api(exc, doing)

    def _patch(self, body):
        try:
            self.client.patch(self.path, body)
        except PrefectApiError as exc:
            self.fail_api(exc, 'update work pool %r' % self.name)

    def create(self):
        if is_reserved(self.name):
            self.fail('Work pool %r does not exist and cannot be created: the Prefect API reserves names that start '
                      'with %r (in any case) for its own pools. Choose another name.' % (self.name, RESERVED_PREFIX))
        if self.type is None:
            self.fail('Work pool %r does not exist; type is required to create it (for example type: process).'
                      % self.name)
        body = self.create_body(self.type)
        if self.check_mode:
            predicted = dict(CREATE_DEFAULTS)
            predicted.update(copy.deepcopy(body))
            return 'created', predicted
        pool = self._post(body)
        if pool is None:
            # Created by someone else since we looked (HTTP 409): manage that one.
            pool = self.read()
            if pool is None:
                self.fail('Creating work pool %r answered HTTP 409 (it exists), but it cannot be read.' % self.name)
            self.before = pool
            if pool.get('type') != self.type:
                self.fail('Work pool %r was created by someone else at the same time, with type %r instead of %r; '
                          'run the module again.' % (self.name, pool.get('type'), self.type))
            return self.update(pool)
        return 'created', pool

    def recreate_pool(self, pool):
        if is_reserved(self.name):
            self.fail('Work pool %r has type %r, not %r, and cannot be recreated: the Prefect API does not let pools '
                      'whose names start with %r be deleted or created.'
                      % (self.name, pool['type'], self.type, RESERVED_PREFIX))
        body = self.create_body(self.type, old=pool)
        if self.check_mode:
            predicted = dict(CREATE_DEFAULTS)
            predicted.update(copy.deepcopy(body))
            return 'recreated', predicted
        self._delete('delete work pool %r (to recreate it with type %r)' % (self.name, self.type))
        new = self._post(body)
        if new is None:
            self.fail('Work pool %r was deleted to recreate it with type %r, but in the meantime someone else created '
                      'it again; run the module again.' % (self.name, self.type))
        return 'recreated', new

    def update(self, pool):
        body = self.update_body(pool)
        if not body:
            return 'none', pool
        if is_reserved(self.name):
            refused = sorted(set(body) - set(RESERVED_UPDATABLE))
            if refused:
                self.fail('Work pool %r is reserved by Prefect (its name starts with %r): the API only lets its %s '
                          'change, not its %s.' % (self.name, RESERVED_PREFIX, ' and '.join(RESERVED_UPDATABLE),
                                                   ', '.join(refused)))
        if self.check_mode:
            predicted = copy.deepcopy(pool)
            predicted.update(copy.deepcopy(body))
            return 'updated', predicted
        self._patch(body)
        new = self.read()
        if new is None:
            self.fail('Work pool %r disappeared while it was updated.' % self.name)
        return 'updated', new

    def delete(self, pool):
        if is_reserved(self.name):
            self.fail('Work pool %r cannot be deleted: the Prefect API reserves pools whose names start with %r and '
                      'refuses to delete them.' % (self.name, RESERVED_PREFIX))
        if not self.check_mode:
            self._delete('delete work pool %r' % self.name)
        return 'deleted', {}

    # -- main ------------------------------------------------------------------------------

    def run(self):
        pool = self.before = self.read()
        if self.state == 'absent':
            action, after = ('none', {}) if pool is None else self.delete(pool)
        elif pool is None:
            action, after = self.create()
        elif self.type is not None and self.type != pool.get('type'):
            if not self.recreate:
                self.fail('Work pool %r has type %r, not %r, and the Prefect API cannot change the type of a pool. '
                          'Set recreate=true to delete the pool and create it again with type %r (its work queues, '
                          'its ID and the links of its deployments are lost), use another pool name, or set type to %r.'
                          % (self.name, pool.get('type'), self.type, self.type, pool.get('type')))
            action, after = self.recreate_pool(pool)
        else:
            action, after = self.update(pool)

        before_view = managed_view(self.before)
        after_view = managed_view(after)
        changed = action != 'none'
        if action in ('created', 'deleted'):
            fields = list(DIFF_FIELDS)
        else:
            fields = [key for key in DIFF_FIELDS if before_view.get(key) != after_view.get(key)]
        self.result.update(changed=changed, action=action, changed_fields=fields if changed else [],
                           work_pool=after or {})
        if self.module._diff:
            self.result['diff'] = dict(before=before_view, after=after_view)
        verb = dict(recreated='recreated with type %s' % self.type).get(action, action)
        self.exit_with_change('Work pool %s' % self.name, action, verb, fields, self.state)


def main():
    WorkPool().run()


if __name__ == '__main__':
    main()
