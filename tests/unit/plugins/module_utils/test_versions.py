# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import pytest

from ansible_collections.prefect_ops.prefect.plugins.module_utils._versions import older_than, release_key

# In PEP 440 order, as the packaging library sorts them.
ORDERED = ['2.20.27', '3.0.0.dev1', '3.0.0a1', '3.0.0b2', '3.0.0rc1', '3.0.0', '3.0.0.post1', '3.0.1', '3.1.8.dev3',
           '3.1.8', '3.9.1', '3.10.0', '3.99.0']


@pytest.mark.parametrize('index', range(len(ORDERED) - 1))
def test_releases_sort_as_pep_440_does(index):
    assert older_than(ORDERED[index], ORDERED[index + 1]) is True
    assert older_than(ORDERED[index + 1], ORDERED[index]) is False


def test_trailing_zeros_and_a_v_prefix_do_not_count():
    assert release_key('3.9') == release_key('3.9.0') == release_key('v3.9.0.0')
    assert older_than('3.9', '3.9.0') is False


def test_local_versions_count_as_their_release():
    assert older_than('3.9.1+cu121', '3.9.1') is False


@pytest.mark.parametrize('bad', ['latest', '', '3.x', 'three'])
def test_what_is_not_a_release_cannot_be_compared(bad):
    assert release_key(bad) is None
    assert older_than(bad, '3.9.1') is None
    assert older_than('3.9.1', bad) is None
