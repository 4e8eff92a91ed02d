# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Prefect's rules for names, shared by the work_pool module and the roles' checks (filter plugins)."""

from __future__ import annotations

# prefect.types.names.BANNED_CHARACTERS: the API rejects these in names.
BANNED_CHARACTERS = ('/', '%', '&', '>', '<')
# Work pool names the API reserves for Prefect itself (prefect.server.api.workers): create and
# delete answer 403, update only accepts is_paused and concurrency_limit.
RESERVED_POOL_PREFIX = 'prefect'


def name_problem(name):
    """Why Prefect rejects ``name`` as a name, or None when it accepts it."""
    banned = [c for c in BANNED_CHARACTERS if c in name]
    if banned:
        return 'contains %s, which the Prefect API rejects in names (it rejects %s). Choose a name without them.' % (
            ', '.join("'%s'" % c for c in banned), ' '.join(BANNED_CHARACTERS))
    # prefect.types.names.NonEmptyishName
    if not name.strip('\' "'):
        return 'is empty (or only quotes and spaces), which the Prefect API rejects. Give it a name.'
    return None


def is_reserved_pool_name(name):
    return name.lower().startswith(RESERVED_POOL_PREFIX)


def pool_name_problem(name):
    """Why ``name`` cannot be the name of a pool the collection creates, or None."""
    if not isinstance(name, str):
        return 'must be a string'
    problem = name_problem(name)
    if problem:
        return problem
    if is_reserved_pool_name(name):
        return "starts with '%s', which the Prefect API reserves for its own pools. Choose another name." % (
            RESERVED_POOL_PREFIX)
    return None
