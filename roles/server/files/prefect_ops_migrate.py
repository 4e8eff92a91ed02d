# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Brings the Prefect database to the schema of the release it runs in, and says whether
that took a migration.

Run once per deployment by the server role, in the server's image with the server's
database settings (the `migrate` service of a scaled-out server's compose project), so
that no API server migrates on start. It prints one line: "at head: <revisions>" when the
schema already was this release's (the role reports no change), else
"migrated: <before> -> <after>". Prefect's own `alembic_upgrade` (what
`prefect server database upgrade -y` runs) does the migrating.
"""

from __future__ import annotations

import sys


def current_revisions(config, current):
    """The database's revisions as alembic's `current` prints them ("<rev> (head)" for a
    revision that is this release's head), read through Prefect's migration environment."""
    lines = []
    config.print_stdout = lambda text, *args: lines.append(text % args if args else text)
    current(config)
    return [line.strip() for line in lines if line.strip()]


def at_head(revisions):
    return bool(revisions) and all(revision.endswith('(head)') for revision in revisions)


def migrate(config_factory, current, upgrade, out=sys.stdout):
    before = current_revisions(config_factory(), current)
    if at_head(before):
        out.write('at head: %s\n' % ', '.join(before))
        return 0
    upgrade()
    after = current_revisions(config_factory(), current)
    if not at_head(after):
        out.write('still not at head after the migration: %s\n' % ', '.join(after))
        return 1
    out.write('migrated: %s -> %s\n' % (', '.join(before) or 'an empty database', ', '.join(after)))
    return 0


def main():
    import asyncio

    from alembic import command
    from prefect.server.database.alembic_commands import alembic_config, alembic_upgrade
    from prefect.utilities.asyncutils import run_sync_in_worker_thread

    # Prefect's migration environment runs its async engine from an AnyIO worker thread,
    # as `prefect server database upgrade` calls it.
    return asyncio.run(run_sync_in_worker_thread(migrate, alembic_config, command.current, alembic_upgrade))


if __name__ == '__main__':
    sys.exit(main())
