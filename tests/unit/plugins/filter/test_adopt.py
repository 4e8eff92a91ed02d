# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.prefect_ops.prefect.plugins.filter import adopt

# The seed article's project as `docker compose config --format json` prints it, with
# DATABASE_URL from its .env file.
ARTICLE = {
    'name': 'prefect',
    'services': {
        'prefect': {
            'image': 'prefecthq/prefect:2-python3.12',
            'restart': 'always',
            'entrypoint': ['prefect', 'server', 'start'],
            'environment': {
                'PREFECT_SERVER_API_HOST': '0.0.0.0',
                'PREFECT_UI_URL': 'http://host:4200/api',
                'PREFECT_API_URL': 'http://host:4200/api',
                'PREFECT_API_DATABASE_CONNECTION_URL': 'postgresql+asyncpg://prefect:s3cr%40t%2Fpw@10.0.0.7/prefect',
                'PREFECT_API_DATABASE_ECHO': 'False',
                'PREFECT_API_DATABASE_MIGRATE_ON_START': 'True',
            },
            'ports': [{'mode': 'ingress', 'target': 4200, 'published': '4200', 'protocol': 'tcp'}],
            'volumes': [{'type': 'volume', 'source': 'prefect', 'target': '/root/.prefect'}],
        },
    },
    'volumes': {'prefect': {'name': 'prefect_prefect'}},
}


def project(**changes):
    service = dict(ARTICLE['services']['prefect'], **changes)
    return {'services': {'prefect': service}}


def test_the_article_s_project_is_adoptable_and_read_whole():
    found = adopt.hand_made_prefect(ARTICLE, ['10.0.0.7'])
    assert found['problems'] == []
    assert (found['service'], found['image'], found['major']) == ('prefect', 'prefecthq/prefect:2-python3.12', 2)
    assert found['database_setting'] == 'PREFECT_API_DATABASE_CONNECTION_URL'
    assert found['database'] == {'driver': 'postgresql+asyncpg', 'host': '10.0.0.7', 'port': 5432, 'name': 'prefect',
                                 'user': 'prefect', 'password': 's3cr@t/pw', 'local': True}
    assert found['volumes'][0]['target'] == '/root/.prefect'


def test_a_database_on_another_host_is_not_local():
    assert adopt.hand_made_prefect(ARTICLE, ['10.0.0.9'])['database']['local'] is False


@pytest.mark.parametrize('host', ['localhost', '127.0.0.1', 'host.docker.internal'])
def test_loopback_names_and_docker_s_host_gateway_are_local(host):
    url = 'postgresql+asyncpg://u:p@%s:5433/db' % host
    database = adopt.database_from_url(url)
    assert (database['host'], database['port'], database['local']) == (host, 5433, True)


def test_environment_as_a_list_and_command_instead_of_entrypoint():
    config = project(entrypoint=None, command='prefect server start --host 0.0.0.0',
                     environment=['PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://u:p@db/prefect',
                                  'EMPTY'])
    found = adopt.hand_made_prefect(config)
    assert found['problems'] == []
    assert found['database_setting'] == 'PREFECT_SERVER_DATABASE_CONNECTION_URL'


def test_sqlite_is_refused_with_the_way_forward():
    config = project(environment={'PREFECT_API_DATABASE_CONNECTION_URL': 'sqlite+aiosqlite:////root/.prefect/prefect.db'})
    problems = adopt.hand_made_prefect(config)['problems']
    assert len(problems) == 1 and 'SQLite (/root/.prefect/prefect.db)' in problems[0]
    assert 'PostgreSQL' in problems[0] and 'Nothing was changed' in problems[0]


def test_an_unset_database_url_asks_for_it():
    # What compose prints when DATABASE_URL was only in the shell that ran it.
    config = project(environment={'PREFECT_API_DATABASE_CONNECTION_URL': ''})
    problems = adopt.hand_made_prefect(config)['problems']
    assert len(problems) == 1 and 'adopt_database_url' in problems[0] and 'DATABASE_URL' in problems[0]


def test_a_given_database_url_replaces_the_service_s():
    config = project(environment={'PREFECT_API_DATABASE_CONNECTION_URL': ''})
    found = adopt.hand_made_prefect(config, database_url='postgresql+asyncpg://u:p@db.example:6432/flows')
    assert found['problems'] == []
    assert found['database_setting'] == 'adopt_database_url'
    assert (found['database']['host'], found['database']['port'], found['database']['name']) == ('db.example', 6432, 'flows')


def test_prefect_1_is_refused():
    config = {'services': {'graphql': {'image': 'prefecthq/server:core-1.4.1'},
                           'hasura': {'image': 'hasura/graphql-engine:v2.0.9'},
                           'ui': {'image': 'prefecthq/ui:core-1.4.1'}}}
    problems = adopt.hand_made_prefect(config)['problems']
    assert len(problems) == 1 and 'Prefect 1' in problems[0] and 'prefecthq/server:core-1.4.1' in problems[0]


