# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs prefect_ops.prefect.work_pool through its main() against a real HTTP server on 127.0.0.1.

The server is the fake Prefect API of conftest.py, with its stateful work pool store.
"""

from __future__ import annotations

import base64
import functools
import copy
import json
import os

import pytest
import yaml

from ansible_collections.prefect_ops.prefect.plugins.modules import work_pool

RESULT_KEYS = {'changed', 'action', 'changed_fields', 'work_pool', 'url', 'msg'}
MANAGED = ('name', 'type', 'description', 'concurrency_limit', 'is_paused', 'base_job_template')
REGISTRY_PATH = '/api/collections/views/aggregate-worker-metadata'


@pytest.fixture
def run(run_module):
    """Run work_pool with the given arguments; return (failed, result)."""
    return functools.partial(run_module, work_pool.main)


@pytest.fixture
def api(server):
    """The fake server, answering 404s for missing pools in the words of the real one."""
    server.fake.pool_not_found_detail = 'Work pool "{name}" not found.'
    server.args = dict(url=server.base_url)
    return server


# The default templates of the fake server's worker registry (conftest.WORKER_REGISTRY).
REGISTRY = {}


@pytest.fixture(autouse=True)
def registry(server):
    REGISTRY.clear()
    for collection in server.fake.worker_registry.values():
        for worker in collection.values():
            REGISTRY[worker['type']] = worker['default_base_job_configuration']


def registry_template(pool_type):
    return copy.deepcopy(REGISTRY[pool_type])


def process_template(**defaults):
    template = registry_template('process')
    for key, value in defaults.items():
        template['variables']['properties'][key]['default'] = value
    return template


def body_of(request):
    return json.loads(request['body'])


def last(server, method):
    return [r for r in server.fake.requests if r['method'] == method][-1]


# -- create ------------------------------------------------------------------------

def test_create(run, api):
    failed, result = run(name='etl', type='process', description='ETL flows', concurrency_limit=4, **api.args)
    assert not failed, result
    assert RESULT_KEYS <= set(result)
    assert result['changed'] is True
    assert result['action'] == 'created'
    assert result['changed_fields'] == list(MANAGED)
    assert result['url'] == api.base_url + '/api'
    assert 'diff' not in result
    stored = api.fake.pools['etl']
    assert result['work_pool'] == stored
    assert stored['type'] == 'process'
    assert stored['description'] == 'ETL flows'
    assert stored['concurrency_limit'] == 4
    assert stored['is_paused'] is False
    assert stored['status'] == 'NOT_READY'
    # Like `prefect work-pool create` and the UI: the default template of the type, from the server's registry.
    assert stored['base_job_template'] == process_template()
    assert [(r['method'], r['path']) for r in api.fake.requests] == [
        ('GET', '/api/work_pools/etl'), ('GET', REGISTRY_PATH), ('POST', '/api/work_pools/')]
    assert body_of(last(api, 'POST')) == dict(name='etl', type='process', description='ETL flows',
                                              concurrency_limit=4, base_job_template=process_template())


def test_create_minimal_sends_only_what_is_given(run, api):
    failed, result = run(name='etl', type='docker', **api.args)
    assert not failed, result
    assert body_of(last(api, 'POST')) == dict(name='etl', type='docker',
                                              base_job_template=registry_template('docker'))
    assert result['work_pool']['description'] is None
    assert result['work_pool']['concurrency_limit'] is None


def test_create_paused(run, api):
    failed, result = run(name='etl', type='process', is_paused=True, **api.args)
    assert not failed, result
    assert result['work_pool']['is_paused'] is True
    assert result['work_pool']['status'] == 'PAUSED'


def test_create_check_mode(run, api):
    failed, result = run(check_mode=True, diff=True, name='etl', type='process', description='ETL flows',
                         concurrency_limit=4, **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert result['action'] == 'created'
    assert 'would be created' in result['msg']
    assert api.fake.pools == {}
    assert api.fake.pool_writes() == []
    predicted = result['work_pool']
    assert predicted == dict(name='etl', type='process', description='ETL flows', concurrency_limit=4,
                             is_paused=False, base_job_template=process_template())
    assert result['diff'] == dict(before={}, after=predicted)


def test_create_then_check_mode_matches(run, api):
    """What check mode predicts is what the real run then does."""
    args = dict(name='etl', type='process', description='x', is_paused=True, job_variables=dict(working_dir='/srv'),
                **api.args)
    failed, predicted = run(check_mode=True, **args)
    assert not failed, predicted
    failed, done = run(**args)
    assert not failed, done
    for key in ('changed', 'action', 'changed_fields'):
        assert predicted[key] == done[key]
    for key in MANAGED:
        assert predicted['work_pool'][key] == done['work_pool'][key], key


def test_create_needs_type(run, api):
    failed, result = run(name='etl', description='x', **api.args)
    assert failed
    assert 'type is required to create it' in result['msg']
    assert api.fake.pool_writes() == []


def test_create_unknown_type(run, api):
    failed, result = run(name='etl', type='proccess', **api.args)
    assert failed
    assert "Unknown work pool type 'proccess'" in result['msg']
    assert 'docker, process' in result['msg']
    assert 'base_job_template' in result['msg']
    assert api.fake.pool_writes() == []


def test_create_custom_type_with_template(run, api):
    template = copy.deepcopy(registry_template('docker'))
    failed, result = run(name='mine', type='my-worker', base_job_template=template, **api.args)
    assert not failed, result
    assert result['work_pool']['type'] == 'my-worker'
    assert result['work_pool']['base_job_template'] == template
    # The template is given: the registry is not asked.
    assert not api.fake.calls(REGISTRY_PATH)


def test_create_with_empty_template(run, api):
    failed, result = run(name='etl', type='process', base_job_template={}, **api.args)
    assert not failed, result
    assert result['work_pool']['base_job_template'] == {}
    failed, result = run(name='etl', type='process', base_job_template={}, **api.args)
    assert not failed and result['changed'] is False


def test_create_without_registry_warns(run, api):
    api.fake.registry_status = 404
    failed, result = run(name='etl', type='process', **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert 'base_job_template' not in body_of(last(api, 'POST'))
    assert result['work_pool']['base_job_template'] == {}
    assert 'Cannot read the worker types' in json.dumps(result['warnings'])


def test_create_without_registry_cannot_apply_job_variables(run, api):
    api.fake.registry_status = 404
    failed, result = run(name='etl', type='process', job_variables=dict(working_dir='/srv'), **api.args)
    assert failed
    assert 'give base_job_template' in result['msg']
    assert api.fake.pool_writes() == []


@pytest.mark.parametrize('name', ['my pool ä?#', '..', '.', 'default-agent-pool', 'Pool:with;odd=chars'])
def test_odd_names_round_trip(run, api, name):
    failed, result = run(name=name, type='process', **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert name in api.fake.pools
    failed, result = run(name=name, type='process', **api.args)
    assert not failed, result
    assert result['changed'] is False, result
    failed, result = run(name=name, state='absent', **api.args)
    assert not failed and result['changed'] is True
    assert name not in api.fake.pools


def test_dot_names_are_quoted(run, api):
    run(name='..', type='process', **api.args)
    assert api.fake.requests[0]['path'] == '/api/work_pools/%2E%2E'


# -- idempotence and updates ---------------------------------------------------------------

def test_second_call_changes_nothing(run, api):
    args = dict(name='etl', type='process', description='ETL flows', concurrency_limit=4, is_paused=False,
                job_variables=dict(working_dir='/srv/flows', env=dict(TZ='UTC')), **api.args)
    failed, first = run(**args)
    assert not failed and first['changed'] is True
    writes = api.fake.pool_writes()
    assert writes == [('POST', '/api/work_pools/')]
    failed, second = run(diff=True, **args)
    assert not failed, second
    assert second['changed'] is False
    assert second['action'] == 'none'
    assert second['changed_fields'] == []
    assert second['diff']['before'] == second['diff']['after']
    assert api.fake.pool_writes() == writes
    assert second['work_pool'] == api.fake.pools['etl']
    assert 'unchanged' in second['msg']


def test_options_not_given_are_not_managed(run, api):
    api.fake.add_pool('etl', type='process', description='keep', concurrency_limit=3, is_paused=True,
                      base_job_template=process_template())
    failed, result = run(name='etl', **api.args)
    assert not failed, result
    assert result['changed'] is False
    assert api.fake.pool_writes() == []
    assert api.fake.pools['etl']['description'] == 'keep'


@pytest.mark.parametrize('args, patch', [
    (dict(description='new text'), dict(description='new text')),
    (dict(concurrency_limit=10), dict(concurrency_limit=10)),
    (dict(concurrency_limit=0), dict(concurrency_limit=0)),
    (dict(concurrency_limit=-1), dict(concurrency_limit=None)),
    (dict(is_paused=True), dict(is_paused=True)),
    (dict(description='new text', is_paused=True, type='process'), dict(description='new text', is_paused=True)),
])
def test_update(run, api, args, patch):
    api.fake.add_pool('etl', type='process', description='old text', concurrency_limit=3)
    failed, result = run(name='etl', **dict(args, **api.args))
    assert not failed, result
    assert result['changed'] is True
    assert result['action'] == 'updated'
    assert result['changed_fields'] == [k for k in MANAGED if k in patch]
    assert api.fake.pool_writes() == [('PATCH', '/api/work_pools/etl')]
    assert body_of(last(api, 'PATCH')) == patch
    for key, value in patch.items():
        assert api.fake.pools['etl'][key] == value
    assert result['work_pool'] == api.fake.pools['etl']
    # and the same again changes nothing
    failed, again = run(name='etl', **dict(args, **api.args))
    assert not failed and again['changed'] is False
    assert api.fake.pool_writes() == [('PATCH', '/api/work_pools/etl')]


def test_unpause_sets_status(run, api):
    api.fake.add_pool('etl', type='process', is_paused=True)
    failed, result = run(name='etl', is_paused=False, **api.args)
    assert not failed, result
    assert result['work_pool']['is_paused'] is False
    assert result['work_pool']['status'] == 'NOT_READY'


def test_no_limit_when_there_is_none_is_no_change(run, api):
    api.fake.add_pool('etl', type='process')
    failed, result = run(name='etl', concurrency_limit=-1, **api.args)
    assert not failed and result['changed'] is False
    assert api.fake.pool_writes() == []


@pytest.mark.parametrize('stored, given, changed', [
    (None, '', False),
    ('', '', False),
    ('text', '', True),
    (None, 'text', True),
])
def test_empty_description(run, api, stored, given, changed):
    api.fake.add_pool('etl', type='process', description=stored)
    failed, result = run(name='etl', description=given, **api.args)
    assert not failed, result
    assert result['changed'] is changed


def test_update_check_mode(run, api):
    api.fake.add_pool('etl', type='process', description='old', concurrency_limit=3)
    before = copy.deepcopy(api.fake.pools['etl'])
    failed, result = run(check_mode=True, diff=True, name='etl', description='new', concurrency_limit=-1,
                         is_paused=True, **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert result['action'] == 'updated'
    assert result['changed_fields'] == ['description', 'concurrency_limit', 'is_paused']
    assert 'would be updated' in result['msg']
    assert api.fake.pool_writes() == []
    assert api.fake.pools['etl'] == before
    predicted = result['work_pool']
    assert predicted['id'] == before['id']
    assert (predicted['description'], predicted['concurrency_limit'], predicted['is_paused']) == ('new', None, True)
    assert result['diff']['before']['description'] == 'old'
    assert result['diff']['after']['description'] == 'new'


def test_diff_of_update(run, api):
    api.fake.add_pool('etl', type='process', description='old', concurrency_limit=3,
                      base_job_template=process_template())
    failed, result = run(diff=True, name='etl', concurrency_limit=5, **api.args)
    assert not failed, result
    assert set(result['diff']) == {'before', 'after'}
    before, after = result['diff']['before'], result['diff']['after']
    assert set(before) == set(after) == set(MANAGED)
    assert before['concurrency_limit'] == 3 and after['concurrency_limit'] == 5
    assert [k for k in MANAGED if before[k] != after[k]] == ['concurrency_limit']
    assert after == dict((k, api.fake.pools['etl'][k]) for k in MANAGED)


def test_diff_of_create_and_delete(run, api):
    failed, created = run(diff=True, name='etl', type='process', **api.args)
    assert not failed
    assert created['diff']['before'] == {}
    assert created['diff']['after']['name'] == 'etl'
    assert created['diff']['after']['type'] == 'process'
    failed, deleted = run(diff=True, name='etl', state='absent', **api.args)
    assert not failed
    assert deleted['diff']['before'] == created['diff']['after']
    assert deleted['diff']['after'] == {}


# -- base job template and job variables -------------------------------------------------------

def test_job_variables_on_create(run, api):
    failed, result = run(name='etl', type='process',
                         job_variables=dict(working_dir='/srv/flows', env=dict(TZ='UTC'), stream_output=False),
                         **api.args)
    assert not failed, result
    assert result['work_pool']['base_job_template'] == process_template(
        working_dir='/srv/flows', env=dict(TZ='UTC'), stream_output=False)


def test_job_variables_merge_into_current_template(run, api):
    template = process_template(working_dir='/old', command='python -m custom')
    api.fake.add_pool('etl', type='process', base_job_template=template)
    failed, result = run(diff=True, name='etl', job_variables=dict(working_dir='/new'), **api.args)
    assert not failed, result
    assert result['changed_fields'] == ['base_job_template']
    assert result['work_pool']['base_job_template'] == process_template(working_dir='/new',
                                                                        command='python -m custom')
    assert body_of(last(api, 'PATCH')) == dict(base_job_template=result['work_pool']['base_job_template'])
    failed, again = run(name='etl', job_variables=dict(working_dir='/new'), **api.args)
    assert not failed and again['changed'] is False


def test_job_variables_on_pool_with_empty_template_start_from_default(run, api):
    api.fake.add_pool('etl', type='process')
    failed, result = run(name='etl', job_variables=dict(working_dir='/srv'), **api.args)
    assert not failed, result
    assert result['work_pool']['base_job_template'] == process_template(working_dir='/srv')


def test_job_variable_null_removes_default(run, api):
    api.fake.add_pool('etl', type='process', base_job_template=process_template(working_dir='/srv'))
    failed, result = run(name='etl', job_variables=dict(working_dir=None), **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert 'default' not in result['work_pool']['base_job_template']['variables']['properties']['working_dir']
    failed, again = run(name='etl', job_variables=dict(working_dir=None), **api.args)
    assert not failed and again['changed'] is False


def test_job_variables_applied_to_given_template(run, api):
    failed, result = run(name='etl', type='process', base_job_template=process_template(),
                         job_variables=dict(command='run-it'), **api.args)
    assert not failed, result
    assert result['work_pool']['base_job_template'] == process_template(command='run-it')


def test_unknown_job_variable(run, api):
    failed, result = run(name='etl', type='process', job_variables=dict(workdir='/srv', image='x'), **api.args)
    assert failed
    assert 'job_variables image, workdir are not a variable of the default base job template of type process' \
        in result['msg']
    assert 'command, env, labels, name, stream_output, working_dir' in result['msg']
    assert api.fake.pool_writes() == []


@pytest.mark.parametrize('variables', [dict(env='TZ=UTC'), dict(stream_output='yes'), dict(working_dir=5)])
def test_job_variable_of_wrong_type(run, api, variables):
    api.fake.add_pool('etl', type='process', base_job_template=process_template())
    failed, result = run(name='etl', job_variables=variables, **api.args)
    assert failed
    assert 'must be of type' in result['msg']
    assert api.fake.pool_writes() == []


def test_whole_template_replaced(run, api):
    api.fake.add_pool('etl', type='process', base_job_template=process_template(working_dir='/srv'))
    failed, result = run(name='etl', base_job_template=process_template(), **api.args)
    assert not failed, result
    assert result['changed_fields'] == ['base_job_template']
    assert api.fake.pools['etl']['base_job_template'] == process_template()


def test_template_refused_by_server(run, api):
    template = process_template()
    template['job_configuration']['extra'] = '{{ undeclared }}'
    failed, result = run(name='etl', type='process', base_job_template=template, **api.args)
    assert failed
    assert 'refused to create work pool' in result['msg']
    assert 'undeclared variable(s): undeclared' in result['msg']


def test_template_without_keys_fails_early(run, api):
    failed, result = run(name='etl', type='process', base_job_template=dict(job_configuration={}), **api.args)
    assert failed
    assert 'base_job_template must be {} or have both a job_configuration and a variables' in result['msg']
    assert api.fake.requests == []


# -- type changes -----------------------------------------------------------------------------

def test_type_change_refused(run, api):
    api.fake.add_pool('etl', type='process', description='keep me')
    failed, result = run(name='etl', type='docker', description='other', **api.args)
    assert failed
    assert "Work pool 'etl' has type 'process', not 'docker'" in result['msg']
    assert 'cannot change the type' in result['msg']
    assert 'recreate=true' in result['msg']
    assert api.fake.pool_writes() == []
    assert api.fake.pools['etl']['description'] == 'keep me'


def test_type_change_recreate(run, api):
    old = api.fake.add_pool('etl', type='process', description='keep me', concurrency_limit=2, is_paused=True,
                            base_job_template=process_template(working_dir='/srv'))
    failed, result = run(diff=True, name='etl', type='docker', recreate=True, **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert result['action'] == 'recreated'
    assert result['changed_fields'] == ['type', 'base_job_template']
    assert api.fake.pool_writes() == [('DELETE', '/api/work_pools/etl'), ('POST', '/api/work_pools/')]
    new = api.fake.pools['etl']
    assert new['id'] != old['id']
    assert new['type'] == 'docker'
    assert (new['description'], new['concurrency_limit'], new['is_paused']) == ('keep me', 2, True)
    assert new['base_job_template'] == registry_template('docker')
    assert result['work_pool'] == new
    assert result['diff']['before']['type'] == 'process'
    assert result['diff']['after']['type'] == 'docker'
    failed, again = run(name='etl', type='docker', recreate=True, **api.args)
    assert not failed and again['changed'] is False


def test_type_change_recreate_check_mode(run, api):
    api.fake.add_pool('etl', type='process', description='keep me')
    before = copy.deepcopy(api.fake.pools['etl'])
    failed, result = run(check_mode=True, name='etl', type='docker', recreate=True, concurrency_limit=1, **api.args)
    assert not failed, result
    assert result['action'] == 'recreated'
    assert result['work_pool']['type'] == 'docker'
    assert result['work_pool']['concurrency_limit'] == 1
    assert result['work_pool']['description'] == 'keep me'
    assert api.fake.pool_writes() == []
    assert api.fake.pools['etl'] == before


def test_type_change_to_unknown_type_fails_before_delete(run, api):
    api.fake.add_pool('etl', type='process')
    failed, result = run(name='etl', type='dokcer', recreate=True, **api.args)
    assert failed
    assert 'Unknown work pool type' in result['msg']
    assert api.fake.pool_writes() == []
    assert 'etl' in api.fake.pools


# -- absent ---------------------------------------------------------------------------------

def test_absent_when_present(run, api):
    api.fake.add_pool('etl', type='process')
    failed, result = run(name='etl', state='absent', **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert result['action'] == 'deleted'
    assert result['work_pool'] == {}
    assert api.fake.pool_writes() == [('DELETE', '/api/work_pools/etl')]
    assert api.fake.pools == {}


def test_absent_when_absent(run, api):
    failed, result = run(diff=True, name='etl', state='absent', **api.args)
    assert not failed, result
    assert result['changed'] is False
    assert result['action'] == 'none'
    assert result['diff'] == dict(before={}, after={})
    assert api.fake.pool_writes() == []
    assert 'is absent' in result['msg']


def test_absent_check_mode(run, api):
    api.fake.add_pool('etl', type='process')
    failed, result = run(check_mode=True, name='etl', state='absent', **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert 'would be deleted' in result['msg']
    assert api.fake.pool_writes() == []
    assert 'etl' in api.fake.pools


# -- reserved names ------------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['prefect-managed', 'Prefect', 'PREFECT pool'])
def test_reserved_name_cannot_be_created(run, api, name):
    failed, result = run(name=name, type='process', **api.args)
    assert failed
    assert 'reserves names that start with' in result['msg']
    assert api.fake.pool_writes() == []


def test_reserved_pool_pause_and_limit(run, api):
    api.fake.add_pool('prefect-managed', type='prefect:managed')
    failed, result = run(name='prefect-managed', is_paused=True, concurrency_limit=3, **api.args)
    assert not failed, result
    assert result['changed'] is True
    assert api.fake.pools['prefect-managed']['is_paused'] is True


def test_reserved_pool_other_fields(run, api):
    api.fake.add_pool('prefect-managed', type='prefect:managed')
    failed, result = run(name='prefect-managed', description='x', is_paused=True, **api.args)
    assert failed
    assert 'only lets its is_paused and concurrency_limit change, not its description' in result['msg']
    assert api.fake.pool_writes() == []


def test_reserved_pool_cannot_be_deleted(run, api):
    api.fake.add_pool('prefect-managed', type='prefect:managed')
    failed, result = run(name='prefect-managed', state='absent', **api.args)
    assert failed
    assert 'cannot be deleted' in result['msg']
    assert api.fake.pool_writes() == []
    failed, result = run(name='prefect-other', state='absent', **api.args)
    assert not failed and result['changed'] is False


def test_reserved_answer_from_server_is_explained(run, api, monkeypatch):
    """Should the client-side check miss a case, the API's own 403 is shown, not an auth hint."""
    monkeypatch.setattr(work_pool, 'is_reserved', lambda name: False)
    failed, result = run(name='prefect-x', type='process', base_job_template={}, **api.args)
    assert failed
    assert "refused to create work pool 'prefect-x': Work pools starting with 'Prefect' are reserved" in result['msg']
    assert 'auth_string' not in result['msg']


