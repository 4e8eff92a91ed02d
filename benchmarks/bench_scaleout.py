"""Scale-out: flow-run creation through the front door with one API server versus two, and
what idle polling workers cost the API.

Four test hosts get a scaled-out platform from playbooks/site.yml (the inventory is
written to build/bench/scaleout/): `bench-so-data` (PostgreSQL and Redis), `bench-so-a`
and `bench-so-b` (an API server each, capped with server_cpus, half a core unless
--server-cpus says otherwise, and a background services container each), `bench-so-door` (the front door: Caddy, HAProxy).
Then, in this one run:

  api    32 clients create flow runs through the front door (POST
         /deployments/{id}/create_flow_run, on a pool no worker serves), a fixed count per
         round, with bench-so-b taken out of HAProxy (one API server) and with both in
         (two); rounds alternate one, two, one, two, so that whatever else the machine
         does weighs on both alike. Requests per second, 5xx answers, connection errors,
         peak PostgreSQL connections, and the CPU seconds each process used (each API
         server, each services container, PostgreSQL, Redis, HAProxy, Caddy, this load
         generator).
  polls  idle process workers (on this machine, the pinned prefect) polling one pool
         through the front door, at PREFECT_WORKER_QUERY_SECONDS 10 (Prefect's default),
         5, 2 and 1 (the worker role's default): the API requests per second they cause
         (HAProxy's request counter) and the CPU the API servers spend, per worker, over
         the idle platform's own figures in the same window length.

    python benchmarks/bench_scaleout.py [--json build/bench/bench_scaleout.json]
        [--keep-hosts] [--reuse-hosts] [--server-cpus 0.5] [--api-requests 640] [--api-rounds 3]
        [--poll-workers 8] [--poll-window 60] [--poll-intervals 10,5,2,1]

--reuse-hosts keeps hosts that exist (from an earlier --keep-hosts) and only re-applies
site.yml, which changes nothing but what the options change (such as --server-cpus).
"""

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import requests

from harness import REPO, creation_load, finish, log, on_host, run
from pickup_delay import Api

WORK_DIR = REPO / "build" / "bench" / "scaleout"
DATA, SERVER_A, SERVER_B, DOOR = "bench-so-data", "bench-so-a", "bench-so-b", "bench-so-door"
PORT = 14653
URL = f"https://localhost:{PORT}"
LOAD_POOL = "bench-api-load"  # served by no worker: created runs stay Scheduled
IDLE_POOL = "bench-idle"
BACKEND = "prefect_api_servers"  # the front door's HAProxy backend (roles/front_door/vars)
ADMIN_SOCKET = "/run/haproxy/admin.sock"

# Runs on a test host: the CPU seconds so far of the processes of the names and of the
# server project's compose services in argv[1] (JSON: {"processes": [...], "services":
# [...]}), as JSON. From /proc (these machines have cgroup v1): each process's own time
# plus its waited-for children's, which keeps the backends PostgreSQL has reaped.
CPU_SCRIPT = r"""
import json, os, subprocess, sys
wanted = json.loads(sys.argv[1])
tick = os.sysconf("SC_CLK_TCK")
def seconds(pid):
    try:
        with open("/proc/%s/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / tick
    except OSError:
        return 0.0
def name(pid):
    try:
        with open("/proc/%s/comm" % pid) as comm:
            return comm.read().strip()
    except OSError:
        return ""
pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
result = {process: sum(seconds(pid) for pid in pids if name(pid) == process) for process in wanted["processes"]}
for service in wanted["services"]:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=prefect",
                          "--filter", "label=com.docker.compose.service=" + service],
                         capture_output=True, text=True).stdout.split()
    top = subprocess.run(["docker", "top", ids[0], "-eo", "pid"], capture_output=True, text=True).stdout.split()[1:]
    result[service] = sum(seconds(pid) for pid in top)
print(json.dumps(result))
"""

# Runs on the front door host: HAProxy's runtime API.
HAPROXY_SCRIPT = r"""
import socket, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect(%r)
connection.sendall(sys.argv[1].encode() + b"\n")
answer = b""
while True:
    chunk = connection.recv(65536)
    if not chunk:
        break
    answer += chunk
print(answer.decode())
""" % ADMIN_SOCKET

