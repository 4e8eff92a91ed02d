# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Reading a hand-made Prefect deployment before the collection adopts it (issue 14): the
Prefect server service of a Docker Compose project, as `docker compose config --format
json` prints it (variables from the project's .env file already substituted), and the
database that server uses. What cannot be adopted is named, with the way forward."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, parse_qs

from ansible.errors import AnsibleFilterError
from ansible.module_utils.compat.version import LooseVersion

# Where Prefect 2 and 3 read the database URL; the older name first, as Prefect 3 reads it
# too (the settings' alias), and a project may set both.
DATABASE_URL_SETTINGS = ('PREFECT_API_DATABASE_CONNECTION_URL', 'PREFECT_SERVER_DATABASE_CONNECTION_URL')
# Prefect 1's server ran several images of its own (GraphQL, Apollo, Hasura, Towel).
PREFECT_1_IMAGES = re.compile(r'(^|/)prefecthq/(server|apollo|ui|towel)(:|$)|(^|/)hasura/')
PREFECT_IMAGE = re.compile(r'^(?:.*/)?prefecthq/prefect(?::(?P<tag>[^@]+))?(?:@.*)?$')
LOCAL_HOSTS = ('localhost', '127.0.0.1', '::1', 'host.docker.internal')


def _words(value):
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(word) for word in value]


def _environment(service):
    environment = service.get('environment') or {}
    if isinstance(environment, list):
        pairs = (item.split('=', 1) for item in environment)
        environment = dict(pair if len(pair) == 2 else (pair[0], None) for pair in pairs)
    return environment


def _runs_prefect_server(service):
    command = _words(service.get('entrypoint')) + _words(service.get('command'))
    return any(command[i:i + 3] == ['prefect', 'server', 'start'] for i in range(len(command)))


def image_major_version(image):
    """The Prefect major release an image tag names ('2-python3.12' -> 2, '2.20.14' -> 2,
    '3-latest' -> 3), or None when the tag does not say ('latest', a digest)."""
    found = PREFECT_IMAGE.match(image or '')
    if not found or not found.group('tag'):
        return None
    major = re.match(r'(\d+)(?:[.-]|$)', found.group('tag'))
    return int(major.group(1)) if major else None


def database_from_url(url, host_addresses=()):
    """The parts of a Prefect database URL: driver, host, port, name, user, password, and
    whether the database is on the server's own host (``local``: a loopback name, Docker's
    host gateway, or one of ``host_addresses``). SQLite URLs give only the driver and path."""
    parts = urlsplit(url)
    driver = parts.scheme
    if driver.startswith('sqlite'):
        # SQLAlchemy's sqlite:///relative/path and sqlite:////absolute/path.
        return {'driver': driver, 'path': parts.path[1:]}
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get('host') or [''])[0]
    return {
        'driver': driver,
        'host': host,
        'port': parts.port or int((query.get('port') or [5432])[0]),
        'name': unquote(parts.path.lstrip('/')),
        'user': unquote(parts.username or ''),
        'password': unquote(parts.password or ''),
        'local': host in LOCAL_HOSTS or host in host_addresses or host.startswith('/'),
    }


