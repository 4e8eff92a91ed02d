"""What flow-run heartbeats cost the database: heartbeat events stored, bytes added to the
events tables and transactions committed, while N flow runs sleep on a deployed
all-in-one test host, against the same length of time with none running.

The host must run the platform with the operations scenario's flow code
(tests/testinfra/operations/flows, worker_flows_src) and a worker of pool `ops`:

    python benchmarks/heartbeat_cost.py --host ops-aio --url http://127.0.0.1:14230 \
        --auth admin:PASSWORD [--runs 20] [--seconds 180]

It prints one JSON line. Divide the with-runs deltas by the heartbeats to get the cost of
one; the heartbeat interval the workers run with (PREFECT_FLOWS_HEARTBEAT_FREQUENCY)
sets how many a running flow sends.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "testinfra"))

from conftest import PrefectApi  # noqa: E402  (the tests' small API client)

SNAPSHOT_SQL = (
    "SELECT (SELECT count(*) FROM events WHERE event = 'prefect.flow-run.heartbeat'),"
    " pg_total_relation_size('events') + pg_total_relation_size('event_resources'),"
    " (SELECT xact_commit FROM pg_stat_database WHERE datname = 'prefect')"
)


def snapshot(host):
    """Heartbeat events stored, bytes of the events tables, transactions committed."""
    out = subprocess.check_output(
        ["docker", "exec", host, "runuser", "-u", "postgres", "--", "psql", "-X", "-tA", "-d", "prefect",
         "-c", SNAPSHOT_SQL], text=True).strip()
    heartbeats, size, commits = (int(value) for value in out.split("|"))
    return {"heartbeats": heartbeats, "bytes": size, "commits": commits}


def delta(before, after):
    return {key: after[key] - before[key] for key in before}


def wait_running(api, run_ids, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json()
        if sum(run["state"]["type"] == "RUNNING" for run in runs) == len(run_ids):
            return
        time.sleep(1)
    raise SystemExit("the flow runs did not all start within %d s" % timeout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--auth", required=True, help="user:password of the API")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=180)
    args = parser.parse_args()
    user, password = args.auth.split(":", 1)
    api = PrefectApi(args.url, user, password)
    deployment = api.create_deployment("heartbeat-cost", "ops", "ops_sleep.py:ops_sleep")

    idle_before = snapshot(args.host)
    time.sleep(args.seconds)
    idle = delta(idle_before, snapshot(args.host))

    run_ids = [api.post(f"/api/deployments/{deployment}/create_flow_run",
                        {"parameters": {"seconds": args.seconds + 60}}).json()["id"] for _run in range(args.runs)]
    wait_running(api, run_ids)
    time.sleep(10)  # past the first heartbeats and the state changes of the start
    busy_before = snapshot(args.host)
    time.sleep(args.seconds)
    busy = delta(busy_before, snapshot(args.host))
    print(json.dumps({"runs": args.runs, "seconds": args.seconds, "idle": idle, "with_runs": busy}))


if __name__ == "__main__":
    main()
