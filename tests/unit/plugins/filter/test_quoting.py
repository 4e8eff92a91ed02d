# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

import json
import shlex

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.prefect_ops.prefect.plugins.filter import quoting

NASTY = 'p@ss/w:rd#"x"\\y$HOME`id`%n\nline2'


def test_compose_value_is_a_json_string_with_dollars_doubled():
    out = quoting.compose_value(NASTY)
    assert json.loads(out) == NASTY.replace('$', '$$')


def test_compose_value_keeps_jinja_string_semantics():
    assert quoting.compose_value(5) == '"5"'
    assert quoting.compose_value(True) == '"True"'


@pytest.mark.parametrize('dialect, escaped', [('compose', '\\"$'), ('systemd', '\\"$`')])
def test_env_file_value_escapes_what_the_dialect_interprets(dialect, escaped):
    out = quoting.env_file_value(NASTY, dialect)
    assert out.startswith('"') and out.endswith('"')
    assert '\n' not in out
    body = out[1:-1]
    # Every special character is preceded by a backslash; unescaping gives the value back.
    unescaped, i = [], 0
    while i < len(body):
        if body[i] == '\\':
            nxt = body[i + 1]
            assert nxt in escaped + 'n', 'unexpected escape \\%s' % nxt
            unescaped.append('\n' if nxt == 'n' else nxt)
            i += 2
        else:
            assert body[i] not in escaped, 'unescaped %r in %s' % (body[i], out)
            unescaped.append(body[i])
            i += 1
    assert ''.join(unescaped) == NASTY


def test_env_file_value_refuses_an_unknown_dialect():
    with pytest.raises(AnsibleFilterError, match='dialect'):
        quoting.env_file_value('x', 'bash')


def test_systemd_arg_doubles_specifiers_and_variables():
    out = quoting.systemd_arg('100% of $PATH "x"')
    assert out == '"100%% of $$PATH \\"x\\""'
    # systemd splits like a shell once %% and $$ are undone.
    assert shlex.split(out.replace('%%', '%').replace('$$', '$')) == ['100% of $PATH "x"']


def test_systemd_environment_quotes_the_assignment_and_keeps_dollars():
    assert quoting.systemd_environment('A', 'x $y 5%') == '"A=x $y 5%%"'


def _redis_cli_split(line):
    """redis-cli's reading of one double-quoted argument (sdssplitargs in Redis' sds.c)."""
    assert line[0] == '"' and line[-1] == '"', line
    body, out, position = line[1:-1], [], 0
    while position < len(body):
        char = body[position]
        assert char != '"', "an unescaped quote ends the argument early"
        if char == '\\':
            following = body[position + 1]
            if following == 'x':
                out.append(chr(int(body[position + 2:position + 4], 16)))
                position += 4
                continue
            out.append({'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}.get(following, following))
            position += 2
            continue
        out.append(char)
        position += 1
    return ''.join(out)


@pytest.mark.parametrize('value', [NASTY, 'plain', 'with space', 'tab\tand\r\x7f', '', 42])
def test_redis_cli_arg_reads_back_as_the_same_value(value):
    quoted = quoting.redis_cli_arg(value)
    assert '\n' not in quoted
    assert _redis_cli_split(quoted) == str(value)


def test_pgpass_line_matches_any_connection_and_escapes_colons_and_backslashes():
    assert quoting.pgpass_line('a:b\\c@d') == '*:*:*:*:a\\:b\\\\c@d'


def test_pgpass_line_refuses_a_line_break():
    with pytest.raises(AnsibleFilterError, match='line break'):
        quoting.pgpass_line('one\ntwo')


def test_createcluster_value_quotes_and_doubles_quotes_backslashes_and_percent_signs():
    assert quoting.createcluster_value("it's 100% C:\\x") == "'it''s 100%% C:\\\\x'"
    assert quoting.createcluster_value(512) == "'512'"


def test_createcluster_value_refuses_a_line_break():
    with pytest.raises(AnsibleFilterError, match='line break'):
        quoting.createcluster_value('one\ntwo')
