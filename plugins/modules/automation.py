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
  - prefect_ops.prefect.prefect_api.client_version
  - prefect_ops.prefect.attributes
options:
  name:
    description:
      - Name of the automation, the key by which the module finds it.
      - Required unless O(automations) is set; the two are mutually exclusive.
    type: str
  automations:
    description:
      - Several automations, managed in one run of the module with one request that finds them all. Each item is a
        dictionary of the options of one automation, C(name) (required), C(state), C(description), C(enabled),
        C(tags), C(trigger), C(actions), C(actions_on_trigger) and C(actions_on_resolve), as documented here.
      - An item without C(state) takes O(state). The module fails before it changes anything when an item is
        invalid, and names the item.
      - Mutually exclusive with O(name) and the other options of one automation.
    type: list
    elements: dict
  state:
    description:
      - V(present) creates or updates the automation, V(absent) deletes it.
      - With O(automations), the state of each item that does not set its own.
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
        for an automation that does not exist. With O(automations), before and after map each name to them.
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

- name: Keep two automations, in one run of the module
  prefect_ops.prefect.automation:
    url: http://prefect.example.com:4200/api
    auth_string: "{{ prefect_api_auth_string }}"
    automations:
      - name: zombie-flow-runs
        enabled: true
      - name: an-automation-no-longer-wanted
        state: absent

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
  returned: success, with O(name)
  type: dict
  sample:
    id: 41292992-320d-4a40-b75c-ae486fd61f20
    name: zombie-flow-runs
    enabled: true
    trigger: {type: event, posture: Proactive, within: 90.0}
    actions: [{type: change-flow-run-state, state: CRASHED}]
action:
  description: What the module did (or would do, in check mode).
  returned: success, with O(name)
  type: str
  sample: updated
  choices: [created, updated, deleted, none]
changed_fields:
  description: The managed fields that differed.
  returned: success, with O(name)
  type: list
  elements: str
  sample: [trigger]
results:
  description: With O(automations), one item per automation, in their order, with its RV(automation), RV(action) and
    RV(changed_fields), and its C(name).
  returned: success, with O(automations)
  type: list
  elements: dict
  sample:
    - name: zombie-flow-runs
      action: none
      changed_fields: []
      automation: {id: 41292992-320d-4a40-b75c-ae486fd61f20, name: zombie-flow-runs, enabled: true}
url:
  description: The base URL of the API the module talked to.
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

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.prefect_ops.prefect.plugins.module_utils._api_module import PrefectApiModule
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiError,
    PrefectNotFoundError,
    quote_path_segment,
)

# The fields the module manages, in the order they appear in diffs and in a PUT body.
FIELDS = ('name', 'description', 'enabled', 'tags', 'trigger', 'actions', 'actions_on_trigger', 'actions_on_resolve')

# The options of one automation: the module's own, and those of each item of automations.
AUTOMATION_SPEC = dict(
    name=dict(type='str'),
    state=dict(type='str', choices=['present', 'absent']),
    description=dict(type='str'),
    enabled=dict(type='bool'),
    tags=dict(type='list', elements='str'),
    trigger=dict(type='dict'),
    actions=dict(type='list', elements='dict'),
    actions_on_trigger=dict(type='list', elements='dict'),
    actions_on_resolve=dict(type='list', elements='dict'),
)


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


class Wanted:
    """One automation as the options describe it: its name, state and managed fields."""

    def __init__(self, options, default_state):
        self.name = options['name']
        self.state = options.get('state') or default_state
        self.fields = dict((key, options[key]) for key in FIELDS if key != 'name' and options.get(key) is not None)