# -- bad input and connection problems -----------------------------------------------------------------

@pytest.mark.parametrize('name, message', [
    ('a/b', "contains '/'"),
    ('50%', "contains '%'"),
    ('a&b', "contains '&'"),
    ('<pool>', "contains '>', '<'"),
    ('', 'is empty'),
    ('  ', 'is empty'),
    ('"\' \'"', 'is empty'),
])
def test_bad_name(run, api, name, message):
    failed, result = run(name=name, type='process', **api.args)
    assert failed
    assert message in result['msg']
    assert api.fake.requests == []


def test_bad_name_message_lists_the_rule(run, api):
    failed, result = run(name='team/etl', state='absent', **api.args)
    assert failed
    assert result['msg'] == ("Work pool name 'team/etl' contains '/', which the Prefect API rejects in names "
                             "(it rejects / % & > <). Choose a name without them.")


@pytest.mark.parametrize('args, message', [
    (dict(concurrency_limit=-2), 'concurrency_limit must be 0 or more, or -1'),
    (dict(type=' '), 'type must not be empty'),
    (dict(request_timeout=0), 'request_timeout must be greater than 0'),
    (dict(state='gone'), 'value of state must be one of'),
])
def test_bad_options(run, api, args, message):
    failed, result = run(name='etl', **dict(api.args, **args))
    assert failed
    assert message in result['msg']
    assert api.fake.requests == []


