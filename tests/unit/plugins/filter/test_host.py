# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

from ansible_collections.prefect_ops.prefect.plugins.filter import host


def test_hosts_of_lists_each_host_once_in_inventory_order():
    groups = {'prefect_database': ['aio', 'db'], 'prefect_server': ['aio'], 'prefect_worker': ['w1', 'aio']}
    assert host.hosts_of(groups, ['prefect_database', 'prefect_server', 'prefect_worker']) == ['aio', 'db', 'w1']


def test_hosts_of_a_group_the_inventory_lacks_is_empty():
    assert host.hosts_of({'prefect_server': ['s1']}, ['prefect_redis']) == []
    assert host.hosts_of({}, ['prefect_redis', 'prefect_front_door']) == []
