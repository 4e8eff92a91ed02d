# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Runs prefect_ops.prefect.config_files through its main() on a temporary directory."""

from __future__ import annotations

import functools
import grp
import json
import os
import pwd
import stat

import pytest

from ansible_collections.prefect_ops.prefect.plugins.modules import config_files

SECRET = 'PASSWORD=s3cr3t-value-that-must-not-leak'
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def run(run_module):
    """Run config_files with the given arguments; return (failed, result)."""
    return functools.partial(run_module, config_files.main)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path) as f:
        return f.read()


def layout(tmp_path):
    project = str(tmp_path / 'project')
    return dict(
        directories=[dict(path=project, owner=USER, group=GROUP, mode='0750')],
        secret_files=[dict(path=project + '/app.env', content=SECRET + '\n', mode='0600')],
        files=[dict(path=project + '/compose.yaml', content='services: {}\n', mode='0640')],
    )


def test_first_run_writes_everything_and_the_second_nothing(run, tmp_path):
    args = layout(tmp_path)
    project = str(tmp_path / 'project')
    failed, result = run(**args)
    assert not failed, result
    assert result['changed'] is True
    assert result['changed_paths'] == [project, project + '/app.env', project + '/compose.yaml']
    assert result['created_paths'] == result['changed_paths']
    assert mode_of(project) == 0o750
    assert read(project + '/app.env') == SECRET + '\n'
    assert mode_of(project + '/app.env') == 0o600
    assert read(project + '/compose.yaml') == 'services: {}\n'
    assert mode_of(project + '/compose.yaml') == 0o640
    assert sorted(os.listdir(project)) == ['app.env', 'compose.yaml']  # no temporary file left

    failed, result = run(**args)
    assert not failed, result
    assert result['changed'] is False
    assert result['changed_paths'] == []
    assert result['created_paths'] == []


def test_only_what_differs_is_reported(run, tmp_path):
    args = layout(tmp_path)
    project = str(tmp_path / 'project')
    run(**args)
    args['files'][0]['content'] = 'services: {web: {}}\n'
    args['secret_files'][0]['mode'] = '0640'
    failed, result = run(**args)
    assert not failed, result
    assert result['changed_paths'] == [project + '/app.env', project + '/compose.yaml']
    assert result['created_paths'] == []
    assert mode_of(project + '/app.env') == 0o640
    assert read(project + '/app.env') == SECRET + '\n'
    assert read(project + '/compose.yaml') == 'services: {web: {}}\n'


def test_check_mode_changes_nothing(run, tmp_path):
    args = layout(tmp_path)
    project = str(tmp_path / 'project')
    failed, result = run(check_mode=True, **args)
    assert not failed, result
    assert result['changed_paths'] == [project, project + '/app.env', project + '/compose.yaml']
    assert result['created_paths'] == [project, project + '/app.env', project + '/compose.yaml']
    assert not os.path.exists(project)

    run(**args)
    args['files'][0]['content'] = 'changed\n'
    failed, result = run(check_mode=True, **args)
    assert result['changed_paths'] == [project + '/compose.yaml']
    assert result['created_paths'] == []
    assert read(project + '/compose.yaml') == 'services: {}\n'


def test_diff_shows_files_but_never_secrets(run, tmp_path):
    args = layout(tmp_path)
    project = str(tmp_path / 'project')
    failed, result = run(diff=True, **args)
    assert not failed, result
    contents = [d for d in result['diff'] if isinstance(d.get('after'), str)]
    assert contents == [dict(before_header=project + '/compose.yaml', after_header=project + '/compose.yaml',
                             before='', after='services: {}\n')]
    assert 's3cr3t' not in json.dumps(result)  # neither in the diff nor in the logged arguments


def test_a_secret_never_leaks_when_its_file_changes(run, tmp_path):
    args = layout(tmp_path)
    run(**args)
    args['secret_files'][0]['content'] = 'PASSWORD=another-s3cr3t\n'
    failed, result = run(diff=True, **args)
    assert not failed, result
    assert result['changed_paths'] == [str(tmp_path / 'project' / 'app.env')]
    assert 's3cr3t' not in json.dumps(result)


def test_a_replaced_file_keeps_what_the_spec_leaves_out(run, tmp_path):
    path = tmp_path / 'kept.conf'
    path.write_text('old\n')
    os.chmod(path, 0o644)
    failed, result = run(files=[dict(path=str(path), content='new\n')])
    assert not failed, result
    assert read(path) == 'new\n'
    assert mode_of(path) == 0o644