@pytest.mark.parametrize('given, hint', [(None, 'set auth_string'), ('admin:wrong', 'Set auth_string to exactly')])
def test_unauthorized(run, api, given, hint):
    api.fake.auth_string = 'admin:s3cret'
    args = dict(name='etl', type='process', **api.args)
    if given:
        args['auth_string'] = given
    failed, result = run(**args)
    assert failed
    assert '401' in result['msg']
    assert hint in result['msg']
    assert 'PREFECT_SERVER_API_AUTH_STRING' in result['msg']
    assert 'wrong' not in json.dumps(result)
    assert api.fake.pool_writes() == []


def test_authorized(run, api):
    api.fake.auth_string = 'admin:s3cret'
    failed, result = run(name='etl', type='process', auth_string='admin:s3cret', **api.args)
    assert not failed, result
    expected = 'Basic ' + base64.b64encode(b'admin:s3cret').decode()
    assert {r['headers']['authorization'] for r in api.fake.requests} == {expected}


def test_unreachable(run, closed_port):
    failed, result = run(url='http://127.0.0.1:%d' % closed_port, name='etl', type='process')
    assert failed
    assert 'Cannot reach the Prefect API at http://127.0.0.1:%d/api' % closed_port in result['msg']
    assert 'connection refused' in result['msg']
    assert 'Nothing listens there' in result['msg']
    assert result['changed'] is False


