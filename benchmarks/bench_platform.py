"""The deployed platform: the collection's configuration against the seed article's.

Two identical test hosts (Debian 13 systemd containers, same memory limit, same Prefect
image archive) each get a whole platform (PostgreSQL, the server, one process worker)
from playbooks/site.yml: `bench-plat-collection` with the collection's defaults
(benchmarks/platform/collection.yml), `bench-plat-seed` with the seed article's compose
settings and Prefect's and PostgreSQL's defaults (benchmarks/platform/seed.yml). Then,
side by side in this one run:

  pickup      trigger a deployment, one run at a time: seconds from the run's creation
              until Pending (a worker took it) and until Running (its process started),
              from the server's own state timestamps; against the floor, starting a
              Python process that imports prefect on that host, measured in between.
  throughput  a burst of trivial flow runs through the worker: runs completed per minute
              (server timestamps: first run created to last run ended).
  api         flow-run creation (POST /deployments/{id}/create_flow_run, on a pool that no
              worker serves) by 1, 8 and 32 concurrent clients, a fixed count each:
              requests per second, 5xx answers and connection errors, and the peak number
              of PostgreSQL connections of the Prefect database.

    python benchmarks/bench_platform.py [--json build/bench/bench_platform.json]
        [--keep-hosts] [--reuse-hosts] [--pickup-runs 20] [--throughput-runs 100]
        [--api-requests 320]

The hosts are created (tests/testbed/create-hosts.yml) and provisioned first, and
destroyed at the end unless --keep-hosts. --reuse-hosts skips the provisioning of hosts
that already answer (for iterating on the measurements only).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import secrets
import subprocess
import sys
import time

import requests

from harness import REPO, creation_load, finish, log, on_host, run
from pickup_delay import Api, measure_run, parse_time, summary

WORK_DIR = REPO / "build" / "bench" / "platform"
# Side -> (test host, port the API is published on, on this machine's loopback); the
# inventories in benchmarks/platform/<side>.yml say the same.
SIDES = {
    "collection": ("bench-plat-collection", 14250),
    "seed": ("bench-plat-seed", 14251),
}
# Both hosts get the same limit, so that a burst of flow runs cannot take this shared
# machine's memory (collection.yml sizes PostgreSQL for it).
HOST_MEMORY = "6g"
POOL = "process-pool"  # the pool of the collection's default worker_processes
LOAD_POOL = "bench-api-load"  # served by no worker: created runs stay Scheduled
FLOWS_DIR = "/opt/prefect-worker/flows"  # worker_flows_dir
WORKER_PYTHON = "/opt/prefect-worker/venv/bin/python"
WORKER_USER = "prefect-worker"
DATABASE = "prefect"


# --- hosts --------------------------------------------------------------------------


def testbed_hosts():
    return {
        "testbed_hosts": [
            {"name": host, "published_ports": [f"127.0.0.1:{port}:4200"]} for host, port in SIDES.values()
        ]
    }


def secrets_file():
    """Passwords of both platforms, generated once, readable by root only."""
    path = WORK_DIR / "secrets.yml"
    if not path.exists():
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(
                "---\n"
                f"prefect_database_password: {secrets.token_hex(16)}\n"
                f"prefect_api_auth_password: {secrets.token_hex(12)}\n"
            )
    values = dict(line.split(": ", 1) for line in path.read_text().splitlines()[1:])
    return path, ("admin", values["prefect_api_auth_password"].strip())


def api_ready(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def provision(sides, secrets_path):
    """Create the hosts and run site.yml on both at once; returns seconds per side."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    run(["ansible-playbook", "tests/testbed/create-hosts.yml", "-e", json.dumps(testbed_hosts())],
        logfile=WORK_DIR / "create-hosts.log")
    for host, _port in SIDES.values():
        run(["docker", "update", "--memory", HOST_MEMORY, "--memory-swap", HOST_MEMORY, host],
            stdout=subprocess.DEVNULL)
    # Build (or find) the image archive once, before two playbooks would both build it.
    run(["ansible-playbook", "-e", "@tests/testbed/vars.yml", "tests/testbed/prefect-image.yml"],
        logfile=WORK_DIR / "image.log")

    def site(side):
        started = time.monotonic()
        run(["ansible-playbook", "-i", f"benchmarks/platform/{side}.yml", "-e", "@tests/testbed/vars.yml",
             "-e", f"@{secrets_path}", "tests/testbed/prefect-image.yml", "prefect_ops.prefect.site"],
            logfile=WORK_DIR / f"site-{side}.log")
        return round(time.monotonic() - started, 1)

    with concurrent.futures.ThreadPoolExecutor(len(sides)) as pool:
        return dict(zip(sides, pool.map(site, sides)))


def destroy():
    run(["ansible-playbook", "tests/testbed/destroy-hosts.yml", "-e", json.dumps(testbed_hosts())],
        logfile=WORK_DIR / "destroy-hosts.log")