class Automation(PrefectApiModule):
    gates_client_version = True

    def __init__(self):
        spec = copy.deepcopy(AUTOMATION_SPEC)
        spec['state']['default'] = 'present'
        spec['automations'] = dict(type='list', elements='dict')
        one = [key for key in AUTOMATION_SPEC if key != 'state']
        super().__init__(spec, required_one_of=[('name', 'automations')],
                         mutually_exclusive=[('automations', key) for key in one])
        self.check_mode = self.module.check_mode

    def check_params(self):
        if self.params['automations'] is None:
            self.wanted = [Wanted(self.params, self.params['state'])]
        else:
            self.wanted = [self._item(index, item) for index, item in enumerate(self.params['automations'])]
        for index, wanted in enumerate(self.wanted):
            if not (wanted.name or '').strip():
                self.module.fail_json(msg='name must not be empty.' if self.params['automations'] is None
                                      else 'automations[%d]: name must not be empty.' % index)
        names = [wanted.name for wanted in self.wanted]
        repeated = sorted(set(name for name in names if names.count(name) > 1))
        if repeated:
            self.module.fail_json(msg='automations names %s more than once: give each automation once.'
                                  % ', '.join(repr(name) for name in repeated))

    def _item(self, index, item):
        validated = ArgumentSpecValidator(AUTOMATION_SPEC).validate(item)
        errors = validated.error_messages
        if not errors and not item.get('name'):
            errors = ['missing required arguments: name']
        if errors:
            self.module.fail_json(msg='automations[%d] (%s): %s' % (
                index, item.get('name') or 'no name', '; '.join(errors)))
        return Wanted(validated.validated_parameters, self.params['state'])

    # -- API ---------------------------------------------------------------------------------

    def find(self):
        """The automations with the wanted names, by name, in one request."""
        names = [wanted.name for wanted in self.wanted]
        try:
            found = self.client.post('/automations/filter', {'automations': {'name': {'any_': names}}})
        except PrefectApiError as exc:
            self.fail_api(exc, 'list the automations named %s' % ', '.join(repr(name) for name in names))
        by_name = dict((name, []) for name in names)
        for automation in found or []:
            if automation.get('name') in by_name:
                by_name[automation['name']].append(automation)
        return by_name

    def read(self, name, automation_id):
        try:
            return self.client.get('/automations/%s' % quote_path_segment(automation_id))
        except PrefectNotFoundError:
            self.fail('Automation %r (%s) disappeared while it was updated.' % (name, automation_id))
        except PrefectApiError as exc:
            self.fail_api(exc, 'read automation %r' % name)
        return None

    # -- actions -----------------------------------------------------------------------------

    def create(self, wanted):
        body = dict(name=wanted.name, **wanted.fields)
        if self.check_mode:
            return 'created', body, list(FIELDS)
        try:
            created = self.client.post('/automations/', body, expected_status=(200, 201))
        except PrefectApiError as exc:
            self.fail_api(exc, 'create automation %r' % wanted.name)
        return 'created', created, list(FIELDS)

    def update(self, wanted, held):
        differing = [key for key in FIELDS if key in wanted.fields and not matches(wanted.fields[key], held.get(key))]
        if not differing:
            return 'none', held, []
        # PUT replaces the whole automation: what the options do not manage is sent back as the server holds it.
        body = dict((key, copy.deepcopy(held[key])) for key in FIELDS if key in held)
        body.update(copy.deepcopy(wanted.fields))
        body['name'] = wanted.name
        if self.check_mode:
            predicted = copy.deepcopy(held)
            predicted.update(body)
            return 'updated', predicted, differing
        try:
            self.client.put('/automations/%s' % quote_path_segment(held['id']), body, expected_status=(200, 204))
        except PrefectApiError as exc:
            self.fail_api(exc, 'update automation %r' % wanted.name)
        return 'updated', self.read(wanted.name, held['id']), differing

    def delete(self, name, found):
        if not self.check_mode:
            for automation in found:
                try:
                    self.client.delete('/automations/%s' % quote_path_segment(automation['id']),
                                       expected_status=(200, 204, 404))
                except PrefectApiError as exc:
                    self.fail_api(exc, 'delete automation %r (%s)' % (name, automation['id']))
        return 'deleted', {}, list(FIELDS)

    # -- main --------------------------------------------------------------------------------

    def check_all(self, by_name):
        """Fail, before anything changes, for an automation the module cannot manage."""
        for wanted in self.wanted:
            found = by_name[wanted.name]
            if wanted.state == 'absent':
                continue
            if len(found) > 1:
                self.fail('%d automations are named %r (IDs %s): the module cannot tell which one to manage. Delete or '
                          'rename the others (state=absent deletes them all).'
                          % (len(found), wanted.name, ', '.join(a['id'] for a in found)))
            missing = [key for key in ('trigger', 'actions') if key not in wanted.fields]
            if not found and missing:
                self.fail('Automation %r does not exist; to create it, set %s.' % (wanted.name, ' and '.join(missing)))

    def apply(self, wanted, found):
        """(before, action, after, fields) for one automation."""
        if wanted.state == 'absent':
            return (found[0] if found else {},) + (self.delete(wanted.name, found) if found else ('none', {}, []))
        if not found:
            return ({},) + self.create(wanted)
        return (found[0],) + self.update(wanted, found[0])

    def run(self):
        by_name = self.find()
        self.check_all(by_name)
        outcomes = [(wanted,) + self.apply(wanted, by_name[wanted.name]) for wanted in self.wanted]
        changed = any(action != 'none' for _wanted, _before, action, _after, _fields in outcomes)
        if self.params['automations'] is None:
            wanted, before, action, after, fields = outcomes[0]
            self.result.update(changed=changed, action=action, changed_fields=fields, automation=after or {})
            if self.module._diff:
                self.result['diff'] = dict(before=managed_view(before), after=managed_view(after))
            self.exit_with_change('Automation %s' % wanted.name, action, action, fields, wanted.state)
        self.result.update(changed=changed, results=[
            dict(name=wanted.name, action=action, changed_fields=fields, automation=after or {})
            for wanted, _before, action, after, fields in outcomes])
        if self.module._diff:
            self.result['diff'] = dict(
                before=dict((wanted.name, managed_view(before)) for wanted, before, _a, _after, _f in outcomes),
                after=dict((wanted.name, managed_view(after)) for wanted, _b, _a, after, _f in outcomes))
        self.exit('Automations: %s' % ', '.join(
            '%s %s' % (wanted.name, self.outcome_word(action, wanted.state))
            for wanted, _before, action, _after, _fields in outcomes))

    def outcome_word(self, action, state):
        if action == 'none':
            return 'unchanged' if state == 'present' else 'is absent'
        return ('would be ' if self.check_mode else '') + action


def main():
    Automation().run()


if __name__ == '__main__':
    main()
