# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""One escaper per file format the roles write, so that any value reaches the program literally.

- compose_value: a value in a compose file (YAML): a JSON string (valid YAML, so compose
  does not re-type it) with '$' doubled (no interpolation).
- env_file_value: a value in an env file, for Docker Compose (``dialect='compose'``) or
  systemd's EnvironmentFile= (``dialect='systemd'``): double-quoted, with backslash, quote,
  '$' (and '`' for systemd) escaped and newlines written as \\n.
- systemd_arg: one argument of a systemd command line (ExecStart=): double-quoted, with
  backslash and quote escaped, '%' doubled (specifiers) and '$' doubled (variable expansion).
- systemd_environment: the NAME=value word of an Environment= line: double-quoted, with
  backslash and quote escaped and '%' doubled.
- pgpass_line: a line of a PostgreSQL password file that gives the password for any host,
  port, database and user: ':' and backslash escaped.
- createcluster_value: a setting's value in a file of Debian's createcluster.d, which
  pg_createcluster copies into a new cluster's postgresql.conf: single-quoted, with quote
  and backslash doubled (PostgreSQL's parser), and '%' doubled (pg_createcluster's
  specifiers, such as %v for the version).
- redis_cli_arg: one argument of a command that redis-cli reads from its input:
  double-quoted, with backslash and quote escaped and control characters as \\xHH (its
  parser, sdssplitargs, reads them back).
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError


def _text(value):
    # As Jinja's `string` filter: the files rendered before these filters existed stay the same.
    return str(value)


def compose_value(value):
    return json.dumps(_text(value).replace('$', '$$'))


def env_file_value(value, dialect='compose'):
    specials = {'compose': '\\"$', 'systemd': '\\"$`'}
    if dialect not in specials:
        raise AnsibleFilterError('env_file_value: dialect must be compose or systemd, got %r' % (dialect,))
    out = []
    for char in _text(value):
        if char == '\n':
            out.append('\\n')
        elif char in specials[dialect]:
            out.append('\\' + char)
        else:
            out.append(char)
    return '"%s"' % ''.join(out)


def _systemd_quoted(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%')


def systemd_arg(value):
    return _systemd_quoted(_text(value)).replace('$', '$$')


def systemd_environment(name, value):
    return _systemd_quoted('%s=%s' % (name, _text(value)))


def pgpass_line(password):
    text = _text(password)
    if '\n' in text or '\r' in text:
        raise AnsibleFilterError('pgpass_line: a password file cannot hold a password with a line break')
    return '*:*:*:*:' + text.replace('\\', '\\\\').replace(':', '\\:')


def createcluster_value(value):
    text = _text(value)
    if '\n' in text or '\r' in text:
        raise AnsibleFilterError('createcluster_value: a PostgreSQL setting cannot hold a line break')
    return "'%s'" % text.replace('\\', '\\\\').replace("'", "''").replace('%', '%%')


def redis_cli_arg(value):
    out = []
    for char in _text(value):
        if char in '\\"':
            out.append('\\' + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append('\\x%02x' % ord(char))
        else:
            out.append(char)
    return '"%s"' % ''.join(out)


class FilterModule:
    def filters(self):
        return {
            'compose_value': compose_value,
            'createcluster_value': createcluster_value,
            'env_file_value': env_file_value,
            'pgpass_line': pgpass_line,
            'redis_cli_arg': redis_cli_arg,
            'systemd_arg': systemd_arg,
            'systemd_environment': systemd_environment,
        }
