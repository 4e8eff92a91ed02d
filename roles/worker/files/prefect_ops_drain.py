# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""Run a Prefect worker or served flow so that stopping it drains it.

Prefect 3.9.1's worker turns its first SIGTERM into SIGINT, which cancels its flow runs and
kills their processes; its served-flow runner cancels its runs on SIGTERM. Either way a
planned stop ends the flow runs in progress (PrefectHQ/prefect#22528, still open).

This launcher runs the same Prefect command in its own process with one change: the first
SIGTERM stops taking new flow runs, waits until the flow runs in progress (the child
processes of this one) have ended, at most ``--timeout`` seconds, and then stops the way
Prefect does. Flow runs still going at the timeout get SIGTERM, which Prefect's engine
turns into a CRASHED state, and ``--grace`` seconds to report it. A second SIGTERM stops at
once. While it drains, the worker keeps its heartbeat and its health check, and still
honours cancellations.

    python prefect_ops_drain.py --timeout 600 --grace 30 -- prefect worker start --pool p
    python prefect_ops_drain.py --timeout 600 --grace 30 -- prefect flow serve f.py:f --name d
    python prefect_ops_drain.py --timeout 600 --grace 30 -- python /srv/flows/served.py
"""

from __future__ import annotations

import argparse
import os
import runpy
import signal
import sys
import threading
import time


def child_pids(parent, proc='/proc'):
    """The processes whose parent is ``parent`` and that have not ended, sorted."""
    children = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(os.path.join(proc, name, 'stat'), encoding='utf-8') as stat:
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                fields = stat.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while the list was read
        if fields[1] == str(parent) and fields[0] not in ('Z', 'X'):
            children.append(int(name))
    return sorted(children)


def terminate(pid):
    """SIGTERM to a flow run's process and, when it leads its own process group (Prefect
    starts flow runs in their own session), to everything it started."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def log(message):
    print('prefect-ops drain: %s' % message, file=sys.stderr, flush=True)


class Drain:
    """Stops taking flow runs on the first request, waits for the running ones, then calls
    ``stop``. ``children`` lists the flow runs' processes; the rest is injectable so that
    tests need no clock, signals nor processes."""

    def __init__(self, timeout, grace, children=None, terminate_process=terminate,
                 clock=time.monotonic, sleep=time.sleep, say=log, poll_interval=1.0):
        self.timeout = timeout
        self.grace = grace
        self.children = children or (lambda: child_pids(os.getpid()))
        self.terminate_process = terminate_process
        self.clock = clock
        self.sleep = sleep
        self.say = say
        self.poll_interval = poll_interval
        self.draining = threading.Event()
        self.stop = None  # set by whatever runs the command (install_*)

    def request(self, *signal_args):
        """The SIGTERM handler: the first one drains (in a thread, as a signal handler must
        return at once), a second one stops now."""
        if self.draining.is_set():
            self.say('stop requested again: stopping now, without waiting')
            self.stop()
            return
        self.draining.set()
        threading.Thread(target=self.run, name='prefect-ops-drain', daemon=True).start()

    def _wait_for_children(self, seconds):
        deadline = self.clock() + seconds
        remaining = self.children()
        while remaining and self.clock() < deadline:
            self.sleep(self.poll_interval)
            remaining = self.children()
        return remaining

    def run(self):
        running = self.children()
        self.say('stop requested: taking no new flow runs; waiting for %d running (at most %d s)'
                 % (len(running), self.timeout))
        remaining = self._wait_for_children(self.timeout) if running else []
        if remaining:
            self.say('%d flow run(s) still running after %d s: stopping them (SIGTERM, %d s to '
                     'report CRASHED)' % (len(remaining), self.timeout, self.grace))
            for pid in remaining:
                self.terminate_process(pid)
            remaining = self._wait_for_children(self.grace)
        self.say('no flow run left: stopping' if not remaining
                 else 'stopping with %d flow run process(es) left' % len(remaining))
        self.stop()


def install_worker_drain(drain):
    """Prefect's worker: the CLI's SIGTERM handler is replaced by the drain, polling stops
    while it drains, and the drain ends with the SIGINT Prefect itself would have sent."""
    # pylint: disable=import-outside-toplevel  # Prefect is on the host, not on the controller
    from prefect.utilities import processutils
    from prefect.workers.base import BaseWorker

    def setup_signal_handlers_worker(pid, process_name, print_fn):
        signal.signal(signal.SIGTERM, drain.request)

    processutils.setup_signal_handlers_worker = setup_signal_handlers_worker
    drain.stop = lambda: os.kill(os.getpid(), signal.SIGINT)

    get_and_submit = BaseWorker.get_and_submit_flow_runs

    async def get_and_submit_unless_draining(self):
        if drain.draining.is_set():
            return []
        return await get_and_submit(self)

    BaseWorker.get_and_submit_flow_runs = get_and_submit_unless_draining


def install_runner_drain(drain):
    """Prefect's runner (served flows): the same, ending with the runner's own stop."""
    # pylint: disable=import-outside-toplevel  # Prefect is on the host, not on the controller
    from prefect.runner.runner import Runner

    handle_sigterm = Runner.handle_sigterm
    get_and_submit = Runner._get_and_submit_flow_runs  # pylint: disable=protected-access

    def handle_sigterm_with_drain(self, *args, **kwargs):
        drain.stop = lambda: handle_sigterm(self)
        drain.request()

    async def get_and_submit_unless_draining(self):
        if drain.draining.is_set():
            return None
        return await get_and_submit(self)

    Runner.handle_sigterm = handle_sigterm_with_drain
    Runner._get_and_submit_flow_runs = get_and_submit_unless_draining  # pylint: disable=protected-access


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--timeout', type=int, required=True,
                        help='seconds to wait for running flow runs before stopping them')
    parser.add_argument('--grace', type=int, required=True,
                        help='seconds stopped flow runs get to report their state')
    parser.add_argument('command', nargs=argparse.REMAINDER,
                        help="'prefect ...' (the Prefect CLI) or 'python SCRIPT ...'")
    args = parser.parse_args(argv)
    if args.command[:1] == ['--']:
        args.command = args.command[1:]
    if len(args.command) < 2 or args.command[0] not in ('prefect', 'python'):
        parser.error("the command must be 'prefect ARGS...' or 'python SCRIPT [ARGS...]'")
    if args.timeout < 0 or args.grace < 0:
        parser.error('--timeout and --grace must not be negative')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    drain = Drain(args.timeout, args.grace)
    install_worker_drain(drain)
    install_runner_drain(drain)
    if args.command[0] == 'prefect':
        # pylint: disable=import-outside-toplevel
        from prefect.cli import app
        sys.argv = args.command
        return app()
    # As `python SCRIPT ARGS...` would: the script's directory first on the path.
    script = args.command[1]
    sys.argv = args.command[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name='__main__')
    return 0


if __name__ == '__main__':
    sys.exit(main())
