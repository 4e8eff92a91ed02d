# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0
"""Writes the variable table of every role's README from its meta/argument_specs.yml.

The argument spec is the one source of each variable's type, default and description; the
table between the markers below is generated from it. `--check` changes nothing and fails
when a README differs from what would be written (make lint runs it).

    python tools/role_docs.py          # rewrite the tables
    python tools/role_docs.py --check  # fail on drift
"""

from __future__ import annotations

import argparse
import difflib
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
BEGIN = '<!-- BEGIN variables (generated from meta/argument_specs.yml by tools/role_docs.py; do not edit) -->'
END = '<!-- END variables -->'
# Ansible's documentation markup -> Markdown.
MARKUP = [
    (re.compile(r'O\([a-z0-9_.]+#role:[a-z0-9_]+:([^()]*)\)'), r'`\1`'),
    (re.compile(r'[OCV]\(([^()]*(?:\([^()]*\))?[^()]*)\)'), r'`\1`'),
    (re.compile(r'P\(([^#)]+)#role\)'), r'`\1`'),
    (re.compile(r'I\(([^)]*)\)'), r'*\1*'),
]


def markdown(text):
    text = ' '.join(str(text).split())
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return text.replace('|', '\\|')


def default_text(spec):
    if spec.get('no_log') and 'default' not in spec:
        return 'secret, see description'
    if spec.get('required'):
        return 'required'
    if 'default' not in spec:
        return 'see description'
    value = spec['default']
    if isinstance(value, str):
        shown = value if value else '""'
    else:
        shown = json.dumps(value)
    return '`%s`' % shown.replace('|', '\\|')


def type_text(spec):
    kind = spec.get('type', 'str')
    if kind == 'list' and spec.get('elements'):
        kind = 'list of %s' % spec['elements']
    if spec.get('choices'):
        kind += ': ' + ', '.join('`%s`' % c for c in spec['choices'])
    return kind


def table(spec_file):
    specs = yaml.safe_load(spec_file.read_text())['argument_specs']
    # A role's variables are its main entry point's; the prefect role has only `checks`.
    options = specs.get('main', next(iter(specs.values()))).get('options') or {}
    lines = [BEGIN, '', '| variable | type | default | description |', '| --- | --- | --- | --- |']
    for name, spec in options.items():
        description = spec.get('description', '')
        if isinstance(description, list):
            description = ' '.join(description)
        lines.append('| `%s` | %s | %s | %s |' % (name, type_text(spec), default_text(spec), markdown(description)))
    lines += ['', END]
    return '\n'.join(lines)


def rendered(readme, spec_file):
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit('%s has no generated variable table: add the markers\n%s\n%s' % (readme, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + table(spec_file) + tail


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='fail when a README is not what would be written')
    args = parser.parse_args()
    drift = False
    for spec_file in sorted(ROOT.glob('roles/*/meta/argument_specs.yml')):
        role = spec_file.parent.parent
        if role.name.startswith('_'):
            continue  # internal: its parameters are documented in the spec itself
        readme = role / 'README.md'
        new = rendered(readme, spec_file)
        old = readme.read_text()
        if new == old:
            continue
        if args.check:
            drift = True
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       str(readme), str(readme) + ' (from the spec)'))
        else:
            readme.write_text(new)
            print('wrote', readme.relative_to(ROOT))
    if drift:
        print('\nThe variable tables differ from the argument specs: run python tools/role_docs.py', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