def test_not_the_api(run, api):
    failed, result = run(name='etl', type='process', url=api.base_url + '/ui')
    assert failed
    assert 'does not answer like a Prefect API' in result['msg']
    assert 'ends in /api' in result['msg']
    assert api.fake.pool_writes() == []


def test_not_found_in_older_words(run, server):
    """A missing pool is recognised by the detail of the 404, in either wording."""
    assert server.fake.pool_not_found_detail == 'Work pool not found.'
    failed, result = run(url=server.base_url, name='etl', type='process')
    assert not failed and result['action'] == 'created'


def test_server_error(run, api):
    api.fake.force_status = 500
    failed, result = run(name='etl', type='process', **api.args)
    assert failed
    assert 'HTTP 500' in result['msg']


def test_concurrent_create_is_managed(run, api, monkeypatch):
    """Someone creates the pool between the module's GET and its POST: the module updates that pool."""
    real_create_body = work_pool.WorkPool.create_body

    def create_body_and_race(self, pool_type, old=None):
        body = real_create_body(self, pool_type, old)
        api.fake.add_pool('etl', type='process', description='theirs', base_job_template=process_template())
        return body
    monkeypatch.setattr(work_pool.WorkPool, 'create_body', create_body_and_race)
    failed, result = run(name='etl', type='process', description='mine', **api.args)
    assert not failed, result
    assert result['action'] == 'updated'
    assert result['changed_fields'] == ['description']
    assert api.fake.pools['etl']['description'] == 'mine'
    assert [m for m, p in api.fake.pool_writes()] == ['POST', 'PATCH']