@pytest.mark.parametrize('services, found', [
    ({'web': {'image': 'nginx'}}, 'no service'),
    ({'a': ARTICLE['services']['prefect'], 'b': ARTICLE['services']['prefect']}, 'the services a, b'),
    # A worker of the same image is not the server.
    ({'worker': dict(ARTICLE['services']['prefect'], entrypoint=['prefect', 'worker', 'start'])}, 'no service'),
])
def test_a_project_without_exactly_one_prefect_server_is_refused(services, found):
    problems = adopt.hand_made_prefect({'services': services})['problems']
    assert len(problems) == 1 and found in problems[0], problems


def test_a_release_newer_than_the_target_is_refused():
    problems = adopt.hand_made_prefect(project(image='prefecthq/prefect:4.0.1-python3.12'))['problems']
    assert len(problems) == 1 and 'newer than Prefect 3' in problems[0]


@pytest.mark.parametrize('image, major', [
    ('prefecthq/prefect:2-python3.12', 2), ('prefecthq/prefect:2.20.14-python3.11', 2), ('prefecthq/prefect:3-latest', 3),
    ('docker.io/prefecthq/prefect:3.9.1', 3), ('prefecthq/prefect:latest', None), ('prefecthq/prefect', None),
    ('prefecthq/prefect@sha256:abc', None), ('myorg/prefect:2', None),
])
def test_image_major_version(image, major):
    assert adopt.image_major_version(image) == major


def test_hand_made_prefect_refuses_what_is_not_a_compose_config():
    with pytest.raises(AnsibleFilterError, match='docker compose config'):
        adopt.hand_made_prefect(['not', 'a', 'config'])


# What read_hand_made.py reads from the article's deployment, and an inventory that fits it.
RUNNING = {'prefect_version': '2.20.27',
           'database': {'reachable': True, 'pools': [{'name': 'legacy-pool', 'type': 'process'},
                                                     {'name': 'k8s', 'type': 'kubernetes'}],
                        'deployment_pools': ['k8s', 'legacy-pool']}}
INVENTORY = {'prefect_version': '3.9.1', 'name': 'prefect', 'user': 'prefect', 'port': 5432, 'host': 'vm1',
             'database_hosts': {'vm1': 'local'}, 'served_pools': ['legacy-pool']}


def mismatches(running=None, **inventory):
    found = adopt.hand_made_prefect(ARTICLE, ['10.0.0.7'])
    return adopt.adoption_mismatches(found, running or RUNNING, dict(INVENTORY, **inventory))


def test_an_inventory_that_fits_has_no_mismatch():
    # A kubernetes pool is not the collection's to serve: it is not asked for.
    assert mismatches() == []


def test_a_target_older_than_the_running_release_is_refused():
    found = mismatches(prefect_version='2.19.0')
    assert len(found) == 1
    assert 'runs Prefect 2.20.27, newer than prefect_version 2.19.0' in found[0]
    assert 'Set prefect_version to 2.20.27 or later' in found[0]


def test_other_database_names_say_what_to_set_and_only_that():
    found = mismatches(name='flows', port='6432')
    assert found == ['The hand-made server uses the database prefect as prefect on port 5432: set '
                     'prefect_database_name: prefect, prefect_database_user: prefect and prefect_database_port: 5432 '
                     'in the inventory (they are flows, prefect and 6432).']


def test_a_local_database_needs_the_host_in_prefect_database():
    found = mismatches(database_hosts={'db1': 'local'})
    assert len(found) == 1 and 'put vm1 in the prefect_database group' in found[0]


def test_a_remote_database_needs_one_external_mode_host():
    found = adopt.hand_made_prefect(ARTICLE, ['10.0.0.9'])
    inventory = dict(INVENTORY, database_hosts={'vm1': 'local'})
    problems = adopt.adoption_mismatches(found, RUNNING, inventory)
    assert len(problems) == 1 and 'postgresql_mode: external and postgresql_admin_host: 10.0.0.7' in problems[0]
    assert adopt.adoption_mismatches(found, RUNNING, dict(INVENTORY, database_hosts={'db1': 'external'})) == []


def test_pools_of_old_deployments_that_no_worker_serves_are_named():
    found = mismatches(served_pools=['process-pool'])
    assert len(found) == 1
    assert 'work pools legacy-pool, which no prefect_worker host serves' in found[0]
    assert '- pool: legacy-pool' in found[0]


def test_an_unreachable_database_leaves_the_pools_to_the_reachability_check():
    assert mismatches({'prefect_version': '2.20.27', 'database': {'reachable': False, 'error': 'refused'}}) == []