# What to read the CPU of, per host.
CPU_OF = {
    DATA: {"processes": ["postgres", "redis-server"], "services": []},
    SERVER_A: {"processes": [], "services": ["server", "services"]},
    SERVER_B: {"processes": [], "services": ["server", "services"]},
    DOOR: {"processes": ["haproxy", "caddy"], "services": []},
}


# --- hosts --------------------------------------------------------------------------


def testbed_hosts():
    return {"testbed_hosts": [{"name": DATA}, {"name": SERVER_A}, {"name": SERVER_B},
                              {"name": DOOR, "published_ports": [f"127.0.0.1:{PORT}:{PORT}"]}]}


def inventory(server_cpus):
    """The scale-out platform of this benchmark; its generated secrets land beside it."""
    path = WORK_DIR / "inventory.yml"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"all": {
        "children": {
            "prefect_database": {"hosts": {DATA: {}}},
            "prefect_redis": {"hosts": {DATA: {}}},
            "prefect_server": {"hosts": {SERVER_A: {}, SERVER_B: {}}},
            "prefect_front_door": {"hosts": {DOOR: {}}},
        },
        "vars": {
            "ansible_connection": "community.docker.docker",
            "ansible_pipelining": True,
            "ansible_python_interpreter": "auto_silent",
            "prefect_external_url": URL,
            # Containers inside a test host cannot resolve the test hosts' names.
            "server_database_host": "{{ hostvars['%s'].ansible_facts.default_ipv4.address }}" % DATA,
            "server_cpus": server_cpus,
        },
    }}, indent=2) + "\n")
    return path


def provision(inventory_path, create_hosts=True):
    if create_hosts:
        run(["ansible-playbook", "tests/testbed/create-hosts.yml", "-e", json.dumps(testbed_hosts())],
            logfile=WORK_DIR / "create-hosts.log")
    started = time.monotonic()
    run(["ansible-playbook", "-i", str(inventory_path), "-e", "@tests/testbed/vars.yml",
         "tests/testbed/prefect-image.yml", "prefect_ops.prefect.site"], logfile=WORK_DIR / "site.log")
    return round(time.monotonic() - started, 1)


def destroy():
    run(["ansible-playbook", "tests/testbed/destroy-hosts.yml", "-e", json.dumps(testbed_hosts())],
        logfile=WORK_DIR / "destroy-hosts.log")


def secret(name):
    return (WORK_DIR / ".prefect-secrets" / name).read_text().strip()


def api_ready():
    try:
        return requests.get(URL + "/api/ready", verify=str(WORK_DIR / ".prefect-secrets" / "ca" / "ca.crt"),
                            timeout=5).status_code == 200
    except (requests.RequestException, OSError):
        return False


# --- what the processes used ----------------------------------------------------------


def cpu_seconds():
    """CPU seconds so far of every measured process, as {"host/process": seconds}."""
    result = {}
    for host, wanted in CPU_OF.items():
        for name, value in json.loads(on_host(host, "python3", "-c", CPU_SCRIPT, json.dumps(wanted))).items():
            result[f"{host}/{name}"] = value
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["load generator"] = usage.ru_utime + usage.ru_stime
    return result


def machine_busy_seconds():
    """CPU seconds this machine (every test host shares its kernel) was busy so far."""
    with open("/proc/stat", encoding="ascii") as stat:
        jiffies = [int(value) for value in stat.readline().split()[1:]]
    idle = jiffies[3] + jiffies[4]  # idle, iowait
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_used(before, after):
    return {name: round(after[name] - before[name], 2) for name in before
            if before[name] is not None and after.get(name) is not None}


def haproxy(command):
    return on_host(DOOR, "python3", "-c", HAPROXY_SCRIPT, command)


