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
