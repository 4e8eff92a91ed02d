# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Prefect's release numbers in PEP 440 order, on hosts that may not have the packaging library."""

from __future__ import annotations

import re

_VERSION = re.compile(
    r'^v?(?P<release>\d+(?:\.\d+)*)'
    r'(?:[-_.]?(?P<pre>a|alpha|b|beta|c|rc|pre|preview)[-_.]?(?P<pre_n>\d*))?'
    r'(?:[-_.]?(?:post|rev|r)[-_.]?(?P<post>\d*))?'
    r'(?:[-_.]?dev[-_.]?(?P<dev>\d*))?'
    r'(?:\+[a-z0-9._-]*)?$',
    re.IGNORECASE,
)
_PRE_RANK = {'a': 0, 'alpha': 0, 'b': 1, 'beta': 1, 'c': 2, 'rc': 2, 'pre': 2, 'preview': 2}
_BEFORE_ALL = float('-inf')
_AFTER_ALL = float('inf')


def release_key(version):
    """A key that sorts release numbers as PEP 440 does (3.1.8.dev2 < 3.1.8rc1 < 3.1.8 < 3.1.8.post1),
    or None when ``version`` is not one."""
    match = _VERSION.match(str(version).strip())
    if not match:
        return None
    release = [int(part) for part in match.group('release').split('.')]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre, post, dev = match.group('pre'), match.group('post'), match.group('dev')
    if pre is not None:
        pre_key = (_PRE_RANK[pre.lower()], int(match.group('pre_n') or 0))
    elif post is None and dev is not None:
        # A development release of the final release comes before its pre-releases.
        pre_key = (_BEFORE_ALL, 0)
    else:
        pre_key = (_AFTER_ALL, 0)
    post_key = _BEFORE_ALL if post is None else int(post or 0)
    dev_key = _AFTER_ALL if dev is None else int(dev or 0)
    return (tuple(release), pre_key, post_key, dev_key)


def older_than(version, other):
    """Whether release ``version`` comes before release ``other``; None when either is not a release number."""
    key, other_key = release_key(version), release_key(other)
    if key is None or other_key is None:
        return None
    return key < other_key
