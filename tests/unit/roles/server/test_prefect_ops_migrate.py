# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The server role's one migration step (roles/server/files/prefect_ops_migrate.py),
with alembic's `current` and Prefect's upgrade replaced by a scripted database."""

from __future__ import annotations

import importlib.util
import io
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[4] / 'roles' / 'server' / 'files' / 'prefect_ops_migrate.py'
_spec = importlib.util.spec_from_file_location('prefect_ops_migrate', SCRIPT)
migrate_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(migrate_module)


class Config:
    def print_stdout(self, text, *args):
        raise AssertionError('replaced by the script')


class Database:
    """What alembic's `current` prints for a database at `revision` of a release whose
    head is `head`; `upgrade` moves it to the head."""

    def __init__(self, revision, head='b2'):
        self.revision, self.head, self.upgrades = revision, head, 0

    def current(self, config):
        if self.revision:
            config.print_stdout('%s%s', self.revision, ' (head)' if self.revision == self.head else '')

    def upgrade(self):
        self.upgrades += 1
        self.revision = self.head


def run(database):
    out = io.StringIO()
    code = migrate_module.migrate(Config, database.current, database.upgrade, out)
    return code, out.getvalue().strip()


def test_a_database_at_the_head_is_left_alone():
    database = Database('b2')
    assert run(database) == (0, 'at head: b2 (head)')
    assert database.upgrades == 0


def test_an_older_schema_is_migrated_once_and_said_so():
    database = Database('a1')
    assert run(database) == (0, 'migrated: a1 -> b2 (head)')
    assert database.upgrades == 1


def test_an_empty_database_is_migrated():
    database = Database(None)
    assert run(database) == (0, 'migrated: an empty database -> b2 (head)')


def test_a_migration_that_does_not_reach_the_head_fails():
    database = Database('a1')
    database.upgrade = lambda: None
    code, message = run(database)
    assert code == 1 and message == 'still not at head after the migration: a1'