def backend_requests():
    """Requests the balancer has sent to the API servers so far (the backend's stot)."""
    lines = haproxy("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("pxname") == BACKEND and row.get("svname") == "BACKEND":
            return int(row["stot"])
    raise SystemExit(f"no {BACKEND} backend in HAProxy's statistics")


def set_server_b(state):
    haproxy(f"{'enable' if state == 'in' else 'disable'} server {BACKEND}/{SERVER_B}")
    time.sleep(5)


def pg_connections():
    out = on_host(DATA, "runuser", "-u", "postgres", "--", "psql", "-XtAc",
                  "select count(*) from pg_stat_activity where datname = 'prefect'")
    return int(out.strip())


# --- 1. creations through the front door, one API server versus two ------------------


def api_load(api, deployment_id, clients, total):
    """A round of creations, and the CPU each process and the whole machine used meanwhile."""
    before, machine_before = cpu_seconds(), machine_busy_seconds()
    result = creation_load(api, deployment_id, clients, total, pg_connections)
    cpu = cpu_used(before, cpu_seconds())
    cpu["machine, all cores busy"] = round(machine_busy_seconds() - machine_before, 2)
    return {**result, "cpu_seconds": cpu}


def prepare(api):
    flow = api.call("POST", "/flows/", json={"name": "bench-noop"})
    for pool in (LOAD_POOL, IDLE_POOL):
        try:
            api.call("POST", "/work_pools/", json={"name": pool, "type": "process"})
        except requests.HTTPError as error:
            if error.response.status_code != 409:
                raise
    deployment = api.call("POST", "/deployments/", json={
        "name": "bench-api-load", "flow_id": flow["id"], "work_pool_name": LOAD_POOL,
        "entrypoint": "bench_flows.py:bench_noop"})
    return deployment["id"]


def one_versus_two(api, deployment_id, clients, total, rounds):
    results = {"one": [], "two": []}
    # A first short round warms both servers' caches and connection pools up.
    api_load(api, deployment_id, clients, clients * 4)
    for round_number in range(rounds):
        for servers in ("one", "two"):
            set_server_b("out" if servers == "one" else "in")
            log(f"api round {round_number + 1}/{rounds}: {clients} clients x {total} creations, {servers} API server(s)")
            results[servers].append(api_load(api, deployment_id, clients, total))
    set_server_b("in")
    return results


# --- 2. what idle polling workers cost --------------------------------------------------


def poll_cost(api, workers, window, intervals):
    """Per interval: `workers` idle workers polling for `window` s; and the idle platform."""
    ca = str(WORK_DIR / ".prefect-secrets" / "ca" / "ca.crt")

    def measure():
        requests_before, cpu_before = backend_requests(), cpu_seconds()
        time.sleep(window)
        cpu = cpu_used(cpu_before, cpu_seconds())
        return {"requests_per_second": round((backend_requests() - requests_before) / window, 2),
                "api_cpu_seconds": round(sum(v for k, v in cpu.items() if k.endswith("/server")), 2),
                "cpu_seconds": cpu}

    log(f"polls: the idle platform, {window} s")
    result = {"workers": workers, "window_seconds": window, "idle": measure(), "intervals": {}}
    for interval in intervals:
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update(PREFECT_API_URL=api.url, PREFECT_API_AUTH_STRING=":".join(api.auth),
                       PREFECT_API_SSL_CERT_FILE=ca, PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false",
                       PREFECT_WORKER_QUERY_SECONDS=str(interval), PREFECT_LOGGING_LEVEL="WARNING")
            processes = [subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", IDLE_POOL,
                                           "--type", "process", "--name", f"bench-idle-{n}"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for n in range(workers)]
            try:
                deadline = time.monotonic() + 120
                while len([w for w in api.call("POST", f"/work_pools/{IDLE_POOL}/workers/filter")
                           if w["status"] == "ONLINE"]) < workers:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the {workers} idle workers did not all come ONLINE")
                    time.sleep(2)
                log(f"polls: {workers} idle workers at {interval} s, {window} s")
                measured = measure()
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=60)
            idle = result["idle"]
            measured["per_worker"] = {
                "requests_per_second": round((measured["requests_per_second"] - idle["requests_per_second"])
                                             / workers, 3),
                "api_cpu_percent": round((measured["api_cpu_seconds"] - idle["api_cpu_seconds"])
                                         / window / workers * 100, 3),
            }
            result["intervals"][str(interval)] = measured
        # Workers that stopped are still listed for a while; they must not count as ONLINE next.
        for worker in api.call("POST", f"/work_pools/{IDLE_POOL}/workers/filter"):
            api.call("DELETE", f"/work_pools/{IDLE_POOL}/workers/{worker['name']}")
    return result


# --- report -------------------------------------------------------------------------


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else round((values[middle - 1] + values[middle]) / 2, 2)