def import_floor(host):
    """Seconds to start a Python process that imports prefect, as the worker's user, timed on the host."""
    script = (
        "import subprocess, time; t = time.perf_counter(); "
        f"subprocess.run(['runuser', '-u', '{WORKER_USER}', '--', 'env', 'PYTHONDONTWRITEBYTECODE=1', "
        f"'{WORKER_PYTHON}', '-c', 'import prefect'], check=True); print(time.perf_counter() - t)"
    )
    # runuser itself is part of what a worker does not pay: time it alone and subtract.
    bare = (
        "import subprocess, time; t = time.perf_counter(); "
        f"subprocess.run(['runuser', '-u', '{WORKER_USER}', '--', 'true'], check=True); "
        "print(time.perf_counter() - t)"
    )
    return float(on_host(host, "python3", "-c", script)) - float(on_host(host, "python3", "-c", bare))


def pg_connections(host):
    out = on_host(host, "runuser", "-u", "postgres", "--", "psql", "-XtAc",
                  f"select count(*) from pg_stat_activity where datname = '{DATABASE}'")
    return int(out.strip())


def pg_settings(host):
    out = on_host(host, "runuser", "-u", "postgres", "--", "psql", "-XtAc",
                  "select name || '=' || current_setting(name) from pg_settings where name in "
                  "('max_connections', 'shared_buffers', 'effective_cache_size', 'work_mem', "
                  "'maintenance_work_mem') order by name")
    return dict(line.split("=", 1) for line in out.split())


# --- set-up on each platform --------------------------------------------------------


