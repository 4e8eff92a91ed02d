#!/usr/bin/python
# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
module: config_files
short_description: Put a role's directories and files on a host, and remove others, in one module run
version_added: 0.1.0
description:
  - Makes the given directories, writes the given files where their content differs, sets owner, group and mode,
    and removes paths, all in one module run. A role that writes its configuration with one task per path pays one
    or two round trips per path on every run, also when nothing changed; this module pays one.
  - Contents are given as text, typically rendered on the controller with
    C(lookup('ansible.builtin.template', ...)).
  - "Paths are handled in this order: O(directories), then O(secret_files), then O(files), then O(absent). Within
    each list, in the order given: a file's O(files[].validate) command sees the files before it already written."
  - A new content is written to a temporary file beside its path, given its owner, group and mode, validated, and only
    then renamed over the path, so a reader never sees a half-written file, nor a secret file with wider permissions.
author:
  - prefect_ops maintainers (@prefect-ops)
extends_documentation_fragment:
  - prefect_ops.prefect.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Shows the old and new content of O(files), never of O(secret_files).
  idempotent:
    support: full
options:
  directories:
    description:
      - Directories to create when missing (with their missing parents), and whose owner, group and mode to set.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path of the directory.
        type: path
        required: true
      owner:
        description: Owner, by name or number. Unchanged when not given.
        type: str
      group:
        description: Group, by name or number. Unchanged when not given.
        type: str
      mode:
        description: Permissions, in octal as a string (for example V('0755')) or symbolic. Unchanged when not given.
        type: raw
  files:
    description:
      - Files to write when their content differs, and whose owner, group and mode to set.
    type: list
    elements: dict
    default: []
    suboptions: &file_suboptions
      path:
        description: Absolute path of the file. Its directory must exist (list it in O(directories)).
        type: path
        required: true
      state:
        description:
          - V(present) writes the file, V(absent) removes it when it exists (then the other options are ignored).
        type: str
        choices: [present, absent]
        default: present
      content:
        description:
          - The whole content of the file, as text (written in UTF-8).
          - Required with C(state=present).
        type: str
      owner:
        description: Owner, by name or number. Unchanged when not given (root for a new file).
        type: str
      group:
        description: Group, by name or number. Unchanged when not given.
        type: str
      mode:
        description: Permissions, in octal as a string (for example V('0644')) or symbolic. V('0600') for a new file
          when not given.
        type: raw
      validate:
        description:
          - A command that checks the new content before it replaces the file; C(%s) in it stands for the path of the
            temporary file that holds the new content. The file is left as it was when the command fails.
        type: str
  secret_files:
    description:
      - Like O(files), for files that hold secrets. Their content is never shown, neither in diff mode nor in the
        module's arguments as Ansible logs them.
    type: list
    elements: dict
    default: []
    # The same suboptions as files.
    suboptions: *file_suboptions
  absent:
    description:
      - Paths to remove when they exist. A directory is removed with everything in it.
    type: list
    elements: path
    default: []
notes:
  - The module does not follow a symbolic link at a file's path; the link is replaced by the file.
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Write the service's configuration
  prefect_ops.prefect.config_files:
    directories:
      - path: /opt/app
        owner: root
        group: root
        mode: "0750"
    secret_files:
      - path: /opt/app/app.env
        content: "{{ lookup('ansible.builtin.template', 'app.env.j2') }}"
        owner: root
        group: root
        mode: "0600"
    files:
      - path: /opt/app/compose.yaml
        content: "{{ lookup('ansible.builtin.template', 'compose.yaml.j2') }}"
        mode: "0640"
        validate: docker compose --file %s config --quiet
    absent:
      - /opt/app/old.conf
  register: app_config

- name: Restart the service when its env file changed
  when: "'/opt/app/app.env' in app_config.changed_paths"
  ansible.builtin.systemd_service:
    name: app
    state: restarted
"""

RETURN = r"""
changed_paths:
  description:
    - The paths that were (or in check mode would be) created, written, given other attributes or removed, in the
      order they were handled.
  returned: always
  type: list
  elements: str
  sample: [/opt/app/app.env]
created_paths:
  description:
    - The paths among O(directories), O(files) and O(secret_files) that did not exist and were (or in check mode
      would be) created, in the order they were handled. A comparison in check mode tells a file that would
      change from one that is not there yet with it.
  returned: always
  type: list
  elements: str
  sample: [/opt/app]
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

ATTRIBUTE_OPTIONS = dict(
    owner=dict(type='str'),
    group=dict(type='str'),
    mode=dict(type='raw'),
)


