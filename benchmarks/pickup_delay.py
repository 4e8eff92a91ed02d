"""Pickup delay of a deployment: how long a triggered run waits for a worker.

Triggers a deployment N times, one run at a time, and reads from the server's own
state history when each run became Pending (a worker took it) and Running (its process
started), measured from the moment it was created. Server timestamps only, so the
client's polling does not add to the figures.

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


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Api:
    def __init__(self, url, auth_string):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if auth_string:
            self.session.auth = tuple(auth_string.split(":", 1))

    def call(self, method, path, **kwargs):
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def measure_run(api, deployment_id, timeout):
    run = api.call("POST", f"/deployments/{deployment_id}/create_flow_run", json={})
    created = parse_time(run["created"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = api.call("GET", f"/flow_runs/{run['id']}")
        if current["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(f"flow run {run['id']} did not finish within {timeout} s")
    states = api.call("GET", "/flow_run_states/", params={"flow_run_id": run["id"]})
    first = {}
    for state in sorted(states, key=lambda s: s["timestamp"]):
        first.setdefault(state["type"], parse_time(state["timestamp"]))
    return {
        "id": run["id"],
        "final": current["state_type"],
        "pending_s": (first["PENDING"] - created).total_seconds() if "PENDING" in first else None,
        "running_s": (first["RUNNING"] - created).total_seconds() if "RUNNING" in first else None,
    }


def summary(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"median": None, "p95": None, "n": 0}
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return {"median": statistics.median(values), "p95": p95, "n": len(values)}


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