def prepare(api):
    """The benchmark's deployments, and the worker ONLINE; returns (pickup, load) deployment ids."""
    flow = api.call("POST", "/flows/", json={"name": "bench-noop"})
    try:
        api.call("POST", "/work_pools/", json={"name": LOAD_POOL, "type": "process"})
    except requests.HTTPError as error:
        if error.response.status_code != 409:
            raise
    ids = []
    for name, pool in (("bench-noop", POOL), ("bench-api-load", LOAD_POOL)):
        deployment = api.call("POST", "/deployments/", json={
            "name": name,
            "flow_id": flow["id"],
            "work_pool_name": pool,
            "entrypoint": "bench_flows.py:bench_noop",
            "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": FLOWS_DIR}}],
        })
        ids.append(deployment["id"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = api.call("POST", f"/work_pools/{POOL}/workers/filter")
        if any(w["status"] == "ONLINE" for w in workers):
            return ids
        time.sleep(1)
    raise SystemExit(f"no worker of pool {POOL} is ONLINE at {api.url}")


# --- 4. pickup delay ----------------------------------------------------------------


def pickup(api, host, deployment_id, runs):
    """Runs one at a time, each followed by one floor sample on the same host."""
    samples, floors = [], []
    for _run in range(runs):
        samples.append(measure_run(api, deployment_id))
        floors.append(import_floor(host))
    result = {
        "pending": summary(s["pending_s"] for s in samples),
        "running": summary(s["running_s"] for s in samples),
        # Where Running's time goes: the worker starts the run's process; the process
        # imports Prefect and logs first (pull steps); then it loads the flow, subscribes to
        # the server's events and reports Running.
        "process_started": summary(s["process_started_s"] for s in samples),
        "process_first_log": summary(s["process_first_log_s"] for s in samples),
        "floor": summary(floors),
        "completed": sum(s["final"] == "COMPLETED" for s in samples),
        "runs": samples,
        "floor_samples": [round(f, 3) for f in floors],
    }
    if result["running"]["median"] and result["floor"]["median"]:
        result["running_over_floor"] = round(result["running"]["median"] / result["floor"]["median"], 2)
    return result


# --- 5. throughput ------------------------------------------------------------------


def throughput(api, deployment_id, count, timeout=900):
    run_ids = [api.call("POST", f"/deployments/{deployment_id}/create_flow_run", json={})["id"]
               for _run in range(count)]
    runs = api.wait_final(run_ids, timeout)
    first_created = min(parse_time(r["created"]) for r in runs)
    last_end = max(parse_time(r["end_time"] or r["state"]["timestamp"]) for r in runs)
    seconds = (last_end - first_created).total_seconds()
    completed = sum(r["state_type"] == "COMPLETED" for r in runs)
    return {
        "runs": count,
        "completed": completed,
        "seconds": round(seconds, 1),
        "completed_per_minute": round(completed / seconds * 60, 1),
    }


# --- 6. API under load --------------------------------------------------------------


def api_load(api, host, deployment_id, clients, total):
    return creation_load(api, deployment_id, clients, total, lambda: pg_connections(host))


# --- report -------------------------------------------------------------------------


def fmt(value, unit=""):
    return "-" if value is None else f"{value}{unit}"


def table(result):
    sides = list(result["sides"])
    lines = []
    head = f"| {'measure':44} | " + " | ".join(f"{s:>12}" for s in sides) + " |"
    lines += [head, "|" + "-" * 46 + "|" + "|".join("-" * 14 for _side in sides) + "|"]

    def row(label, values):
        lines.append(f"| {label:44} | " + " | ".join(f"{v:>12}" for v in values) + " |")

    data = result["sides"]
    if all("pickup" in data[s] for s in sides):
        n = data[sides[0]]["pickup"]["pending"]["n"]
        for key, label in (("pending", "Pending"), ("running", "Running")):
            row(f"pickup: trigger -> {label}, median s ({n} runs)",
                [fmt(data[s]["pickup"][key]["median"]) for s in sides])
            row(f"pickup: trigger -> {label}, p95 s", [fmt(data[s]["pickup"][key]["p95"]) for s in sides])
        row("  trigger -> worker started the run's process, median s",
            [fmt(data[s]["pickup"]["process_started"]["median"]) for s in sides])
        row("  trigger -> the process's first log (after its imports), median s",
            [fmt(data[s]["pickup"]["process_first_log"]["median"]) for s in sides])
        row("floor: python -c 'import prefect', median s", [fmt(data[s]["pickup"]["floor"]["median"]) for s in sides])
        row("Running median / floor", [fmt(data[s]["pickup"].get("running_over_floor"), "x") for s in sides])
        row("pickup runs COMPLETED", [f"{data[s]['pickup']['completed']}/{n}" for s in sides])
    if all("throughput" in data[s] for s in sides):
        t = {s: data[s]["throughput"] for s in sides}
        row(f"throughput: {t[sides[0]]['runs']} runs, completed per minute",
            [fmt(t[s]["completed_per_minute"]) for s in sides])
        row("throughput: COMPLETED, seconds", [f"{t[s]['completed']}, {t[s]['seconds']}" for s in sides])
    if all("api" in data[s] for s in sides):
        for i, level in enumerate(data[sides[0]]["api"]):
            clients = level["clients"]
            row(f"API: {clients} clients x {level['requests']} creations, req/s",
                [fmt(data[s]["api"][i]["requests_per_second"]) for s in sides])
            row(f"API: {clients} clients, 5xx / connection errors",
                [f"{data[s]['api'][i]['5xx']} / {data[s]['api'][i]['connection']}" for s in sides])
            row(f"API: {clients} clients, peak PostgreSQL connections",
                [fmt(data[s]["api"][i]["pg_connections"]) for s in sides])
    for s in sides:
        if "postgresql" in data[s]:
            lines.append(f"\n{s}: PostgreSQL " + ", ".join(f"{k}={v}" for k, v in data[s]["postgresql"].items()))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--pickup-runs", type=int, default=20)
    parser.add_argument("--throughput-runs", type=int, default=100)
    parser.add_argument("--api-requests", type=int, default=320, help="flow runs created per concurrency level")
    parser.add_argument("--api-clients", default="1,8,32")
    parser.add_argument("--only", choices=["pickup", "throughput", "api"], action="append",
                        help="measure only this (repeatable); default: all")
    parser.add_argument("--keep-hosts", action="store_true", help="leave the hosts running at the end")
    parser.add_argument("--reuse-hosts", action="store_true",
                        help="skip provisioning when both APIs already answer (iterating on measurements)")
    args = parser.parse_args(argv)
    measures = args.only or ["pickup", "throughput", "api"]

    bench_start = time.monotonic()
    secrets_path, auth = secrets_file()
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "host_memory": HOST_MEMORY, "sides": {side: {} for side in SIDES}}
    if args.reuse_hosts and all(api_ready(port) for _host, port in SIDES.values()):
        log("reusing the running hosts")
    else:
        result["provision_seconds"] = provision(list(SIDES), secrets_path)
    try:
        apis = {side: Api(f"http://127.0.0.1:{port}/api", ":".join(auth)) for side, (_host, port) in SIDES.items()}
        deployments = {side: prepare(apis[side]) for side in SIDES}
        for side, (host, _port) in SIDES.items():
            result["sides"][side]["postgresql"] = pg_settings(host)

        if "pickup" in measures:
            log(f"pickup: {args.pickup_runs} runs on each side, both sides at once")
            with concurrent.futures.ThreadPoolExecutor(len(SIDES)) as pool:
                futures = {side: pool.submit(pickup, apis[side], host, deployments[side][0], args.pickup_runs)
                           for side, (host, _port) in SIDES.items()}
                for side, future in futures.items():
                    result["sides"][side]["pickup"] = future.result()
        if "throughput" in measures:
            # One side at a time: a burst of flow-run processes takes every core.
            for side in SIDES:
                log(f"throughput: {args.throughput_runs} runs on {side}")
                result["sides"][side]["throughput"] = throughput(apis[side], deployments[side][0],
                                                                 args.throughput_runs)
        if "api" in measures:
            for clients in (int(c) for c in args.api_clients.split(",")):
                for side, (host, _port) in SIDES.items():
                    log(f"api: {clients} clients x {args.api_requests} creations on {side}")
                    result["sides"][side].setdefault("api", []).append(
                        api_load(apis[side], host, deployments[side][1], clients, args.api_requests))
    finally:
        if not args.keep_hosts:
            destroy()
    result["bench_seconds"] = round(time.monotonic() - bench_start, 1)
    finish(result, "bench_platform.py", table(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
