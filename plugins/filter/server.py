# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The server role's environment: how its containers reach PostgreSQL, and, scaled out,
which Prefect settings put messaging, causal ordering, concurrency leases and the
services' docket into Redis.
The names are those of the pinned release's settings models
(prefect/settings/models/server/events.py, concurrency.py, docket.py) and of
prefect-redis' RedisMessagingSettings (prefect_redis/client.py)."""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.prefect_ops.prefect.plugins.filter.postgresql import database_socket_url, server_clients

# Redis' logical databases: Prefect's messaging, ordering and leases in one, the docket
# in another, as Prefect's self-hosted guide and prefect-helm separate them.
MESSAGING_DB = 0
DOCKET_DB = 1


def _host_in_url(host):
    return '[%s]' % host if ':' in host and not host.startswith('[') else host


def redis_url(host, port, user, password, db):
    """A redis:// URL whose user and password are percent-encoded, so that a password
    with '@', '/' or ':' stays one password."""
    return 'redis://%s:%s@%s:%d/%d' % (
        quote(str(user), safe=''), quote(str(password), safe=''), _host_in_url(str(host)), int(port), int(db))


def scale_out_environment(redis, secret=False):
    """The environment of every server container of a scaled-out server, from the Redis
    connection (a dict with host, port, user, password). ``secret`` selects the values
    that hold the password (for the root-only env file) instead of the others."""
    if secret:
        return {
            'PREFECT_REDIS_MESSAGING_PASSWORD': str(redis['password']),
            'PREFECT_SERVER_DOCKET_URL': redis_url(redis['host'], redis['port'], redis['user'], redis['password'],
                                                   DOCKET_DB),
        }
    return {
        'PREFECT_SERVER_EVENTS_MESSAGING_BROKER': 'prefect_redis.messaging',
        'PREFECT_SERVER_EVENTS_MESSAGING_CACHE': 'prefect_redis.messaging',
        'PREFECT_SERVER_EVENTS_CAUSAL_ORDERING': 'prefect_redis.ordering',
        'PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE': 'prefect_redis.lease_storage',
        'PREFECT_REDIS_MESSAGING_HOST': str(redis['host']),
        'PREFECT_REDIS_MESSAGING_PORT': str(int(redis['port'])),
        'PREFECT_REDIS_MESSAGING_DB': str(MESSAGING_DB),
        'PREFECT_REDIS_MESSAGING_USERNAME': str(redis['user']),
    }


def api_upstreams(servers, hostvars, port):
    """Where a front door on its own host reaches each server host's API: the server's
    inventory name (its name in the balancer, which the server role drains it by) and
    host:port, at the address the server publishes it on, as PostgreSQL admits the server
    by (its default IPv4 address, else its ansible_host, else its name)."""
    servers = list(servers or [])
    addresses = server_clients(servers, None, hostvars)
    return [{'name': name, 'address': '%s:%d' % (_host_in_url(address), int(port))}
            for name, address in zip(servers, addresses)]


def upkeep_environment(events_retention_days, vacuum, flow_run_retention_days):
    """Database upkeep by the background services: how long events are kept, which
    vacuums run (events, orphans, flow_runs) and, for flow_runs, after how long."""
    day = 86400
    vacuum = sorted(set(vacuum or []))
    return {
        # A timedelta setting: pydantic reads ISO 8601 durations, not bare seconds.
        'PREFECT_SERVER_EVENTS_RETENTION_PERIOD': 'P%dD' % int(events_retention_days),
        'PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED': ','.join(vacuum),
        # Seconds: Prefect's own SecondsTimeDelta type.
        'PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD': str(int(flow_run_retention_days) * day),
    }


def database_connection(settings):
    """How the server's containers reach PostgreSQL, from the role's database settings (a dict
    with host, port, name, user, password, tls, ca_file (the CA bundle on the controller, or
    empty), ca_host_path and ca_container_path): ``env`` (non-secret, for the compose file),
    ``secret_env`` (for the root-only env file), ``mounts`` (read-only bind mounts) and
    ``ca_mounted`` (whether the CA bundle goes to the host and into the containers).
    Over the network, the compose file names the host and the env file holds the password
    alone. A host that is a directory (``/run/postgresql``) is the Unix socket: then the env
    file holds the whole URL, since Prefect's separate settings cannot name a socket
    directory, and the directory is mounted."""
    host = str(settings['host']).strip()
    tls = bool(settings.get('tls'))
    ca_mounted = tls and bool(settings.get('ca_file'))
    env, mounts = {}, []
    if host.startswith('/'):
        secret_env = {'PREFECT_SERVER_DATABASE_CONNECTION_URL': database_socket_url(
            host, settings['user'], settings['password'], settings['name'], int(settings['port']))}
        mounts.append({'source': host, 'target': host})
    else:
        env = {
            'PREFECT_SERVER_DATABASE_DRIVER': 'postgresql+asyncpg',
            'PREFECT_SERVER_DATABASE_HOST': host,
            'PREFECT_SERVER_DATABASE_PORT': str(settings['port']),
            'PREFECT_SERVER_DATABASE_NAME': str(settings['name']),
            'PREFECT_SERVER_DATABASE_USER': str(settings['user']),
        }
        if tls:
            env['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED'] = 'true'
            env['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME'] = 'true'
            if ca_mounted:
                env['PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE'] = settings['ca_container_path']
        secret_env = {'PREFECT_SERVER_DATABASE_PASSWORD': str(settings['password'])}
    if ca_mounted:
        mounts.append({'source': settings['ca_host_path'], 'target': settings['ca_container_path']})
    return {'env': env, 'secret_env': secret_env, 'mounts': mounts, 'ca_mounted': ca_mounted}


class FilterModule:
    def filters(self):
        return {
            'api_upstreams': api_upstreams,
            'database_connection': database_connection,
            'redis_url': redis_url,
            'scale_out_environment': scale_out_environment,
            'upkeep_environment': upkeep_environment,
        }