def file_options(secret):
    return dict(
        path=dict(type='path', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        content=dict(type='str', no_log=secret),
        validate=dict(type='str'),
        **ATTRIBUTE_OPTIONS
    )


class ConfigFiles:
    """Applies one run's directories, files and removals; collects what changed."""

    def __init__(self, module):
        self.module = module
        self.changed_paths = []
        self.created_paths = []
        self.diffs = []
        # Directories this run creates: in check mode they are not there, yet a file may go in them.
        self.created_directories = set()

    def _note(self, path, changed, diff=None):
        if changed:
            self.changed_paths.append(path)
            if diff is not None:
                self.diffs.append(diff)

    def _attributes(self, path, spec):
        return dict(path=path, owner=spec.get('owner'), group=spec.get('group'), mode=spec.get('mode'),
                    secontext=None, attributes=None)

    def _set_attributes(self, path, spec, diff):
        return self.module.set_fs_attributes_if_different(self._attributes(path, spec), False, diff)

    def directory(self, spec):
        path = spec['path']
        diff = dict(before_header=path, after_header=path, before={}, after={})
        if os.path.isdir(path):
            changed = self._set_attributes(path, spec, diff)
        elif os.path.lexists(path):
            self.module.fail_json(msg='%s exists and is not a directory: remove it or choose another path' % path)
        else:
            diff['before'], diff['after'] = {'state': 'absent'}, {'state': 'directory'}
            changed = True
            self.created_directories.add(path)
            self.created_paths.append(path)
            if not self.module.check_mode:
                os.makedirs(path, mode=0o700)
                self._set_attributes(path, spec, None)
        self._note(path, changed, diff)

    def file(self, spec, secret):
        path = spec['path']
        if spec['state'] == 'absent':
            self.absent(path)
            return
        if spec['content'] is None:
            self.module.fail_json(msg='%s needs a content (state=present)' % path)
        wanted = to_bytes(spec['content'], errors='surrogate_or_strict')
        current = None
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, 'rb') as f:
                current = f.read()
        elif os.path.lexists(path) and not os.path.islink(path):
            self.module.fail_json(msg='%s exists and is not a regular file: remove it or choose another path' % path)
        if current == wanted:
            diff = dict(before_header=path, after_header=path, before={}, after={})
            changed = self._set_attributes(path, spec, diff)
            self._note(path, changed, None if secret else diff)
            return
        if not (os.path.isdir(os.path.dirname(path)) or os.path.dirname(path) in self.created_directories):
            self.module.fail_json(msg='the directory of %s does not exist: list it in directories' % path)
        if not self.module.check_mode:
            self._replace(path, spec, wanted)
        if current is None:
            self.created_paths.append(path)
        if secret:
            diff = None
        else:
            diff = dict(before_header=path, after_header=path,
                        before='' if current is None else to_text(current, errors='surrogate_or_replace'),
                        after=spec['content'])
        self._note(path, True, diff)

    def _replace(self, path, spec, wanted):
        directory, name = os.path.split(path)
        # mkstemp makes the file 0600: a secret is never readable by others, not even for a moment.
        fd, temp = tempfile.mkstemp(dir=directory, prefix='.%s.' % name, suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(wanted)
                f.flush()
                os.fsync(f.fileno())
            if os.path.exists(path):
                # What the spec leaves out stays as the replaced file had it.
                old = os.stat(path)
                os.chmod(temp, old.st_mode & 0o7777)
                os.chown(temp, old.st_uid, old.st_gid)
            self._set_attributes(temp, spec, None)
            if spec.get('validate'):
                self._validate(path, spec['validate'], temp)
            os.replace(temp, path)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)

    def _validate(self, path, command, temp):
        if '%s' not in command:
            self.module.fail_json(msg='the validate command of %s must contain %%s (the new content): %s'
                                  % (path, command))
        rc, out, err = self.module.run_command(command % temp)
        if rc != 0:
            self.module.fail_json(msg='%s was left as it was: its new content failed validation (%s): %s'
                                  % (path, command, to_native(err or out).strip()), rc=rc)

    def absent(self, path):
        exists = os.path.lexists(path)
        diff = dict(before_header=path, after_header=path,
                    before={'state': 'directory' if os.path.isdir(path) else 'file'}, after={'state': 'absent'})
        if exists and not self.module.check_mode:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        self._note(path, exists, diff)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type='list', elements='dict', default=[],
                             options=dict(path=dict(type='path', required=True), **ATTRIBUTE_OPTIONS)),
            files=dict(type='list', elements='dict', default=[], options=file_options(secret=False)),
            # The contents are no_log (file_options); paths and modes are not secret.
            secret_files=dict(type='list', elements='dict', default=[], no_log=False, options=file_options(secret=True)),
            absent=dict(type='list', elements='path', default=[]),
        ),
        supports_check_mode=True,
    )
    paths = ([d['path'] for d in module.params['directories']] + [f['path'] for f in module.params['secret_files']]
             + [f['path'] for f in module.params['files']] + module.params['absent'])
    relative = [p for p in paths if not os.path.isabs(p)]
    if relative:
        module.fail_json(msg='paths must be absolute, these are not: %s' % ', '.join(relative))
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        module.fail_json(msg='each path may be listed once, these are listed more than once: %s' % ', '.join(twice))

    run = ConfigFiles(module)
    for spec in module.params['directories']:
        run.directory(spec)
    for spec in module.params['secret_files']:
        run.file(spec, secret=True)
    for spec in module.params['files']:
        run.file(spec, secret=False)
    for path in module.params['absent']:
        run.absent(path)

    result = dict(changed=bool(run.changed_paths), changed_paths=run.changed_paths, created_paths=run.created_paths)
    if module._diff:
        result['diff'] = run.diffs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
