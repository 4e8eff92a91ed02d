# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The postgresql role's logic: client rules of pg_hba.conf, memory sizing, and which
settings differ from what the server runs."""

from __future__ import annotations

import re


def hba_cidr(client):
    """A client address as pg_hba.conf wants it: bare addresses get a one-host mask."""
    client = str(client)
    if '/' in client:
        return client
    return client + ('/128' if ':' in client else '/32')


def server_clients(servers, this_host, hostvars, docker_subnet):
    """Where each Prefect server host connects to the database from: this host (a server next
    to the database) from its compose network's subnet, any other from its default IPv4
    address in gathered facts, else its ansible_host, else its name."""
    clients = []
    for server in servers or []:
        if server == this_host:
            clients.append(docker_subnet)
            continue
        server_vars = hostvars[server]
        address = ((server_vars.get('ansible_facts') or {}).get('default_ipv4') or {}).get('address')
        clients.append(address or server_vars.get('ansible_host') or server)
    return clients


def hba_client_rules(clients, database, user, method='scram-sha-256', tls=False, plain_networks=None):
    """One rule per client (address or CIDR) for the Prefect database and role
    (community.postgresql.postgresql_pg_hba rule dicts). With ``tls``, a client must connect
    with TLS (hostssl), except from ``plain_networks`` (this host's own Docker network)."""
    plain = {hba_cidr(network) for network in plain_networks or []}
    rules = []
    for client in clients or []:
        address = hba_cidr(client)
        contype = 'hostssl' if tls and address not in plain else 'host'
        rules.append({'contype': contype, 'databases': database, 'users': user, 'address': address, 'method': method})
    return rules


def meminfo_mb(meminfo):
    """MemTotal of /proc/meminfo in MiB."""
    found = re.search(r'MemTotal:\s+(\d+)', meminfo or '')
    if not found:
        raise ValueError('no MemTotal in /proc/meminfo')
    return int(found.group(1)) // 1024


def postgresql_sizing(memory_mb, max_connections):
    """The usual rules of thumb for a dedicated database of ``memory_mb`` MiB: a quarter of the
    memory for shared_buffers (at least 128MB), three quarters as the planner's cache estimate,
    a sixteenth (64MB to 2GB) for maintenance, and what shared_buffers leaves split over three
    sorts per connection for work_mem (4MB to 64MB)."""
    memory = int(memory_mb)
    connections = int(max_connections)
    shared = max(128, memory // 4)
    return {
        'max_connections': str(connections),
        'shared_buffers': '%dMB' % shared,
        'effective_cache_size': '%dMB' % max(shared, memory * 3 // 4),
        'maintenance_work_mem': '%dMB' % min(max(64, memory // 16), 2048),
        'work_mem': '%dMB' % min(max(4, (memory - shared) // (connections * 3)), 64),
    }


def _as_printed(value):
    """A setting's value as PostgreSQL prints it: list settings (listen_addresses = 'a,b')
    come back as 'a, b'."""
    return ', '.join(part.strip() for part in str(value).split(','))


def settings_to_apply(wanted, live_rows):
    """Names of the ``wanted`` settings whose live value (pg_settings rows: name, value,
    pending_restart) differs as PostgreSQL prints it, or that wait for a restart. A '2GB'
    live value and a wanted '2048MB' differ here; the module then decides."""
    in_effect = {row['name'] for row in live_rows or []
                 if not row.get('pending_restart')
                 and _as_printed(row.get('value')) == _as_printed(wanted.get(row['name']))}
    return [name for name in wanted if name not in in_effect]


class FilterModule:
    def filters(self):
        return {
            'hba_cidr': hba_cidr,
            'hba_client_rules': hba_client_rules,
            'server_clients': server_clients,
            'meminfo_mb': meminfo_mb,
            'postgresql_sizing': postgresql_sizing,
            'settings_to_apply': settings_to_apply,
        }
