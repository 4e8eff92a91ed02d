# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import json
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from ansible_collections.prefect_ops.prefect.plugins.filter import postgresql


def test_hba_client_rules_give_bare_addresses_a_one_host_mask():
    rules = postgresql.hba_client_rules(['10.0.0.5', '172.30.42.0/24', 'fd00::1'], 'prefect', 'prefect')
    assert [r['address'] for r in rules] == ['10.0.0.5/32', '172.30.42.0/24', 'fd00::1/128']
    assert all(r['method'] == 'scram-sha-256' and r['contype'] == 'host' for r in rules)
    assert rules[0]['databases'] == 'prefect' and rules[0]['users'] == 'prefect'


def test_hba_client_rules_require_tls_when_asked():
    rules = postgresql.hba_client_rules(['10.0.0.5', '172.30.42.0/24'], 'prefect', 'prefect', tls=True)
    assert [(r['contype'], r['address']) for r in rules] == [('hostssl', '10.0.0.5/32'), ('hostssl', '172.30.42.0/24')]


def test_database_socket_url_keeps_a_password_with_url_characters_whole():
    url = postgresql.database_socket_url('/var/run/postgresql', 'prefect', 'p@ss/w:rd#test-only', 'prefect', 5433)
    assert url == ('postgresql+asyncpg://prefect:p%40ss%2Fw%3Ard%23test-only@/prefect'
                   '?host=%2Fvar%2Frun%2Fpostgresql&port=5433')
    # Read back as SQLAlchemy's make_url does: the parts split at the literal separators, then unquoted.
    parsed = urlsplit(url)
    assert (unquote(parsed.username), unquote(parsed.password), parsed.hostname) == (
        'prefect', 'p@ss/w:rd#test-only', None)
    assert unquote(parsed.path) == '/prefect'
    assert dict(parse_qsl(parsed.query)) == {'host': '/var/run/postgresql', 'port': '5433'}


def test_meminfo_mb():
    assert postgresql.meminfo_mb('MemTotal:       24576000 kB\nMemFree: 1 kB\n') == 24000
    with pytest.raises(ValueError):
        postgresql.meminfo_mb('nothing')


@pytest.mark.parametrize('memory, connections, expected', [
    # A 16 GiB database host, 100 connections.
    (16384, 100, {'max_connections': '100', 'shared_buffers': '4096MB', 'effective_cache_size': '12288MB',
                  'maintenance_work_mem': '1024MB', 'work_mem': '40MB'}),
    # Small hosts keep the floors: 128MB of shared_buffers, 64MB maintenance, 4MB work_mem.
    (256, 200, {'max_connections': '200', 'shared_buffers': '128MB', 'effective_cache_size': '192MB',
                'maintenance_work_mem': '64MB', 'work_mem': '4MB'}),
    # Big hosts hit the ceilings: 2GB maintenance, 64MB work_mem.
    (262144, 50, {'max_connections': '50', 'shared_buffers': '65536MB', 'effective_cache_size': '196608MB',
                  'maintenance_work_mem': '2048MB', 'work_mem': '64MB'}),
])
def test_postgresql_sizing(memory, connections, expected):
    assert postgresql.postgresql_sizing(memory, connections) == expected


def test_settings_to_apply_skips_live_values_unless_a_restart_is_pending():
    wanted = {'port': '5432', 'shared_buffers': '2048MB', 'work_mem': '8MB', 'max_connections': '120'}
    live = [
        {'name': 'port', 'value': '5432', 'pending_restart': False},
        {'name': 'shared_buffers', 'value': '2GB', 'pending_restart': False},
        {'name': 'work_mem', 'value': '8MB', 'pending_restart': False},
        {'name': 'max_connections', 'value': '120', 'pending_restart': True},
    ]
    assert postgresql.settings_to_apply(wanted, live) == ['shared_buffers', 'max_connections']


def test_server_clients_from_the_facts_or_the_inventory_and_not_this_host():
    hostvars = {
        'db': {},
        'web1': {'ansible_facts': {'default_ipv4': {'address': '10.0.0.5'}}, 'ansible_host': '192.0.2.1'},
        'web2': {'ansible_facts': {}, 'ansible_host': '192.0.2.2'},
        'web3': {},
    }
    assert postgresql.server_clients(['db', 'web1', 'web2', 'web3'], 'db', hostvars) == [
        '10.0.0.5', '192.0.2.2', 'web3']
    assert postgresql.server_clients([], 'db', hostvars) == []