# -- helpers and collection metadata ---------------------------------------------------------------------

@pytest.mark.parametrize('name, ok', [
    ('default', True), ('my pool', True), ('ä', True), ("it's", True), ('..', True),
    ('a/b', False), ('%', False), ('&', False), ('>', False), ('<', False), ('', False), (" ' ", False),
])
def test_name_problem(name, ok):
    assert (work_pool.name_problem(name) is None) is ok


def test_action_group_holds_every_module_that_talks_to_the_api():
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..')
    with open(os.path.join(root, 'meta', 'runtime.yml')) as f:
        groups = yaml.safe_load(f)['action_groups']
    modules_dir = os.path.join(root, 'plugins', 'modules')
    api_modules = []
    for name in sorted(os.listdir(modules_dir)):
        with open(os.path.join(modules_dir, name)) as f:
            if name.endswith('.py') and 'prefect_ops.prefect.prefect_api' in f.read():
                api_modules.append(name[:-3])
    assert api_modules == ['api_health', 'automation', 'work_pool', 'worker_info']
    assert sorted(groups['prefect_api']) == api_modules


def test_a_server_older_than_client_version_is_refused_before_any_change(run, api):
    api.fake.version = '3.9.1'
    failed, result = run(name='etl', type='process', client_version='3.10.0', **api.args)
    assert failed
    assert 'runs 3.9.1, older than its clients (client_version 3.10.0)' in result['msg']
    assert 'Nothing was changed' in result['msg']
    assert result['server_version'] == '3.9.1'
    assert api.fake.pools == {} and api.fake.pool_writes() == []


@pytest.mark.parametrize('client_version', ['3.9.1', '3.9.0', '3.1.8.dev3'])
def test_a_server_as_new_as_its_clients_is_managed(run, api, client_version):
    api.fake.version = '3.9.1'
    failed, result = run(name='etl', type='process', client_version=client_version, **api.args)
    assert not failed, result
    assert result['action'] == 'created' and result['server_version'] == '3.9.1'


def test_without_client_version_the_server_version_is_not_read(run, api):
    failed, result = run(name='etl', type='process', **api.args)
    assert not failed, result
    assert api.fake.calls('/api/admin/version') == [] and 'server_version' not in result


def test_a_client_version_that_is_not_a_release_is_refused(run, api):
    failed, result = run(name='etl', type='process', client_version='latest', **api.args)
    assert failed
    assert "client_version 'latest'" in result['msg'] and 'release number such as 3.9.1' in result['msg']
    assert api.fake.pool_writes() == []