def test_a_new_file_without_mode_is_owner_only(run, tmp_path):
    path = str(tmp_path / 'new.conf')
    failed, result = run(files=[dict(path=path, content='x\n')])
    assert not failed, result
    assert mode_of(path) == 0o600


def test_validation_failure_leaves_the_file_as_it_was(run, tmp_path):
    path = tmp_path / 'daemon.json'
    path.write_text('{}\n')
    failed, result = run(files=[dict(path=str(path), content='not json\n',
                                     validate='python3 -c "import json,sys; json.load(open(sys.argv[1]))" %s')])
    assert failed
    assert result['msg'].startswith(str(path) + ' was left as it was: its new content failed validation')
    assert read(path) == '{}\n'
    assert os.listdir(tmp_path) == ['daemon.json']


def test_validation_sees_the_files_written_before(run, tmp_path):
    first = str(tmp_path / 'first')
    check = 'grep -q "^two$" %s' % first + ' %s'
    failed, result = run(files=[dict(path=first, content='two\n'),
                                dict(path=str(tmp_path / 'second'), content='x\n', validate=check)])
    assert not failed, result
    assert read(str(tmp_path / 'second')) == 'x\n'


def test_validate_needs_the_placeholder(run, tmp_path):
    path = str(tmp_path / 'a')
    failed, result = run(files=[dict(path=path, content='x\n', validate='true')])
    assert failed
    assert 'must contain %s' in result['msg']
    assert not os.path.exists(path)


def test_absent_removes_files_and_directories(run, tmp_path):
    (tmp_path / 'gone.conf').write_text('x')
    (tmp_path / 'gone.d').mkdir()
    (tmp_path / 'gone.d' / 'inner').write_text('x')
    paths = [str(tmp_path / 'gone.conf'), str(tmp_path / 'gone.d'), str(tmp_path / 'never-there')]
    failed, result = run(check_mode=True, absent=paths)
    assert result['changed_paths'] == paths[:2]
    assert os.path.exists(paths[0]) and os.path.exists(paths[1])
    failed, result = run(absent=paths)
    assert not failed, result
    assert result['changed_paths'] == paths[:2]
    assert os.listdir(tmp_path) == []
    failed, result = run(absent=paths)
    assert result['changed'] is False


def test_missing_parents_of_a_directory_are_created(run, tmp_path):
    path = str(tmp_path / 'a' / 'b' / 'c')
    failed, result = run(directories=[dict(path=path, mode='0755')])
    assert not failed, result
    assert os.path.isdir(path) and mode_of(path) == 0o755


def test_a_file_in_a_missing_directory_fails_and_names_it(run, tmp_path):
    path = str(tmp_path / 'missing' / 'a.conf')
    failed, result = run(files=[dict(path=path, content='x')])
    assert failed
    assert result['msg'] == 'the directory of %s does not exist: list it in directories' % path


@pytest.mark.parametrize('args, message', [
    (dict(absent=['relative/path']), 'paths must be absolute, these are not: relative/path'),
    (dict(absent=['/x', '/x']), 'each path may be listed once, these are listed more than once: /x'),
])
def test_bad_paths_fail_before_anything_changes(run, args, message):
    failed, result = run(**args)
    assert failed
    assert result['msg'] == message


def test_a_directory_where_a_file_goes_fails(run, tmp_path):
    (tmp_path / 'conf').mkdir()
    failed, result = run(files=[dict(path=str(tmp_path / 'conf'), content='x')])
    assert failed
    assert 'exists and is not a regular file' in result['msg']


def test_a_file_entry_can_be_absent(run, tmp_path):
    path = tmp_path / 'daemon.json'
    path.write_text('{}\n')
    failed, result = run(files=[dict(path=str(path), state='absent')])
    assert not failed, result
    assert result['changed_paths'] == [str(path)]
    assert not path.exists()
    failed, result = run(files=[dict(path=str(path), state='absent')])
    assert result['changed'] is False


def test_a_present_file_needs_a_content(run, tmp_path):
    path = str(tmp_path / 'a')
    failed, result = run(files=[dict(path=path)])
    assert failed
    assert result['msg'] == '%s needs a content (state=present)' % path
