# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""PostgreSQL: the postgresql role's client rules of pg_hba.conf, memory sizing, which
settings differ from what the server runs and whether the Prefect role and database are
as wanted, and the socket URL a server next to its database connects with."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from urllib.parse import quote


def hba_cidr(client):
    """A client address as pg_hba.conf wants it: bare addresses get a one-host mask."""
    client = str(client)
    if '/' in client:
        return client
    return client + ('/128' if ':' in client else '/32')


def server_clients(servers, this_host, hostvars):
    """Where each Prefect server host on another host connects to the database from: its
    default IPv4 address in gathered facts, else its ansible_host, else its name. A server
    on the database host itself connects through the Unix socket, not the network."""
    clients = []
    for server in servers or []:
        if server == this_host:
            continue
        server_vars = hostvars[server]
        address = ((server_vars.get('ansible_facts') or {}).get('default_ipv4') or {}).get('address')
        clients.append(address or server_vars.get('ansible_host') or server)
    return clients


def hba_client_rules(clients, database, user, method='scram-sha-256', tls=False):
    """One rule per client (address or CIDR) for the Prefect database and role
    (community.postgresql.postgresql_pg_hba rule dicts); with ``tls`` the client must
    connect with TLS (hostssl)."""
    contype = 'hostssl' if tls else 'host'
    return [{'contype': contype, 'databases': database, 'users': user, 'address': hba_cidr(c), 'method': method}
            for c in clients or []]


def database_socket_url(socket_dir, user, password, database, port=5432, driver='postgresql+asyncpg'):
    """A SQLAlchemy URL that reaches PostgreSQL through its Unix socket directory. Each part
    is percent-encoded, so that a password with '@', '/', ':' or '#' stays one password."""
    def part(value):
        return quote(str(value), safe='')
    return '%s://%s:%s@/%s?host=%s&port=%d' % (
        driver, part(user), part(password), part(database), part(socket_dir), int(port))


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


def prefect_connections(server_hosts, scale_out, pool_size, max_overflow):
    """max_connections for the Prefect servers of ``server_hosts`` hosts: every server process's
    pool and overflow (scaled out, each host runs two: the API and the background services),
    twice over (a recreated container overlaps the old one for a moment), plus 20 for
    administration; at least PostgreSQL's default of 100."""
    processes = int(server_hosts) * (2 if scale_out else 1)
    return max(100, processes * (int(pool_size) + int(max_overflow)) * 2 + 20)


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


_SCRAM = re.compile(r'^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$')


def password_matches(verifier, password, user):
    """Whether ``password`` is the one PostgreSQL stored as ``verifier`` (pg_authid.rolpassword:
    SCRAM-SHA-256, or md5 of password and user name). False for anything else, a password
    that needs SASLprep's mapping included: the role is then altered, which is never wrong."""
    verifier, password = verifier or '', password or ''
    found = _SCRAM.match(verifier)
    if found:
        iterations, salt, stored_key, server_key = found.groups()
        try:
            salt, stored_key, server_key = (base64.b64decode(part) for part in (salt, stored_key, server_key))
        except (binascii.Error, ValueError):
            return False
        salted = hashlib.pbkdf2_hmac('sha256', password.encode('utf-8'), salt, int(iterations))
        client_key = hmac.new(salted, b'Client Key', 'sha256').digest()
        return (hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
                and hmac.compare_digest(hmac.new(salted, b'Server Key', 'sha256').digest(), server_key))
    if verifier.startswith('md5') and len(verifier) == 35:
        wanted = 'md5' + hashlib.md5((password + (user or '')).encode('utf-8')).hexdigest()
        return hmac.compare_digest(verifier, wanted)
    return False


_ROLE_FLAGS = {'LOGIN': 'rolcanlogin', 'SUPERUSER': 'rolsuper', 'CREATEDB': 'rolcreatedb',
               'CREATEROLE': 'rolcreaterole', 'INHERIT': 'rolinherit', 'REPLICATION': 'rolreplication',
               'BYPASSRLS': 'rolbypassrls'}


def _row(value):
    """A row that PostgreSQL built with row_to_json: a dict, or its JSON text from a driver
    that does not decode json columns."""
    return json.loads(value) if isinstance(value, str) else value


def role_converged(role, user, password, flags):
    """Whether the role as read from pg_authid (``role``: its columns, or None when it does not
    exist) has the password and every attribute of ``flags`` ('LOGIN,NOSUPERUSER,...'): then
    postgresql_user has nothing to do. An unknown flag counts as not converged."""
    role = _row(role)
    if not role:
        return False
    for flag in [f.strip().upper() for f in (flags or '').split(',') if f.strip()]:
        wanted = not flag.startswith('NO')
        column = _ROLE_FLAGS.get(flag[2:] if not wanted else flag)
        if column is None or column not in role or bool(role[column]) != wanted:
            return False
    return password_matches(role.get('rolpassword'), password, user)


def database_converged(database, owner, encoding, locale=''):
    """Whether the database as read from pg_database (``database``: owner, encoding, datcollate,
    datctype, or None when it does not exist) has the owner, encoding and (when given) locale:
    then postgresql_db has nothing to do."""
    database = _row(database)
    if not database:
        return False
    return (database.get('owner') == owner
            and str(database.get('encoding', '')).upper() == str(encoding).upper()
            and (not locale or (database.get('datcollate') == locale and database.get('datctype') == locale)))


class FilterModule:
    def filters(self):
        return {
            'hba_cidr': hba_cidr,
            'hba_client_rules': hba_client_rules,
            'database_socket_url': database_socket_url,
            'server_clients': server_clients,
            'meminfo_mb': meminfo_mb,
            'postgresql_sizing': postgresql_sizing,
            'prefect_connections': prefect_connections,
            'settings_to_apply': settings_to_apply,
            'role_converged': role_converged,
            'database_converged': database_converged,
        }
