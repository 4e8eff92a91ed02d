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
