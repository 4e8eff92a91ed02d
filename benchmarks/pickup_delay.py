"""Pickup delay of a deployment: how long a triggered run waits for a worker.

Triggers a deployment N times, one run at a time, and reads from the server's own
state history when each run became Pending (a worker took it) and Running (its process
started), measured from the moment it was created. Server timestamps only, so the
client's polling does not add to the figures. bench_platform.py uses the same functions
on two platforms side by side; this script measures any one deployment.

    python benchmarks/pickup_delay.py --api-url http://127.0.0.1:14210/api \
        --auth-string admin:secret --deployment 'hello/fleet-hello' --runs 10 [--json out.json]
"""

import argparse
import datetime
import json
import statistics
import sys
import time

import requests

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Api:
    """A Prefect API client that waits out what a busy or starting server answers:
    HTTP 503 and refused connections are retried, once a second, `retries` times."""

    def __init__(self, url, auth_string="", retries=10):
        self.url = url.rstrip("/")
        self.retries = retries
        self.session = requests.Session()
        self.auth = tuple(auth_string.split(":", 1)) if auth_string else None
        self.session.auth = self.auth

    def call(self, method, path, **kwargs):
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.session.request(method, self.url + path, timeout=30, **kwargs)
            except requests.ConnectionError:
                if last:
                    raise
                time.sleep(1)
                continue
            if response.status_code == 503 and not last:
                time.sleep(1)
                continue
            response.raise_for_status()
            return response.json() if response.content else None
        raise AssertionError("not reached: the last attempt returns or raises")

    def wait_final(self, run_ids, timeout):
        """Poll until every flow run is in a final state; returns the runs."""
        deadline = time.monotonic() + timeout
        while True:
            runs = []
            for start in range(0, len(run_ids), 200):
                runs += self.call("POST", "/flow_runs/filter", json={
                    "flow_runs": {"id": {"any_": run_ids[start:start + 200]}}, "limit": 200})
            if len(runs) == len(run_ids) and all(r["state_type"] in FINAL_STATES for r in runs):
                return runs
            if time.monotonic() > deadline:
                states = sorted({r["state_type"] for r in runs})
                raise TimeoutError(f"flow runs not finished within {timeout} s at {self.url} (states {states})")
            time.sleep(0.5)


def measure_run(api, deployment_id, timeout=120):
    """Trigger one run, wait for it to finish; seconds from creation to Pending and Running."""
    run = api.call("POST", f"/deployments/{deployment_id}/create_flow_run", json={})
    created = parse_time(run["created"])
    final = api.wait_final([run["id"]], timeout)[0]
    states = api.call("GET", "/flow_run_states/", params={"flow_run_id": run["id"]})
    first = {}
    for state in sorted(states, key=lambda s: s["timestamp"]):
        first.setdefault(state["type"], parse_time(state["timestamp"]))
    # Where the time between Pending and Running goes, from the run's own logs: the worker
    # logs "... submitted to infrastructure" once the run's process is started, and the
    # process logs first (prefect.flow_runs) after its imports, as it runs the pull steps.
    # The worker sends its logs in batches (every 2 s): wait for them once if they lag.
    for attempt in range(2):
        logs = api.call("POST", "/logs/filter", json={
            "logs": {"flow_run_id": {"any_": [run["id"]]}}, "sort": "TIMESTAMP_ASC", "limit": 50})
        started = next((parse_time(entry["timestamp"]) for entry in logs
                        if "submitted to infrastructure" in entry["message"]), None)
        first_log = next((parse_time(entry["timestamp"]) for entry in logs
                          if entry["name"] == "prefect.flow_runs"), None)
        if (started and first_log) or attempt:
            break
        time.sleep(2.5)
    return {
        "id": run["id"],
        "final": final["state_type"],
        "pending_s": (first["PENDING"] - created).total_seconds() if "PENDING" in first else None,
        "process_started_s": (started - created).total_seconds() if started else None,
        "process_first_log_s": (first_log - created).total_seconds() if first_log else None,
        "running_s": (first["RUNNING"] - created).total_seconds() if "RUNNING" in first else None,
    }


def summary(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"median": None, "p95": None, "n": 0}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"median": round(statistics.median(values), 3), "p95": round(p95, 3), "n": len(values)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--auth-string", default="")
    parser.add_argument("--deployment", required=True, help="FLOW_NAME/DEPLOYMENT_NAME")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--label", default="")
    parser.add_argument("--json", help="write the runs and the summary to this file")
    args = parser.parse_args(argv)

    api = Api(args.api_url, args.auth_string)
    deployment = api.call("GET", f"/deployments/name/{args.deployment}")
    runs = [measure_run(api, deployment["id"], args.timeout) for _run in range(args.runs)]
    result = {
        "label": args.label,
        "deployment": args.deployment,
        "runs": runs,
        "pending": summary(r["pending_s"] for r in runs),
        "running": summary(r["running_s"] for r in runs),
        "completed": sum(r["final"] == "COMPLETED" for r in runs),
    }
    print(f"{'':20} {'median s':>9} {'p95 s':>7}   ({args.label or args.deployment}, {args.runs} runs)")
    for key in ("pending", "running"):
        row = result[key]
        print(f"{'trigger->' + key:20} {row['median']:9.2f} {row['p95']:7.2f}")
    print(f"completed: {result['completed']}/{args.runs}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return 0 if result["completed"] == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
