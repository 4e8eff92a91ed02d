# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.prefect_ops.prefect.plugins.filter import pools

KNOWN = ['process', 'docker']


def test_polled_pools_in_the_order_first_named_without_empty_entries():
    hosts = [
        {'worker_processes': [{'pool': 'etl', 'count': 2}, {'pool': 'idle', 'count': 0}]},
        {'worker_processes': [{'pool': 'ml'}, {'pool': 'etl'}]},
    ]
    assert pools.polled_pools(hosts, 'process-pool') == ['etl', 'ml']


def test_a_small_fleet_polls_at_the_minimum_interval():
    hosts = [{'worker_processes': [{'pool': 'etl', 'count': 2}]}, {'worker_processes': [{'pool': 'etl', 'count': 3}]}]
    assert pools.pool_query_seconds(hosts, [{'pool': 'etl', 'count': 2}], 1, 5) == 1


def test_the_interval_grows_with_the_workers_of_the_pool_across_the_hosts():
    # 20 hosts of 3 workers: 60 workers of etl ask 5 times a second together at 12 s each.
    hosts = [{'worker_processes': [{'pool': 'etl', 'count': 3}]} for _host in range(20)]
    assert pools.pool_query_seconds(hosts, [{'pool': 'etl', 'count': 3}], 1, 5) == 12
    # Rounded up: 11 workers at 5 a second need 3 s, not 2.2.
    eleven = hosts[:3] + [{'worker_processes': [{'pool': 'etl', 'count': 2}, {'pool': 'etl', 'count': 0}]}]
    assert pools.pool_query_seconds(eleven, [{'pool': 'etl', 'count': 3}], 1, 5) == 3


def test_the_busiest_pool_of_the_host_sets_its_interval_and_other_pools_do_not():
    hosts = [
        {'worker_processes': [{'pool': 'small'}, {'pool': 'big', 'count': 4}]},
        {'worker_processes': [{'pool': 'big', 'count': 16}]},
        {'worker_processes': [{'pool': 'other', 'count': 100}]},
    ]
    assert pools.pool_query_seconds(hosts, hosts[0]['worker_processes'], 1, 5) == 4
    assert pools.pool_query_seconds(hosts, [{'pool': 'small'}], 1, 5) == 1


def test_hosts_without_worker_processes_count_as_one_worker_of_the_default_pool():
    hosts = [{}] * 12
    assert pools.pool_query_seconds(hosts, [{'pool': 'process-pool'}], 1, 5, 'process-pool') == 3


def test_a_host_outside_the_counted_hosts_counts_its_own_workers():
    assert pools.pool_query_seconds([], [{'pool': 'etl', 'count': 12}], 1, 5) == 3


def test_a_longer_minimum_wins_and_zero_turns_the_growth_off():
    hosts = [{'worker_processes': [{'pool': 'etl', 'count': 50}]}]
    assert pools.pool_query_seconds(hosts, hosts[0]['worker_processes'], 15, 5) == 15
    assert pools.pool_query_seconds(hosts, hosts[0]['worker_processes'], 1, 0) == 1
    assert pools.pool_query_seconds(hosts, hosts[0]['worker_processes'], 1, 0.5) == 100


def test_pool_query_seconds_refuses_what_is_not_a_number():
    with pytest.raises(AnsibleFilterError, match='numbers'):
        pools.pool_query_seconds([], [], 'one', 5)


def test_a_host_without_worker_processes_polls_the_default_pool():
    assert pools.polled_pools([{}, {'worker_processes': []}], 'process-pool') == ['process-pool']
    assert pools.polled_pools([{}]) == []


def test_entries_the_worker_checks_refuse_are_left_to_them():
    hosts = [{'worker_processes': 'etl'}, {'worker_processes': [{'count': 1}, 'x', {'pool': 'ok', 'count': 'a'}]}]
    assert pools.polled_pools(hosts) == ['ok']


def test_pools_to_ensure_adds_unlisted_polled_pools_once_with_the_command():
    listed = [{'name': 'ml', 'concurrency_limit': 4}, {'name': 'other', 'type': 'docker'}]
    assert pools.pools_to_ensure(listed, ['etl', 'ml', 'etl'], 'python -m prefect.engine') == [
        {'name': 'ml', 'concurrency_limit': 4, 'job_variables': {'command': 'python -m prefect.engine'}},
        {'name': 'other', 'type': 'docker'},
        {'name': 'etl', 'type': 'process', 'job_variables': {'command': 'python -m prefect.engine'}},
    ]


def test_a_pool_own_command_wins_and_no_command_leaves_job_variables_alone():
    listed = [{'name': 'etl', 'job_variables': {'command': 'run-it', 'env': {'A': '1'}}}]
    assert pools.pools_to_ensure(listed, ['etl'], 'python -m prefect.engine')[0]['job_variables'] == {
        'command': 'run-it', 'env': {'A': '1'}}
    assert pools.pools_to_ensure([{'name': 'etl'}], ['etl'], '') == [{'name': 'etl'}]


def test_pools_to_ensure_passes_only_module_options_and_leaves_the_input_alone():
    listed = [{'name': 'etl', 'comment': 'x', 'job_variables': {'env': {}}}]
    out = pools.pools_to_ensure(listed, ['etl'], 'cmd')
    assert out == [{'name': 'etl', 'job_variables': {'command': 'cmd', 'env': {}}}]
    assert listed[0] == {'name': 'etl', 'comment': 'x', 'job_variables': {'env': {}}}


def test_process_pool_problems_name_only_polled_pools_that_cannot_be_process_pools():
    listed = [{'name': 'etl', 'type': 'docker'}, {'name': 'ml', 'state': 'absent'}, {'name': 'ok'},
              {'name': 'elsewhere', 'type': 'docker'}]
    assert pools.process_pool_problems(listed, ['etl', 'ml', 'ok']) == {
        'etl': 'is listed with type docker and state present',
        'ml': 'is listed with type process and state absent',
    }


def test_definition_problems_name_each_wrong_entry_only():
    listed = [{'name': 'ok'}, {'name': 'etl/nightly'}, {'name': 'k8s', 'type': 'kubernetes'},
              {'name': 'custom', 'type': 'mine', 'base_job_template': {}}, {'name': 'twice'}, {'name': 'twice'},
              {'type': 'process'}]
    problems = pools.definition_problems(listed, KNOWN)
    assert [p['pool'] for p in problems] == ['etl/nightly', 'k8s', 'twice', 'twice', '?']
    assert "contains '/'" in problems[0]['problem']
    assert "unknown pool type 'kubernetes'; a Prefect server knows process, docker" in problems[1]['problem']
    assert problems[2]['problem'] == 'the pool is listed twice'
    assert problems[4]['problem'] == 'each pool needs a name'
