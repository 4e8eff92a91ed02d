# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs prefect_ops.prefect.automation through its main() against a real HTTP server on 127.0.0.1.

The server is the fake Prefect API of conftest.py, with its stateful automation store.
"""

from __future__ import annotations

import copy
import functools
import json

import pytest

from ansible_collections.prefect_ops.prefect.plugins.modules import automation

ZOMBIE_TRIGGER = {
    'type': 'event',
    'posture': 'Proactive',
    'match': {'prefect.resource.id': 'prefect.flow-run.*'},
    'after': ['prefect.flow-run.heartbeat'],
    'expect': ['prefect.flow-run.heartbeat', 'prefect.flow-run.Completed', 'prefect.flow-run.Failed',
               'prefect.flow-run.Cancelled', 'prefect.flow-run.Crashed'],
    'for_each': ['prefect.resource.id'],
    'threshold': 1,
    'within': 90,
}
CRASH = [{'type': 'change-flow-run-state', 'state': 'CRASHED', 'message': 'No heartbeat for 90 s.'}]


@pytest.fixture
def run(run_module):
    """Run automation with the given arguments; return (failed, result)."""
    return functools.partial(run_module, automation.main)


@pytest.fixture
def api(server):
    server.args = dict(url=server.base_url)
    return server


def zombie(**extra):
    args = dict(name='zombie-runs', trigger=copy.deepcopy(ZOMBIE_TRIGGER), actions=copy.deepcopy(CRASH))
    args.update(extra)
    return args


def writes(server):
    return [(r['method'], r['path']) for r in server.fake.requests if r['method'] in ('POST', 'PUT', 'DELETE')
            and not r['path'].endswith('/filter')]


def test_create_then_nothing_to_do(run, api):
    failed, result = run(**zombie(description='crash silent runs'), **api.args)
    assert not failed, result
    assert (result['changed'], result['action']) == (True, 'created')
    held = list(api.fake.automations.values())
    assert len(held) == 1 and held[0]['trigger']['within'] == 90.0 and held[0]['description'] == 'crash silent runs'
    # The server keeps the events as a set and fills in defaults: still the same automation.
    assert held[0]['trigger']['expect'] != ZOMBIE_TRIGGER['expect']
    failed, result = run(**zombie(description='crash silent runs'), **api.args)
    assert not failed, result
    assert (result['changed'], result['action'], result['changed_fields']) == (False, 'none', [])
    assert writes(api) == [('POST', '/api/automations/')]


def test_a_changed_window_replaces_the_trigger_and_keeps_the_rest(run, api):
    run(**zombie(tags=['ops']), **api.args)
    trigger = dict(ZOMBIE_TRIGGER, within=120)
    failed, result = run(**zombie(trigger=trigger), diff=True, **api.args)
    assert not failed, result
    assert (result['action'], result['changed_fields']) == ('updated', ['trigger'])
    held = list(api.fake.automations.values())[0]
    assert held['trigger']['within'] == 120.0
    # Not managed by this call: kept as the server held it.
    assert held['tags'] == ['ops']
    assert result['diff']['before']['trigger']['within'] == 90.0
    assert result['diff']['after']['trigger']['within'] == 120.0
    assert writes(api)[-1][0] == 'PUT'


def test_check_mode_predicts_and_changes_nothing(run, api):
    failed, result = run(**zombie(), check_mode=True, **api.args)
    assert not failed, result
    assert (result['changed'], result['action']) == (True, 'created')
    assert api.fake.automations == {}
    run(**zombie(), **api.args)
    failed, result = run(**zombie(enabled=False), check_mode=True, **api.args)
    assert (result['changed'], result['changed_fields']) == (True, ['enabled'])
    assert list(api.fake.automations.values())[0]['enabled'] is True
    assert writes(api) == [('POST', '/api/automations/')]


def test_enabled_alone_manages_an_existing_automation(run, api):
    run(**zombie(), **api.args)
    failed, result = run(name='zombie-runs', enabled=False, **api.args)
    assert not failed, result
    assert result['changed_fields'] == ['enabled']
    held = list(api.fake.automations.values())[0]
    assert held['enabled'] is False and held['trigger']['posture'] == 'Proactive'


def test_a_new_automation_needs_its_trigger_and_actions(run, api):
    failed, result = run(name='zombie-runs', enabled=True, **api.args)
    assert failed
    assert result['msg'] == "Automation 'zombie-runs' does not exist; to create it, set trigger and actions."
    assert writes(api) == []


def test_the_servers_refusal_is_reported(run, api):
    failed, result = run(**zombie(trigger=dict(ZOMBIE_TRIGGER, posture='Sometimes')), **api.args)
    assert failed
    assert 'refused to create automation' in result['msg'] and 'posture' in result['msg'], result['msg']


def test_several_with_the_name_are_refused_and_all_deleted_when_absent(run, api):
    body = dict(zombie(), description='', enabled=True, tags=[], actions_on_trigger=[], actions_on_resolve=[])
    for automation_id in ('id-1', 'id-2'):
        api.fake.automations[automation_id] = dict(body, id=automation_id)
    failed, result = run(**zombie(), **api.args)
    assert failed
    assert "2 automations are named 'zombie-runs'" in result['msg']
    failed, result = run(name='zombie-runs', state='absent', **api.args)
    assert not failed and (result['changed'], result['action']) == (True, 'deleted')
    assert api.fake.automations == {}
    failed, result = run(name='zombie-runs', state='absent', **api.args)
    assert (result['changed'], result['msg']) == (False, 'Automation zombie-runs is absent')


def test_the_auth_string_is_sent(run, api):
    api.fake.auth_string = 'admin:secret'
    failed, result = run(**zombie(), **api.args)
    assert failed and 'auth_string' in result['msg']
    failed, result = run(**zombie(), auth_string='admin:secret', **api.args)
    assert not failed, result


@pytest.mark.parametrize('wanted, held, same', [
    ({'a': 1}, {'a': 1.0, 'b': 2}, True),
    ({'a': ['x', 'y']}, {'a': ['y', 'x']}, True),
    ({'a': ['x']}, {'a': ['x', 'y']}, False),
    ([{'type': 'a'}, {'type': 'b'}], [{'type': 'b'}, {'type': 'a'}], False),
    ({'m': 'x'}, {'m': ['x']}, True),
    ({'enabled': True}, {'enabled': 1}, False),
    ({'a': None}, {}, False),
])
def test_matches(wanted, held, same):
    assert automation.matches(wanted, held) is same


def test_the_request_bodies_are_json_the_server_takes(run, api):
    run(**zombie(), **api.args)
    created = json.loads([r for r in api.fake.requests if r['method'] == 'POST'][-1]['body'])
    assert set(created) == {'name', 'trigger', 'actions'}


def filters(server):
    return [r for r in server.fake.requests if r['path'].endswith('/automations/filter')]


def test_a_list_is_managed_in_one_request_that_finds_them_all(run, api):
    pending = zombie(name='stuck-pending', description='pending too long')
    failed, result = run(automations=[zombie(), pending], **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert [(r['name'], r['action']) for r in result['results']] == [('zombie-runs', 'created'),
                                                                     ('stuck-pending', 'created')]
    assert result['msg'] == 'Automations: zombie-runs created, stuck-pending created'
    assert sorted(a['name'] for a in api.fake.automations.values()) == ['stuck-pending', 'zombie-runs']
    assert len(filters(api)) == 1
    failed, result = run(automations=[zombie(), pending], **api.args)
    assert not failed, result
    assert (result['changed'], [r['action'] for r in result['results']]) == (False, ['none', 'none'])
    assert len(filters(api)) == 2


def test_an_item_takes_the_modules_state_unless_it_sets_its_own(run, api):
    run(automations=[zombie(), zombie(name='stuck-pending')], **api.args)
    failed, result = run(automations=[{'name': 'zombie-runs'}, {'name': 'stuck-pending', 'state': 'present'}],
                         state='absent', diff=True, **api.args)
    assert not failed, result
    assert [r['action'] for r in result['results']] == ['deleted', 'none']
    assert [a['name'] for a in api.fake.automations.values()] == ['stuck-pending']
    assert result['diff']['before']['zombie-runs']['name'] == 'zombie-runs'
    assert result['diff']['after'] == {'zombie-runs': {}, 'stuck-pending': result['diff']['before']['stuck-pending']}


def test_a_list_changes_nothing_when_one_item_cannot_be_managed(run, api):
    failed, result = run(automations=[zombie(), {'name': 'stuck-pending', 'enabled': True}], **api.args)
    assert failed
    assert result['msg'] == "Automation 'stuck-pending' does not exist; to create it, set trigger and actions."
    assert writes(api) == []


@pytest.mark.parametrize('items, msg', [
    ([{'name': 'a', 'enabled': 'often'}], 'automations[0] (a): '),
    ([{'name': 'a'}, {'enabled': True}], 'automations[1] (no name): missing required arguments: name'),
    ([{'name': 'a', 'colour': 'red'}], 'automations[0] (a): '),
    ([{'name': 'a'}, {'name': 'a'}], "automations names 'a' more than once"),
])
def test_an_invalid_item_is_named(run, api, items, msg):
    failed, result = run(automations=items, **api.args)
    assert failed
    assert result['msg'].startswith(msg), result['msg']
    assert api.fake.requests == []


def test_one_automation_or_a_list_not_both(run, api):
    failed, result = run(automations=[zombie()], **zombie(), **api.args)
    assert failed and 'mutually exclusive' in result['msg'], result['msg']
    failed, result = run(**api.args)
    assert failed and 'one of the following is required: name, automations' in result['msg'], result['msg']


def test_a_server_older_than_client_version_is_refused_before_any_change(run, api):
    api.fake.version = '3.9.1'
    failed, result = run(automations=[zombie()], client_version='3.99.0', **api.args)
    assert failed
    assert 'runs 3.9.1, older than its clients (client_version 3.99.0)' in result['msg']
    assert writes(api) == [] and api.fake.automations == {}
    failed, result = run(automations=[zombie()], client_version='3.9.1', **api.args)
    assert not failed, result
    assert writes(api) == [('POST', '/api/automations/')]
