# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The work pools of the fleet: which pools the workers poll, how often each worker asks
(worker role), and what to ask the work_pool module for each pool (work_pools role)."""

from __future__ import annotations

import math

from ansible.errors import AnsibleFilterError
from ansible_collections.prefect_ops.prefect.plugins.module_utils._names import pool_name_problem

# The work_pool module's options that a pool entry may set.
MODULE_OPTIONS = ('name', 'state', 'type', 'description', 'concurrency_limit', 'is_paused',
                  'base_job_template', 'job_variables')


def _count(entry):
    try:
        return int(entry.get('count', 1))
    except (TypeError, ValueError):
        return 1


def _polling_entries(processes):
    """The worker_processes entries that poll a pool (at least one worker); entries the worker
    role's checks refuse are left to those checks."""
    if not isinstance(processes, list):
        return []
    return [entry for entry in processes
            if isinstance(entry, dict) and isinstance(entry.get('pool'), str) and _count(entry) > 0]


def _hosts_entries(hosts_vars, default_pool):
    """The polling entries of every host: a host without worker_processes polls
    ``default_pool`` (the worker role's default) with one worker."""
    for host_vars in hosts_vars or []:
        if 'worker_processes' in host_vars:
            processes = host_vars['worker_processes']
        else:
            processes = [{'pool': default_pool}] if default_pool else []
        yield from _polling_entries(processes)


def polled_pools(hosts_vars, default_pool=None):
    """The pools that the hosts' worker_processes poll (entries with at least one worker), in
    the order first named. ``hosts_vars`` are the hosts' variables (for example
    ``groups['prefect_worker'] | map('extract', hostvars)``)."""
    pools = []
    for entry in _hosts_entries(hosts_vars, default_pool):
        if entry['pool'] not in pools:
            pools.append(entry['pool'])
    return pools


def pool_query_seconds(hosts_vars, own_processes, minimum, pool_polls_per_second, default_pool=None):
    """Seconds between one worker's queries for runs: ``minimum``, or longer where a pool that
    this host's ``own_processes`` poll has so many workers on the hosts (``hosts_vars``, as for
    polled_pools) that together they would ask more than ``pool_polls_per_second`` times a
    second. The pool's runs are then still seen as often (its workers' polls interleave), and
    the API's load stays the same however large the fleet grows. 0: always ``minimum``."""
    try:
        seconds, rate = int(minimum), float(pool_polls_per_second)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError('pool_query_seconds needs numbers: %s' % e)
    if rate <= 0:
        return seconds
    workers = {}
    for entry in _hosts_entries(hosts_vars, default_pool):
        workers[entry['pool']] = workers.get(entry['pool'], 0) + _count(entry)
    for entry in _polling_entries(own_processes):
        # A host outside the hosts counted (the role applied to another group) counts itself.
        pool_workers = max(workers.get(entry['pool'], 0), _count(entry))
        seconds = max(seconds, int(math.ceil(pool_workers / rate)))
    return seconds


def pools_to_ensure(definitions, process_pools, flow_run_command=''):
    """The work_pool module's arguments for each pool: the definitions, then a process pool for
    each polled pool they do not list. A polled pool gets ``flow_run_command`` as the default of
    its ``command`` job variable, unless its own job_variables set one."""
    listed = [dict((k, v) for k, v in entry.items() if k in MODULE_OPTIONS) for entry in definitions or []]
    names = [entry.get('name') for entry in listed]
    for pool in process_pools or []:
        if pool not in names:
            listed.append({'name': pool, 'type': 'process'})
            names.append(pool)
    if flow_run_command:
        for entry in listed:
            if entry['name'] in (process_pools or []):
                entry['job_variables'] = dict({'command': flow_run_command}, **(entry.get('job_variables') or {}))
    return listed


def process_pool_problems(definitions, process_pools):
    """Why each polled pool that the definitions list cannot serve the collection's process
    workers: {name: problem}."""
    problems = {}
    for entry in definitions or []:
        name = entry.get('name')
        if name not in (process_pools or []):
            continue
        kind = entry.get('type', 'process')
        state = entry.get('state', 'present')
        if kind != 'process' or state != 'present':
            problems[name] = 'is listed with type %s and state %s' % (kind, state)
    return problems


def definition_problems(definitions, known_types):
    """What is wrong with each entry of the pool definitions: [{pool, problem}]."""
    problems = []
    names = [entry.get('name') for entry in definitions or [] if isinstance(entry, dict)]
    for entry in definitions or []:
        label = entry.get('name', '?') if isinstance(entry, dict) else repr(entry)
        if not isinstance(entry, dict) or not isinstance(entry.get('name'), str):
            problems.append(dict(pool=label, problem='each pool needs a name'))
            continue
        name_rule = pool_name_problem(entry['name'])
        if name_rule:
            problems.append(dict(pool=label, problem="the pool name '%s' is one the Prefect API rejects: it %s" % (
                entry['name'], name_rule)))
        kind = entry.get('type', 'process')
        if kind not in known_types and 'base_job_template' not in entry:
            problems.append(dict(pool=label, problem="unknown pool type '%s'; a Prefect server knows %s (for another "
                                                     "worker type, give the pool its base_job_template)" % (
                                                         kind, ', '.join(known_types))))
        if names.count(entry['name']) > 1:
            problems.append(dict(pool=label, problem='the pool is listed twice'))
    return problems


class FilterModule:
    def filters(self):
        return {
            'polled_pools': polled_pools,
            'pool_query_seconds': pool_query_seconds,
            'pools_to_ensure': pools_to_ensure,
            'process_pool_problems': process_pool_problems,
            'definition_problems': definition_problems,
        }
