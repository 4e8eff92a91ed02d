#!/usr/bin/python
# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: automation
short_description: Create, update and delete Prefect automations
version_added: 0.1.0
description:
  - Manages one automation of a Prefect server (a trigger and the actions it runs) through its REST API
    (C(/api/automations/)), by name, idempotently.
  - With O(state=present) the module creates the automation when no automation has its name, and otherwise
    replaces it when what it holds differs from the options given. The server fills in the defaults of a trigger
    and of each action; the module compares only what the options say, so a trigger given with its defaults left
    out matches the one the server holds. Lists of plain values (C(after), C(expect), C(for_each), C(tags), the
    values of C(match)) are compared as sets, as the server keeps them; lists of actions in order.
  - With O(state=absent) the module deletes every automation of that name.
  - Prefect does not make automation names unique. When several automations share the name, O(state=present)
    fails and names their IDs, rather than guess which one to change.
author:
  - prefect_ops maintainers (@prefect-ops)
extends_documentation_fragment:
  - prefect_ops.prefect.prefect_api
  - prefect_ops.prefect.attributes
options:
  name:
    description: Name of the automation, the key by which the module finds it.
    type: str
    required: true
  state:
    description: V(present) creates or updates the automation, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Description of the automation, shown in the Prefect UI. Unset, it is not managed.
    type: str
  enabled:
    description: Whether the automation runs. Unset, a new automation is enabled and an existing one keeps its state.
    type: bool
  tags:
    description: Tags of the automation. Unset, they are not managed.
    type: list
    elements: str
  trigger:
    description:
      - The trigger, as Prefect's API takes it, for example an event trigger with C(type=event), C(posture)
        (V(Reactive) or V(Proactive)), C(match), C(after), C(expect), C(for_each), C(threshold) and C(within)
        (seconds). See the examples and Prefect's documentation of automation triggers.
      - Required to create an automation. Unset for an existing one, its trigger is not managed.
    type: dict
  actions:
    description:
      - The actions run when the trigger fires, each a dictionary with its C(type), for example
        V(change-flow-run-state) with C(state) and C(message).
      - Required to create an automation. Unset for an existing one, its actions are not managed.
    type: list
    elements: dict
  actions_on_trigger:
    description: Actions run when the trigger enters its triggered state. Unset, they are not managed.
    type: list
    elements: dict
  actions_on_resolve:
    description: Actions run when the trigger resolves. Unset, they are not managed.
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module only reads. It predicts RV(ignore:changed) and the diff.
  diff_mode:
    support: full
    details:
      - The diff shows the managed fields before and after, as the module sends them; an empty dictionary stands
        for an automation that does not exist.
  idempotent:
    support: full
notes:
  - The server checks the trigger and the actions. What it refuses (an unknown posture, a missing field) fails the
    module with the server's own explanation.
seealso:
  - name: Prefect automations
    description: Triggers, actions and what they can do.
    link: https://docs.prefect.io/v3/concepts/automations
  - name: Detect and respond to zombie flows
    description: The heartbeat automation this module's example sets up.
    link: https://docs.prefect.io/v3/advanced/detect-zombie-flows
  - module: prefect_ops.prefect.work_pool
    description: Manage work pools through the same API.
"""

EXAMPLES = r"""
- name: Mark flow runs CRASHED when their heartbeats stop (three missed at 30 s)
  prefect_ops.prefect.automation:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    name: zombie-flow-runs
    description: Flow runs whose process died are marked crashed
    trigger:
      type: event
      posture: Proactive
      match:
        prefect.resource.id: prefect.flow-run.*
      after: [prefect.flow-run.heartbeat]
      expect:
        - prefect.flow-run.heartbeat
        - prefect.flow-run.Completed
        - prefect.flow-run.Failed
        - prefect.flow-run.Cancelled
        - prefect.flow-run.Crashed
      for_each: [prefect.resource.id]
      threshold: 1
      within: 90
    actions:
      - type: change-flow-run-state
        state: CRASHED
        message: The flow run sent no heartbeat for 90 seconds.

- name: Pause it for a maintenance window
  prefect_ops.prefect.automation:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    name: zombie-flow-runs
    enabled: false

- name: Delete it
  prefect_ops.prefect.automation:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    name: zombie-flow-runs
    state: absent
"""

RETURN = r"""
automation:
  description: The automation as the server holds it afterwards (as it would, in check mode); empty when absent.
  returned: success
  type: dict
  sample:
    id: 41292992-320d-4a40-b75c-ae486fd61f20
    name: zombie-flow-runs
    enabled: true
    trigger: {type: event, posture: Proactive, within: 90.0}
    actions: [{type: change-flow-run-state, state: CRASHED}]
action:
  description: What the module did (or would do, in check mode).
  returned: success
  type: str
  sample: updated
  choices: [created, updated, deleted, none]
changed_fields:
  description: The managed fields that differed.
  returned: success
  type: list
  elements: str
  sample: [trigger]
url:
  description: The base URL of the API the module talked to.
  returned: always
  type: str
  sample: http://prefect.example.com:4200/api