def test_settings_to_apply_reads_list_settings_as_postgresql_prints_them():
    # ALTER SYSTEM stores listen_addresses 'localhost,10.0.0.5' as 'localhost, 10.0.0.5'.
    live = [{'name': 'listen_addresses', 'value': 'localhost, 10.0.0.5', 'pending_restart': False}]
    assert postgresql.settings_to_apply({'listen_addresses': 'localhost,10.0.0.5'}, live) == []
    assert postgresql.settings_to_apply({'listen_addresses': 'localhost,10.0.0.6'}, live) == ['listen_addresses']


@pytest.mark.parametrize(
    ('hosts', 'scale_out', 'expected'),
    [
        (1, False, 100),  # 1 x 15 x 2 + 20 = 50: PostgreSQL's default stays
        (4, False, 140),  # 4 x 15 x 2 + 20
        (2, True, 140),  # two processes a host: 4 x 15 x 2 + 20
        (0, False, 100),
    ],
)
def test_prefect_connections_cover_every_server_process_twice(hosts, scale_out, expected):
    assert postgresql.prefect_connections(hosts, scale_out, 5, '10') == expected


# Both verifiers were made by PostgreSQL 17 (CREATE ROLE verifier_probe PASSWORD ...) with
# password_encryption scram-sha-256, then md5.
SCRAM = ('SCRAM-SHA-256$4096:NJpsFTCBKPGqVaCuIadh0Q==$axW/0uQDvWzEC3hxXayuz/rYbyx4IJnlrDA5Qr/6CQc='
         ':K1PbyFZI6ytwRcCsezgBI+vDY1huZ0mN6o4gOCt7KrY=')
SCRAM_PASSWORD = 'pässword $1'
MD5 = 'md55a0ceec9678f627d00e7dc449fbcb610'


def test_password_matches_the_verifiers_postgresql_stores():
    assert postgresql.password_matches(SCRAM, SCRAM_PASSWORD, 'verifier_probe')
    assert not postgresql.password_matches(SCRAM, 'pässword $2', 'verifier_probe')
    assert not postgresql.password_matches(SCRAM, '', 'verifier_probe')
    assert postgresql.password_matches(MD5, 'plain-md5', 'verifier_probe')
    # md5 is salted with the user name.
    assert not postgresql.password_matches(MD5, 'plain-md5', 'prefect')
    assert not postgresql.password_matches(None, 'anything', 'prefect')
    assert not postgresql.password_matches('SCRAM-SHA-256$4096:@@@$x:y', 'anything', 'prefect')


ROLE = {'rolcanlogin': True, 'rolsuper': False, 'rolcreatedb': False, 'rolcreaterole': False, 'rolpassword': SCRAM}


def test_role_converged_needs_the_role_every_flag_and_the_password():
    flags = 'LOGIN,NOSUPERUSER,NOCREATEDB,NOCREATEROLE'
    assert postgresql.role_converged(ROLE, 'verifier_probe', SCRAM_PASSWORD, flags)
    assert postgresql.role_converged(json.dumps(ROLE), 'verifier_probe', SCRAM_PASSWORD, flags)
    assert not postgresql.role_converged(None, 'verifier_probe', SCRAM_PASSWORD, flags)
    assert not postgresql.role_converged(dict(ROLE, rolcanlogin=False), 'verifier_probe', SCRAM_PASSWORD, flags)
    assert not postgresql.role_converged(dict(ROLE, rolcreatedb=True), 'verifier_probe', SCRAM_PASSWORD, flags)
    assert not postgresql.role_converged(ROLE, 'verifier_probe', 'rotated', flags)
    # A flag it cannot read counts as a change for postgresql_user to make.
    assert not postgresql.role_converged(ROLE, 'verifier_probe', SCRAM_PASSWORD, 'LOGIN,NOREPLICATION')
    assert not postgresql.role_converged(ROLE, 'verifier_probe', SCRAM_PASSWORD, 'LOGIN,VALID')


def test_database_converged_needs_the_owner_encoding_and_a_given_locale():
    database = {'owner': 'prefect', 'encoding': 'UTF8', 'datcollate': 'C.UTF-8', 'datctype': 'C.UTF-8'}
    assert postgresql.database_converged(database, 'prefect', 'UTF8')
    assert postgresql.database_converged(database, 'prefect', 'utf8', 'C.UTF-8')
    assert not postgresql.database_converged(database, 'prefect', 'UTF8', 'en_US.UTF-8')
    assert not postgresql.database_converged(database, 'someone', 'UTF8')
    assert not postgresql.database_converged(database, 'prefect', 'LATIN1')
    assert not postgresql.database_converged(None, 'prefect', 'UTF8')