def report(result):
    lines = []
    server_cpus = result["server_cpus"]
    api = result.get("api")
    if api:
        one, two = api["one"], api["two"]
        rps = {servers: median([r["requests_per_second"] for r in api[servers]]) for servers in ("one", "two")}
        lines += [f"flow-run creations through the front door, {one[0]['clients']} clients x {one[0]['requests']}"
                  f" per round, {len(one)} rounds each, API servers capped at {server_cpus} core:",
                  "| API servers | req/s per round | median req/s | 5xx | connection errors | peak PG connections |",
                  "|---|---|---|---|---|---|"]
        for servers in ("one", "two"):
            rounds = api[servers]
            lines.append(f"| {servers} | {', '.join(str(r['requests_per_second']) for r in rounds)} | {rps[servers]} | "
                         f"{sum(r['5xx'] for r in rounds)} | {sum(r['connection'] for r in rounds)} | "
                         f"{max(r['pg_connections'] for r in rounds)} |")
        lines.append(f"two over one: {rps['two'] / rps['one']:.2f}x")
        for servers in ("one", "two"):
            rounds = api[servers]
            cores = median([r["cpu_seconds"]["machine, all cores busy"] / r["seconds"] for r in rounds])
            lines.append(f"{servers}: the machine's {os.cpu_count()} cores were busy {cores:.2f} of {os.cpu_count()} "
                         "on average (median of the rounds)")
        lines.append("\nCPU seconds used per round (median), by process:")
        names = sorted(one[0]["cpu_seconds"])
        lines += ["| process | one API server | two API servers |", "|---|---|---|"]
        for name in names:
            lines.append(f"| {name} | " + " | ".join(
                str(median([r["cpu_seconds"].get(name, 0) for r in api[servers]])) for servers in ("one", "two")) + " |")
    polls = result.get("polls")
    if polls:
        idle = polls["idle"]
        lines += [f"\nidle workers polling through the front door ({polls['workers']} workers, {polls['window_seconds']} s"
                  f" each; the idle platform: {idle['requests_per_second']} req/s, API servers "
                  f"{idle['api_cpu_seconds']} CPU s):",
                  "| query seconds | req/s, all | req/s per worker | API CPU % of a core per worker |",
                  "|---|---|---|---|"]
        for interval, measured in polls["intervals"].items():
            per = measured["per_worker"]
            lines.append(f"| {interval} | {measured['requests_per_second']} | {per['requests_per_second']} | "
                         f"{per['api_cpu_percent']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--api-clients", type=int, default=32)
    parser.add_argument("--api-requests", type=int, default=640, help="flow runs created per round")
    parser.add_argument("--api-rounds", type=int, default=3, help="rounds of each of one and two API servers")
    parser.add_argument("--server-cpus", type=float, default=0.5, help="each API server's CPU cap (server_cpus)")
    parser.add_argument("--poll-workers", type=int, default=8)
    parser.add_argument("--poll-window", type=int, default=60, help="seconds each poll interval is measured")
    parser.add_argument("--poll-intervals", default="10,5,2,1")
    parser.add_argument("--only", choices=["api", "polls"], action="append", help="measure only this (repeatable)")
    parser.add_argument("--keep-hosts", action="store_true", help="leave the hosts running at the end")
    parser.add_argument("--reuse-hosts", action="store_true",
                        help="keep the hosts when the front door answers; only re-apply site.yml")
    args = parser.parse_args(argv)
    measures = args.only or ["api", "polls"]

    bench_start = time.monotonic()
    inventory_path = inventory(args.server_cpus)
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "server_cpus": args.server_cpus}
    reuse = args.reuse_hosts and api_ready()
    if reuse:
        log("reusing the running hosts")
    result["provision_seconds"] = provision(inventory_path, create_hosts=not reuse)
    try:
        api = Api(URL + "/api", "admin:" + secret("api_auth_password"))
        api.session.verify = str(WORK_DIR / ".prefect-secrets" / "ca" / "ca.crt")
        # Or requests prefers REQUESTS_CA_BUNDLE (this machine's proxy CA) to the session's CA.
        api.session.trust_env = False
        deployment_id = prepare(api)
        if "api" in measures:
            result["api"] = one_versus_two(api, deployment_id, args.api_clients, args.api_requests, args.api_rounds)
        if "polls" in measures:
            result["polls"] = poll_cost(api, args.poll_workers, args.poll_window,
                                        [int(i) for i in args.poll_intervals.split(",")])
    finally:
        if not args.keep_hosts:
            destroy()
    result["bench_seconds"] = round(time.monotonic() - bench_start, 1)
    finish(result, "bench_scaleout.py", report(result), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