"""

import copy

from ansible_collections.prefect_ops.prefect.plugins.module_utils._api_module import PrefectApiModule
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiError,
    PrefectNotFoundError,
    quote_path_segment,
)

# The fields the module manages, in the order they appear in diffs and in a PUT body.
FIELDS = ('name', 'description', 'enabled', 'tags', 'trigger', 'actions', 'actions_on_trigger', 'actions_on_resolve')


def _plain(value):
    return value is None or isinstance(value, (str, int, float, bool))


def matches(wanted, held):
    """Whether what the server holds (``held``) says what ``wanted`` says: every key of a wanted
    dictionary with a matching value (keys left out are the server's to fill), lists of plain
    values as sets, other lists item by item, numbers by value (90 is 90.0)."""
    if isinstance(wanted, dict):
        return isinstance(held, dict) and all(key in held and matches(value, held[key]) for key, value in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(held, list) or len(wanted) != len(held):
            return False
        if all(_plain(item) for item in wanted) and all(_plain(item) for item in held):
            return sorted(map(repr, _numbers_as_floats(wanted))) == sorted(map(repr, _numbers_as_floats(held)))
        return all(matches(w, h) for w, h in zip(wanted, held))
    if isinstance(wanted, bool) or isinstance(held, bool):
        return wanted is held
    if isinstance(wanted, (int, float)) and isinstance(held, (int, float)):
        return float(wanted) == float(held)
    if isinstance(wanted, str) and isinstance(held, list):
        # match: {"prefect.resource.id": "a"} is held as ["a"].
        return held == [wanted]
    return wanted == held


def _numbers_as_floats(values):
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in values]


def managed_view(automation):
    """The fields of ``automation`` that diffs show; {} for none."""
    if not automation:
        return {}
    return dict((key, copy.deepcopy(automation.get(key))) for key in FIELDS if key in automation)


class Automation(PrefectApiModule):

    def __init__(self):
        super().__init__(dict(
            name=dict(type='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            description=dict(type='str'),
            enabled=dict(type='bool'),
            tags=dict(type='list', elements='str'),
            trigger=dict(type='dict'),
            actions=dict(type='list', elements='dict'),
            actions_on_trigger=dict(type='list', elements='dict'),
            actions_on_resolve=dict(type='list', elements='dict'),
        ))
        self.name = self.params['name']
        self.check_mode = self.module.check_mode
        self.wanted = dict((key, self.params[key]) for key in FIELDS if key != 'name' and self.params[key] is not None)

    def check_params(self):
        if not self.params['name'].strip():
            self.module.fail_json(msg='name must not be empty.')

    # -- API ---------------------------------------------------------------------------------

    def find(self):
        """Every automation with this name."""
        try:
            found = self.client.post('/automations/filter', {'automations': {'name': {'any_': [self.name]}}})
        except PrefectApiError as exc:
            self.fail_api(exc, 'list the automations named %r' % self.name)
        return [automation for automation in found or [] if automation.get('name') == self.name]

    def read(self, automation_id):
        try:
            return self.client.get('/automations/%s' % quote_path_segment(automation_id))
        except PrefectNotFoundError:
            self.fail('Automation %r (%s) disappeared while it was updated.' % (self.name, automation_id))
        except PrefectApiError as exc:
            self.fail_api(exc, 'read automation %r' % self.name)
        return None

    # -- actions -----------------------------------------------------------------------------

    def create(self):
        missing = [key for key in ('trigger', 'actions') if key not in self.wanted]
        if missing:
            self.fail('Automation %r does not exist; to create it, set %s.' % (self.name, ' and '.join(missing)))
        body = dict(name=self.name, **self.wanted)
        if self.check_mode:
            return 'created', body, list(FIELDS)
        try:
            created = self.client.post('/automations/', body, expected_status=(200, 201))
        except PrefectApiError as exc:
            self.fail_api(exc, 'create automation %r' % self.name)
        return 'created', created, list(FIELDS)

    def update(self, held):
        differing = [key for key in FIELDS if key in self.wanted and not matches(self.wanted[key], held.get(key))]
        if not differing:
            return 'none', held, []
        # PUT replaces the whole automation: what the options do not manage is sent back as the server holds it.
        body = dict((key, copy.deepcopy(held[key])) for key in FIELDS if key in held)
        body.update(copy.deepcopy(self.wanted))
        body['name'] = self.name
        if self.check_mode:
            predicted = copy.deepcopy(held)
            predicted.update(body)
            return 'updated', predicted, differing
        try:
            self.client.put('/automations/%s' % quote_path_segment(held['id']), body, expected_status=(200, 204))
        except PrefectApiError as exc:
            self.fail_api(exc, 'update automation %r' % self.name)
        return 'updated', self.read(held['id']), differing

    def delete(self, found):
        if not self.check_mode:
            for automation in found:
                try:
                    self.client.delete('/automations/%s' % quote_path_segment(automation['id']),
                                       expected_status=(200, 204, 404))
                except PrefectApiError as exc:
                    self.fail_api(exc, 'delete automation %r (%s)' % (self.name, automation['id']))
        return 'deleted', {}, list(FIELDS)

    # -- main --------------------------------------------------------------------------------

    def run(self):
        found = self.find()
        if self.params['state'] == 'absent':
            before = found[0] if found else {}
            action, after, fields = self.delete(found) if found else ('none', {}, [])
        elif len(found) > 1:
            self.fail('%d automations are named %r (IDs %s): the module cannot tell which one to manage. Delete or '
                      'rename the others (state=absent deletes them all).'
                      % (len(found), self.name, ', '.join(a['id'] for a in found)))
        elif not found:
            before = {}
            action, after, fields = self.create()
        else:
            before = found[0]
            action, after, fields = self.update(before)
        changed = action != 'none'
        self.result.update(changed=changed, action=action, changed_fields=fields, automation=after or {})
        if self.module._diff:
            self.result['diff'] = dict(before=managed_view(before), after=managed_view(after))
        self.exit_with_change('Automation %s' % self.name, action, action, fields, self.params['state'])


def main():
    Automation().run()


if __name__ == '__main__':
    main()
