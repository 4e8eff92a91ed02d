# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ansible_collections.prefect_ops.prefect.plugins.filter import server

REDIS = {'host': '10.0.0.5', 'port': 6380, 'user': 'prefect', 'password': 'p@ss/w:rd#test-only'}


def test_redis_url_keeps_a_password_with_url_characters_whole():
    url = server.redis_url('10.0.0.5', 6380, 'prefect', 'p@ss/w:rd#test-only', 1)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ('redis', '10.0.0.5', 6380, '/1')
    assert (unquote(parts.username), unquote(parts.password)) == ('prefect', 'p@ss/w:rd#test-only')


def test_redis_url_brackets_an_ipv6_host():
    assert server.redis_url('fd00::5', 6379, 'prefect', 'x', 0) == 'redis://prefect:x@[fd00::5]:6379/0'


def test_the_public_environment_puts_every_coordination_into_redis_and_holds_no_password():
    environment = server.scale_out_environment(REDIS)
    assert environment['PREFECT_SERVER_EVENTS_MESSAGING_BROKER'] == 'prefect_redis.messaging'
    assert environment['PREFECT_SERVER_EVENTS_MESSAGING_CACHE'] == 'prefect_redis.messaging'
    assert environment['PREFECT_SERVER_EVENTS_CAUSAL_ORDERING'] == 'prefect_redis.ordering'
    assert environment['PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE'] == 'prefect_redis.lease_storage'
    assert (environment['PREFECT_REDIS_MESSAGING_HOST'], environment['PREFECT_REDIS_MESSAGING_PORT']) == (
        '10.0.0.5', '6380')
    assert environment['PREFECT_REDIS_MESSAGING_USERNAME'] == 'prefect'
    assert not any('test-only' in value or 'pass' in value for value in environment.values())


def test_the_secret_environment_holds_the_password_and_a_docket_in_its_own_database():
    secret = server.scale_out_environment(REDIS, secret=True)
    assert secret['PREFECT_REDIS_MESSAGING_PASSWORD'] == 'p@ss/w:rd#test-only'
    docket = urlsplit(secret['PREFECT_SERVER_DOCKET_URL'])
    assert docket.path == '/1' != '/' + server.scale_out_environment(REDIS)['PREFECT_REDIS_MESSAGING_DB']
    assert unquote(docket.password) == 'p@ss/w:rd#test-only'


def test_upkeep_environment_in_seconds_and_a_sorted_vacuum_set():
    environment = server.upkeep_environment(7, ['orphans', 'events', 'events'], 90)
    assert environment == {
        'PREFECT_SERVER_EVENTS_RETENTION_PERIOD': 'P7D',
        'PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED': 'events,orphans',
        'PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD': '7776000',
    }


def test_api_upstreams_reach_each_server_at_the_address_it_publishes_on():
    hostvars = {
        'server-a': {'ansible_facts': {'default_ipv4': {'address': '10.0.0.2'}}, 'ansible_host': 'a.example.com'},
        'server-b': {'ansible_host': 'fd00::3'},
        'server-c': {},
    }
    assert server.api_upstreams(['server-a', 'server-b', 'server-c'], hostvars, 4200) == [
        {'name': 'server-a', 'address': '10.0.0.2:4200'},
        {'name': 'server-b', 'address': '[fd00::3]:4200'},
        {'name': 'server-c', 'address': 'server-c:4200'},
    ]


DATABASE = {'host': ' 10.0.0.7 ', 'port': 5433, 'name': 'prefect', 'user': 'prefect', 'password': 'db/p@ss:test-only',
            'tls': False, 'ca_file': '', 'ca_host_path': '/opt/prefect/database-ca.pem',
            'ca_container_path': '/etc/prefect-ops/database-ca.pem'}


def test_over_the_network_the_compose_file_names_the_host_and_the_env_file_holds_the_password_alone():
    connection = server.database_connection(DATABASE)
    assert connection['env'] == {
        'PREFECT_SERVER_DATABASE_DRIVER': 'postgresql+asyncpg',
        'PREFECT_SERVER_DATABASE_HOST': '10.0.0.7',
        'PREFECT_SERVER_DATABASE_PORT': '5433',
        'PREFECT_SERVER_DATABASE_NAME': 'prefect',
        'PREFECT_SERVER_DATABASE_USER': 'prefect',
    }
    assert connection['secret_env'] == {'PREFECT_SERVER_DATABASE_PASSWORD': 'db/p@ss:test-only'}
    assert (connection['mounts'], connection['ca_mounted']) == ([], False)


def test_tls_verifies_the_host_name_and_mounts_a_given_ca_bundle():
    connection = server.database_connection(dict(DATABASE, tls=True, ca_file='files/ca.pem'))
    assert connection['env']['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED'] == 'true'
    assert connection['env']['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME'] == 'true'
    assert connection['env']['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE'] == \
        '/etc/prefect-ops/database-ca.pem'
    assert connection['mounts'] == [{'source': '/opt/prefect/database-ca.pem',
                                     'target': '/etc/prefect-ops/database-ca.pem'}]
    assert connection['ca_mounted'] is True


def test_tls_without_a_ca_bundle_trusts_the_image_s_store_and_mounts_nothing():
    connection = server.database_connection(dict(DATABASE, tls=True))
    assert 'PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE' not in connection['env']
    assert (connection['mounts'], connection['ca_mounted']) == ([], False)


def test_a_ca_bundle_without_tls_is_not_mounted():
    connection = server.database_connection(dict(DATABASE, ca_file='files/ca.pem'))
    assert (connection['mounts'], connection['ca_mounted']) == ([], False)


def test_through_the_unix_socket_the_env_file_holds_the_whole_url_and_the_directory_is_mounted():
    connection = server.database_connection(dict(DATABASE, host='/run/postgresql'))
    assert connection['env'] == {}
    url = connection['secret_env']['PREFECT_SERVER_DATABASE_CONNECTION_URL']
    assert url == 'postgresql+asyncpg://prefect:db%2Fp%40ss%3Atest-only@/prefect?host=%2Frun%2Fpostgresql&port=5433'
    assert connection['mounts'] == [{'source': '/run/postgresql', 'target': '/run/postgresql'}]
