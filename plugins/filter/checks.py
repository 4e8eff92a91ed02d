# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Filters the roles' checks use: each returns the values that are wrong, so that a message
names those and only those.

Addresses are checked with Python's ipaddress module: the same answers as ansible.utils'
ipaddr filters, without asking users to install netaddr on their controller.
"""

from __future__ import annotations

import ipaddress
import json
import re

from ansible_collections.prefect_ops.prefect.plugins.module_utils._names import name_problem, pool_name_problem

_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def _is_address(value):
    try:
        ipaddress.ip_address(str(value).strip('[]'))
    except ValueError:
        return False
    return True


def _is_network(value):
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return '/' in str(value)


def invalid_addresses(values):
    """The entries of ``values`` that are not IP addresses (IPv4, or IPv6 with or without brackets)."""
    return [v for v in _as_list(values) if not _is_address(v)]


def invalid_networks(values, bare_address_ok=False):
    """The entries that are not CIDR ranges (``bare_address_ok``: a single address is fine too)."""
    return [v for v in _as_list(values)
            if not (_is_network(v) or (bare_address_ok and _is_address(v)))]


def invalid_listen_addresses(value):
    """The parts of PostgreSQL's comma-separated listen_addresses that are neither '*', an
    address, nor a host name."""
    host_name = re.compile(r'^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9][A-Za-z0-9-]{0,62})*$')
    parts = [p.strip() for p in str(value).split(',')]
    return [p for p in parts if not (p == '*' or _is_address(p) or host_name.match(p))]


def invalid_env_names(names):
    """Names that cannot be environment variable names."""
    return [n for n in _as_list(names) if not _ENV_NAME.match(str(n))]


def pool_name_problems(names):
    """{name: why the Prefect API rejects it} for the pool names it rejects."""
    problems = {}
    for name in _as_list(names):
        problem = pool_name_problem(name)
        if problem:
            problems[str(name)] = problem
    return problems


POSITIVE = re.compile(r'^[1-9][0-9]*$')


def worker_process_problems(worker_processes):
    """What is wrong with each entry of worker_processes, first problem per entry:
    ['worker_processes entry {...}: <problem and fix>', ...]."""
    problems = []
    for entry in worker_processes or []:
        if not isinstance(entry, dict):
            problems.append('worker_processes entry %s: each entry must be a dictionary with a pool.' % json.dumps(entry))
            continue
        if not isinstance(entry.get('pool'), str):
            problem = 'each entry needs a pool (a work pool name).'
        elif not POSITIVE.match(str(entry.get('count', 1))):
            problem = ('count must be a whole number of workers, 1 or more (got %s); remove the entry to run no '
                       'workers.' % str(entry.get('count')))
        elif entry.get('limit') is not None and not POSITIVE.match(str(entry['limit'])):
            problem = ('limit must be 1 or more concurrent flow runs per worker (got %s), or left out for no limit.'
                       % str(entry['limit']))
        elif pool_name_problem(entry['pool']):
            problem = "the pool name '%s' is one the Prefect API rejects: it %s" % (
                entry['pool'], pool_name_problem(entry['pool']))
        else:
            continue
        problems.append('worker_processes entry %s: %s' % (json.dumps(entry), problem))
    return problems


def below_minimum(settings):
    """One message for each setting below its minimum: ``settings`` maps a setting's name to
    [its value, the minimum]. A value that is not a number is below any minimum."""
    problems = []
    for name, (value, minimum) in sorted(settings.items()):
        try:
            ok = float(value) >= float(minimum)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append('%s must be at least %s (got %s).' % (name, minimum, json.dumps(value)))
    return problems


def spec_options(argument_specs, entry='main', with_secrets=False):
    """Names of the options of a role's entry point, from its meta/argument_specs.yml (as a dict);
    options marked no_log are left out unless ``with_secrets``."""
    options = argument_specs.get('argument_specs', argument_specs)[entry].get('options') or {}
    return sorted(name for name, spec in options.items() if with_secrets or not spec.get('no_log'))


def _as_list(values):
    if values is None:
        return []
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]


class FilterModule:
    def filters(self):
        return {
            'below_minimum': below_minimum,
            'invalid_addresses': invalid_addresses,
            'invalid_networks': invalid_networks,
            'invalid_listen_addresses': invalid_listen_addresses,
            'invalid_env_names': invalid_env_names,
            'pool_name_problems': pool_name_problems,
            'worker_process_problems': worker_process_problems,
            'name_problem': name_problem,
            'spec_options': spec_options,
        }