def hand_made_prefect(compose_config, host_addresses=(), target_major=3, database_url=''):
    """What a hand-made compose project runs: ``problems`` (each naming what cannot be
    adopted and what to do; empty when it can be), and, for its Prefect server service,
    ``service``, ``image``, ``major`` (the release its image names), ``database`` (see
    database_from_url, the password included: hide it with no_log), ``database_setting``
    (the variable that held the URL), ``ports`` and ``volumes``. A ``database_url`` replaces
    the one of the service's environment (one that lived in a shell, not in the project)."""
    if not isinstance(compose_config, dict) or not isinstance(compose_config.get('services'), dict):
        raise AnsibleFilterError('hand_made_prefect expects the JSON of `docker compose config --format json`')
    services = compose_config['services']
    images = {name: str(service.get('image') or '') for name, service in services.items()}
    if any(PREFECT_1_IMAGES.search(image) for image in images.values()):
        return {'problems': [
            'The project runs Prefect 1 (images %s): its server and database schema have no upgrade path to '
            'Prefect 3. Move the flows to Prefect 3 by hand; nothing was changed.'
            % ', '.join(sorted(image for image in images.values() if PREFECT_1_IMAGES.search(image)))]}
    servers = [name for name, service in sorted(services.items())
               if PREFECT_IMAGE.match(images[name]) and _runs_prefect_server(service)]
    if len(servers) != 1:
        found = 'no service' if not servers else 'the services %s' % ', '.join(servers)
        return {'problems': [
            'The project has %s running `prefect server start` in a prefecthq/prefect image; the collection adopts '
            'a project with exactly one. Nothing was changed.' % found]}
    name = servers[0]
    service = services[name]
    environment = _environment(service)
    result = {
        'problems': [],
        'service': name,
        'image': images[name],
        'major': image_major_version(images[name]),
        'ports': service.get('ports') or [],
        'volumes': service.get('volumes') or [],
    }
    if result['major'] is not None and result['major'] > target_major:
        result['problems'].append(
            'The service %s runs %s, newer than Prefect %d: the collection cannot adopt it.'
            % (name, images[name], target_major))
    setting = next((key for key in DATABASE_URL_SETTINGS if environment.get(key)), None)
    if database_url:
        setting = 'adopt_database_url'
        environment = {setting: database_url}
    if setting is None:
        result['problems'].append(
            'The service %s names no database (%s is unset or empty; a variable it refers to, such as '
            'DATABASE_URL, may live in the shell that ran `docker compose up`): put the URL in the project\'s '
            '.env file, or give it as adopt_database_url. Nothing was changed.'
            % (name, ' or '.join(DATABASE_URL_SETTINGS)))
        return result
    result['database_setting'] = setting
    result['database'] = database_from_url(environment[setting], host_addresses)
    if result['database']['driver'].startswith('sqlite'):
        result['problems'].append(
            'The service %s keeps its data in SQLite (%s): the collection runs Prefect on PostgreSQL, and no '
            'supported tool copies a Prefect SQLite database into PostgreSQL. Point the project at a new PostgreSQL '
            'database, create its deployments, blocks and work pools again (prefect deploy, prefect block '
            'register), and adopt that. Nothing was changed.'
            % (name, result['database']['path']))
    elif not result['database']['driver'].startswith('postgresql'):
        result['problems'].append(
            'The service %s uses a database the collection does not run (%s). Nothing was changed.'
            % (name, result['database']['driver']))
    return result


def adoption_mismatches(found, running, inventory):
    """What keeps the inventory from taking over the hand-made deployment, one sentence
    each naming what to set. ``found``: hand_made_prefect's result; ``running``: what the
    project's own image read (roles/adopt/files/read_hand_made.py); ``inventory``: the
    target ``prefect_version``, the database ``name``, ``user`` and ``port``, the ``host``
    adopted onto, ``database_hosts`` (prefect_database hosts and their postgresql_mode)
    and the pools the prefect_worker hosts serve (``served_pools``)."""
    database = found['database']
    mismatches = []
    if LooseVersion(running['prefect_version']) > LooseVersion(inventory['prefect_version']):
        mismatches.append(
            "The hand-made server runs Prefect %s, newer than prefect_version %s: Prefect's migrations only go "
            "forward. Set prefect_version to %s or later." % (
                running['prefect_version'], inventory['prefect_version'], running['prefect_version']))
    wanted = (database['name'], database['user'], int(database['port']))
    if wanted != (inventory['name'], inventory['user'], int(inventory['port'])):
        mismatches.append(
            'The hand-made server uses the database %s as %s on port %s: set prefect_database_name: %s, '
            'prefect_database_user: %s and prefect_database_port: %s in the inventory (they are %s, %s and %s).'
            % (wanted + wanted + (inventory['name'], inventory['user'], inventory['port'])))
    database_hosts = inventory['database_hosts']
    if database['local'] and inventory['host'] not in database_hosts:
        mismatches.append(
            'The database runs on %s itself: put %s in the prefect_database group, so that the postgresql role '
            'manages it in local mode.' % (inventory['host'], inventory['host']))
    if not database['local'] and list(database_hosts.values()) != ['external']:
        mismatches.append(
            'The database runs on %s, another host: give the inventory one prefect_database host with '
            'postgresql_mode: external and postgresql_admin_host: %s (the host the postgresql role manages it '
            'from).' % (database['host'], database['host']))
    # Known only when the database answered (the caller refuses one that did not).
    process_pools = {pool['name'] for pool in running['database'].get('pools', []) if pool['type'] == 'process'}
    unserved = [pool for pool in running['database'].get('deployment_pools', [])
                if pool in process_pools and pool not in inventory['served_pools']]
    if unserved:
        mismatches.append(
            'The hand-made deployments run in the work pools %s, which no prefect_worker host serves: add them to '
            'worker_processes (for example - pool: %s), or their runs would wait for ever.'
            % (', '.join(unserved), unserved[0]))
    return mismatches


class FilterModule:
    def filters(self):
        return {
            'hand_made_prefect': hand_made_prefect,
            'adoption_mismatches': adoption_mismatches,
        }
