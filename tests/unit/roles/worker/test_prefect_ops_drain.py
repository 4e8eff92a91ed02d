# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The worker role's drain launcher (roles/worker/files/prefect_ops_drain.py), without
Prefect, signals or real processes: a fake clock and a scripted list of children."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

LAUNCHER = pathlib.Path(__file__).resolve().parents[4] / 'roles' / 'worker' / 'files' / 'prefect_ops_drain.py'
_spec = importlib.util.spec_from_file_location('prefect_ops_drain', LAUNCHER)
drain_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(drain_module)


class Clock:
    """A clock that only moves when the drain sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Host:
    """Flow run processes, each ending at a given time unless terminated; records what the
    drain did, and when."""

    def __init__(self, clock, ends_at, ends_after_sigterm=1.0):
        self.clock = clock
        self.ends_at = dict(ends_at)
        self.ends_after_sigterm = ends_after_sigterm
        self.events = []

    def children(self):
        return sorted(pid for pid, end in self.ends_at.items() if end is None or self.clock() < end)

    def terminate(self, pid):
        self.events.append(('SIGTERM', pid, self.clock()))
        if self.ends_after_sigterm is not None:
            self.ends_at[pid] = self.clock() + self.ends_after_sigterm

    def stop(self):
        self.events.append(('stop', self.clock()))


def make_drain(host, clock, timeout=60, grace=10, messages=None):
    drain = drain_module.Drain(timeout, grace, children=host.children, terminate_process=host.terminate,
                               clock=clock, sleep=clock.sleep, say=(messages if messages is not None else []).append)
    drain.stop = host.stop
    return drain


def test_with_nothing_running_it_stops_at_once():
    clock = Clock()
    host = Host(clock, {})
    make_drain(host, clock).run()
    assert host.events == [('stop', 0.0)]


def test_it_waits_for_the_running_flow_runs_and_stops_none_of_them():
    clock = Clock()
    host = Host(clock, {101: 12.0, 102: 30.0})
    messages = []
    make_drain(host, clock, messages=messages).run()
    assert host.events == [('stop', 30.0)]
    assert messages[0] == 'stop requested: taking no new flow runs; waiting for 2 running (at most 60 s)'
    assert messages[-1] == 'no flow run left: stopping'


def test_at_the_timeout_the_remaining_runs_get_sigterm_and_the_grace_period():
    clock = Clock()
    host = Host(clock, {101: 5.0, 102: None}, ends_after_sigterm=3.0)
    messages = []
    make_drain(host, clock, timeout=60, grace=10, messages=messages).run()
    assert host.events == [('SIGTERM', 102, 60.0), ('stop', 63.0)]
    assert '1 flow run(s) still running after 60 s' in messages[1]


def test_a_run_that_ignores_sigterm_is_left_to_the_stop_after_the_grace_period():
    clock = Clock()
    host = Host(clock, {102: None}, ends_after_sigterm=None)
    messages = []
    make_drain(host, clock, timeout=20, grace=10, messages=messages).run()
    assert host.events == [('SIGTERM', 102, 20.0), ('stop', 30.0)]
    assert messages[-1] == 'stopping with 1 flow run process(es) left'


def test_a_zero_timeout_stops_running_flow_runs_at_once():
    clock = Clock()
    host = Host(clock, {101: None}, ends_after_sigterm=2.0)
    make_drain(host, clock, timeout=0, grace=10).run()
    assert host.events == [('SIGTERM', 101, 0.0), ('stop', 2.0)]


def test_the_first_request_drains_in_a_thread_and_a_second_one_stops_at_once(monkeypatch):
    started = []

    class FakeThread:
        def __init__(self, target, name, daemon):
            started.append((target, name, daemon))

        def start(self):
            pass

    monkeypatch.setattr(drain_module.threading, 'Thread', FakeThread)
    clock = Clock()
    host = Host(clock, {101: None})
    drain = make_drain(host, clock)
    drain.request(15, None)
    assert drain.draining.is_set()
    assert started == [(drain.run, 'prefect-ops-drain', True)]
    assert host.events == []
    drain.request(15, None)
    assert host.events == [('stop', 0.0)]
    assert len(started) == 1


def write_stat(proc, pid, comm, state, ppid):
    (proc / str(pid)).mkdir()
    (proc / str(pid) / 'stat').write_text('%d (%s) %s %d 1 1 0 -1\n' % (pid, comm, state, ppid))


def test_child_pids_reads_the_parent_of_each_process_and_skips_ended_ones(tmp_path):
    write_stat(tmp_path, 7, 'python3', 'S', 1)
    write_stat(tmp_path, 21, 'python3', 'S', 7)
    write_stat(tmp_path, 22, 'a (weird) name) 9', 'R', 7)  # comm with spaces and parentheses
    write_stat(tmp_path, 23, 'python3', 'Z', 7)  # ended, not yet reaped
    write_stat(tmp_path, 30, 'python3', 'S', 21)  # a grandchild
    (tmp_path / 'self').mkdir()
    (tmp_path / '40').mkdir()  # ended while the list was read: no stat file
    assert drain_module.child_pids(7, proc=str(tmp_path)) == [21, 22]


@pytest.mark.parametrize('argv, command', [
    (['--timeout', '600', '--grace', '30', '--', 'prefect', 'worker', 'start', '--pool', 'p'],
     ['prefect', 'worker', 'start', '--pool', 'p']),
    (['--timeout', '0', '--grace', '0', 'python', '/srv/flows/served.py', '--flag'],
     ['python', '/srv/flows/served.py', '--flag']),
])
def test_the_command_is_what_follows_the_options(argv, command):
    args = drain_module.parse_args(argv)
    assert args.command == command


@pytest.mark.parametrize('argv', [
    ['--timeout', '600', '--grace', '30', '--', 'bash', '-c', 'true'],
    ['--timeout', '600', '--grace', '30', '--', 'prefect'],
    ['--timeout', '-1', '--grace', '30', '--', 'prefect', 'worker', 'start'],
    ['--grace', '30', '--', 'prefect', 'worker', 'start'],
])
def test_a_wrong_command_line_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as refused:
        drain_module.parse_args(argv)
    assert refused.value.code == 2
    assert 'error:' in capsys.readouterr().err


# -- the hooks into Prefect (the pinned release, from requirements-dev.txt) -------------


def test_the_worker_takes_no_new_runs_once_draining_and_its_sigterm_handler_is_the_drain(monkeypatch):
    import asyncio
    import signal

    from prefect.utilities import processutils
    from prefect.workers.base import BaseWorker

    polled = []

    async def get_and_submit_flow_runs(self):
        polled.append(self)
        return ['a run']

    # Both are put back after the test.
    monkeypatch.setattr(BaseWorker, 'get_and_submit_flow_runs', get_and_submit_flow_runs)
    monkeypatch.setattr(processutils, 'setup_signal_handlers_worker', processutils.setup_signal_handlers_worker)
    installed = {}
    monkeypatch.setattr(drain_module.signal, 'signal', lambda signum, handler: installed.update({signum: handler}))
    drain = drain_module.Drain(60, 10, children=list)
    drain_module.install_worker_drain(drain)

    assert asyncio.run(BaseWorker.get_and_submit_flow_runs('worker')) == ['a run']
    drain.draining.set()
    assert asyncio.run(BaseWorker.get_and_submit_flow_runs('worker')) == []
    assert polled == ['worker']

    processutils.setup_signal_handlers_worker(1234, 'the process worker', print)
    # (asyncio.run put its own SIGINT handler in `installed` too.)
    assert installed[signal.SIGTERM] == drain.request


def test_the_runner_of_served_flows_takes_no_new_runs_once_draining_and_then_stops_itself(monkeypatch):
    import asyncio

    from prefect.runner.runner import Runner

    calls = []

    async def get_and_submit(self):
        calls.append(('poll', self))

    monkeypatch.setattr(Runner, '_get_and_submit_flow_runs', get_and_submit)
    monkeypatch.setattr(Runner, 'handle_sigterm', lambda self, *args: calls.append(('prefect stop', self)))
    monkeypatch.setattr(drain_module.Drain, 'request', lambda self, *args: calls.append(('drain',)))
    drain = drain_module.Drain(60, 10, children=list)
    drain_module.install_runner_drain(drain)

    asyncio.run(Runner._get_and_submit_flow_runs('runner'))
    Runner.handle_sigterm('runner', 15, None)
    drain.draining.set()
    asyncio.run(Runner._get_and_submit_flow_runs('runner'))
    assert calls == [('poll', 'runner'), ('drain',)]
    drain.stop()
    assert calls[-1] == ('prefect stop', 'runner')
