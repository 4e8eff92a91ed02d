# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The worker role's process model: which processes a host runs, under which unit or compose
service name, on which health check port, with which environment and command line.

One place computes it, so that the systemd units and the compose services (and the checks
and the cleanup of stale units) agree.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError


def _slug(pool):
    slug = re.sub(r'[^a-z0-9]+', '-', pool.lower()).strip('-')
    return slug or 'pool'


def worker_common_env(api_url, query_seconds, prefetch_seconds, runtime='systemd', home='', venv_dir='',
                      ca_path='', validate_certs=True, heartbeat_seconds=None):
    """The non-secret environment of every worker and served flow of a host. Under systemd,
    PREFECT_HOME and a PATH with the virtualenv first (a run's process is started as
    ``python ...``, which must be the virtualenv's); the API's CA bundle and the switch that
    turns certificate checks off only when set; the flow runs' heartbeat interval (their
    processes inherit the worker's environment) when given."""
    env = {
        'PREFECT_API_URL': str(api_url),
        'PREFECT_WORKER_QUERY_SECONDS': str(query_seconds),
        'PREFECT_WORKER_PREFETCH_SECONDS': str(prefetch_seconds),
        'PREFECT_RUNNER_POLL_FREQUENCY': str(query_seconds),
        'PREFECT_CLI_PROMPT': 'false',
        'PYTHONUNBUFFERED': '1',
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    if runtime == 'systemd':
        env['PREFECT_HOME'] = str(home)
        env['PATH'] = str(venv_dir) + '/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin'
    if ca_path:
        env['PREFECT_API_SSL_CERT_FILE'] = str(ca_path)
    if not validate_certs:
        env['PREFECT_API_TLS_INSECURE_SKIP_VERIFY'] = 'true'
    if heartbeat_seconds:
        env['PREFECT_FLOWS_HEARTBEAT_FREQUENCY'] = str(heartbeat_seconds)
    return env


def pip_source_args(local_wheel_dir='', index_url='', extra_index_url='', ca_file=''):
    """pip's arguments for where to install from: only the wheels in ``local_wheel_dir`` when
    given (air-gapped), else the index and extra index when set; ``ca_file`` to trust."""
    args = []
    if local_wheel_dir:
        args += ['--no-index', '--find-links', local_wheel_dir]
    else:
        if index_url:
            args += ['--index-url', index_url]
        if extra_index_url:
            args += ['--extra-index-url', extra_index_url]
    if ca_file:
        args += ['--cert', ca_file]
    return args


# Where each process serves its health check: the host itself only.
HEALTH_HOST = '127.0.0.1'


def health_url(port):
    return 'http://%s:%d/health' % (HEALTH_HOST, port)


def worker_processes_model(worker_processes, host, common_env, first_port, extra_env=None):
    """One entry per worker process of the host, numbered per pool, with consecutive health check
    ports from ``first_port``: {id, kind, unit, service, name, pool, limit, queues, env, port,
    health_url}."""
    out = []
    per_pool = {}
    for entry in worker_processes or []:
        if not isinstance(entry, dict) or 'pool' not in entry:
            raise AnsibleFilterError('each worker_processes entry needs a pool, got %r' % (entry,))
        pool = str(entry['pool'])
        for dummy in range(int(entry.get('count', 1))):
            per_pool[pool] = per_pool.get(pool, 0) + 1
            number = per_pool[pool]
            worker_id = '%s-%d' % (_slug(pool), number)
            port = int(first_port) + len(out)
            env = dict(common_env or {})
            env.update({'PREFECT_WORKER_WEBSERVER_HOST': HEALTH_HOST, 'PREFECT_WORKER_WEBSERVER_PORT': str(port)})
            env.update(extra_env or {})
            env.update(entry.get('env') or {})
            out.append({
                'id': worker_id,
                'kind': 'worker',
                'unit': 'prefect-worker-%s.service' % worker_id,
                'service': 'worker-%s' % worker_id,
                'name': '%s-%s-%d' % (host, pool, number),
                'pool': pool,
                'limit': entry.get('limit'),
                'queues': list(entry.get('queues') or []),
                'env': env,
                'port': port,
                'health_url': health_url(port),
            })
    return out


def served_flows_model(served_flows, common_env, first_port, missed_polls_tolerance, extra_env=None):
    """One entry per flow.serve() process: {id, kind, unit, service, name, entrypoint, script,
    deployment, args, env, port, health_url}, health check ports consecutive from ``first_port``."""
    out = []
    for index, entry in enumerate(served_flows or []):
        port = int(first_port) + index
        env = dict(common_env or {})
        env.update({
            'PREFECT_RUNNER_SERVER_ENABLE': 'true',
            'PREFECT_RUNNER_SERVER_HOST': HEALTH_HOST,
            'PREFECT_RUNNER_SERVER_PORT': str(port),
            'PREFECT_RUNNER_SERVER_MISSED_POLLS_TOLERANCE': str(missed_polls_tolerance),
        })
        env.update(extra_env or {})
        env.update(entry.get('env') or {})
        out.append({
            'id': entry['name'],
            'kind': 'served',
            'unit': 'prefect-serve-%s.service' % entry['name'],
            'service': 'serve-%s' % entry['name'],
            'name': entry['name'],
            'entrypoint': entry.get('entrypoint'),
            'script': entry.get('script'),
            'deployment': entry.get('deployment', entry['name']),
            'args': [str(a) for a in entry.get('args') or []],
            'env': env,
            'port': port,
            'health_url': health_url(port),
        })
    return out


def worker_command(item, flows_dir, bin_dir='', drain=None):
    """The command line (a list of strings) of a process of the model. ``bin_dir``: where
    prefect and python are (the systemd runtime's virtualenv); empty: found on PATH (compose).

    ``drain`` ({launcher, timeout, grace}) runs the command through the worker role's drain
    launcher (roles/worker/files/prefect_ops_drain.py), which takes the same command with
    its first word, ``prefect`` or ``python``, unprefixed: it runs it in its own process."""
    prefix = (bin_dir.rstrip('/') + '/') if bin_dir else ''
    if item['kind'] == 'worker':
        command = ['prefect', 'worker', 'start', '--pool', item['pool'], '--name', item['name'],
                   '--type', 'process', '--with-healthcheck']
        if item.get('limit') is not None:
            command += ['--limit', str(item['limit'])]
        for queue in item.get('queues') or []:
            command += ['--work-queue', str(queue)]
    elif item.get('entrypoint'):
        command = ['prefect', 'flow', 'serve', item['entrypoint'], '--name', item['deployment']] + item['args']
    else:
        command = ['python', flows_dir.rstrip('/') + '/' + item['script']] + item['args']
    if not drain:
        return [prefix + command[0]] + command[1:]
    return [prefix + 'python', drain['launcher'], '--timeout', str(int(drain['timeout'])),
            '--grace', str(int(drain['grace'])), '--'] + command


def stale_units(present_paths, processes):
    """Unit file names found on the host that no process of the model uses, sorted."""
    wanted = {p['unit'] for p in processes or []}
    return sorted({path.rsplit('/', 1)[-1] for path in present_paths or []} - wanted)


def worker_host_state(lines):
    """What found.yml's read of the host printed, as a dict: ``compose`` (whether the compose
    runtime's project file is there, from 'compose'), ``venv_python`` (whether the virtualenv's
    python runs, from 'venv-python') and ``distributions`` (installed name, normalized as in
    PEP 503, -> version, from 'dist <name>-<version>.dist-info', the virtualenv's
    site-packages)."""
    state = {'compose': False, 'venv_python': False, 'distributions': {}}
    for line in lines or []:
        kind, _sep, value = line.partition(' ')
        if kind == 'compose':
            state['compose'] = True
        elif kind == 'venv-python':
            state['venv_python'] = True
        elif kind == 'dist' and value.endswith('.dist-info'):
            name, _sep, version = value[:-len('.dist-info')].rpartition('-')
            if name and version:
                state['distributions'][_canonical_name(name)] = version
    return state


def _canonical_name(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def requirements_met(distributions, requirements):
    """Whether ``distributions`` (worker_host_state's, name -> version) satisfy every one of
    ``requirements`` (pip requirement specifiers: 'prefect==3.9.1', 'pandas>=2', 'httpx'), as
    the pip module's check would find: each named distribution installed at a version its
    specifier admits. A requirement that is not a plain name and specifier (a URL, a path, an
    environment marker) is never met here, so the pip module decides."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion
    except ImportError:
        return False
    for text in requirements or []:
        try:
            requirement = Requirement(str(text))
        except InvalidRequirement:
            return False
        if requirement.url or requirement.marker:
            return False
        version = (distributions or {}).get(_canonical_name(requirement.name))
        if version is None:
            return False
        try:
            if not requirement.specifier.contains(version, prereleases=True):
                return False
        except InvalidVersion:
            return False
    return True


def units_to_restart(units, changed_paths, unit_dir, all_units):
    """The units among ``units`` to restart: all of them when ``all_units`` (Prefect or the
    secrets changed), otherwise those whose file in ``unit_dir`` is in ``changed_paths``."""
    units = list(units or [])
    if all_units:
        return units
    changed = set(changed_paths or [])
    return [unit for unit in units if '%s/%s' % (unit_dir.rstrip('/'), unit) in changed]


class FilterModule:
    def filters(self):
        return {
            'worker_common_env': worker_common_env,
            'pip_source_args': pip_source_args,
            'worker_processes_model': worker_processes_model,
            'served_flows_model': served_flows_model,
            'worker_command': worker_command,
            'stale_units': stale_units,
            'units_to_restart': units_to_restart,
            'worker_host_state': worker_host_state,
            'requirements_met': requirements_met,
        }
