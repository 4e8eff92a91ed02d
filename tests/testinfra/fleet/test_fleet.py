"""A fleet: database, server and two worker hosts (systemd and compose runtimes)."""

import collections
import contextlib
import datetime
import json
import os
import struct
import subprocess
import time

import pytest

from conftest import PrefectApi, ansible_playbook, inventory_host, inventory_vars, private_ca_certificate, psql

testinfra_hosts = ["fleet-server"]

POOL = "fleet"
# The API password the rotation test switches to (and back from).
ROTATED = "fleet-auth-rotated-test-only"
WORKER_HOSTS = ("fleet-worker-a", "fleet-worker-b")


def pool_workers(prefect_api):
    response = prefect_api.post(f"/api/work_pools/{POOL}/workers/filter")
    assert response.status_code == 200, response.text
    return {worker["name"]: worker["status"] for worker in response.json()}


def trigger(prefect_api, deployment_id, count, parameters=None):
    run_ids = []
    for _run in range(count):
        response = prefect_api.post(
            f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": parameters or {}}
        )
        assert response.status_code == 201, response.text
        run_ids.append(response.json()["id"])
    return run_ids


def executing_workers(prefect_api, run_ids, timeout=30):
    """Name of the worker that submitted each run, from the runs' own logs.

    A worker ships its logs in batches, so a run can be RUNNING before the worker's
    "submitting" line reaches the API: wait for a line of every run (up to `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = prefect_api.post("/api/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200}).json()
        workers = {}
        for log in logs:
            if log["message"].startswith("Worker '") and "submitting flow run" in log["message"]:
                workers[log["flow_run_id"]] = log["message"].split("'")[1]
        if len(workers) == len(set(run_ids)) or time.monotonic() > deadline:
            return workers
        time.sleep(1)


@pytest.fixture(scope="module")
def deployment_id(prefect_api):
    """A deployment whose entrypoint only resolves in the flow code the role shipped."""
    return prefect_api.create_deployment("fleet-hello", POOL, "fleet_hello.py:fleet_hello")


def test_every_worker_of_both_hosts_is_online(prefect_api):
    workers = pool_workers(prefect_api)
    for host in WORKER_HOSTS:
        mine = {name: status for name, status in workers.items() if name.startswith(host + "-")}
        assert len(mine) == 2, workers
        assert set(mine.values()) == {"ONLINE"}, workers


def test_ten_runs_complete_on_both_worker_hosts(prefect_api, deployment_id):
    # Each run holds its worker (limit 1) for two seconds: a burst must use every worker.
    run_ids = trigger(prefect_api, deployment_id, 10, {"number": 21, "seconds": 2})
    runs = prefect_api.wait_for_runs(run_ids)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 10
    workers = executing_workers(prefect_api, run_ids)
    assert len(workers) == 10, workers
    hosts = {host for host in WORKER_HOSTS for name in workers.values() if name.startswith(host + "-")}
    assert hosts == set(WORKER_HOSTS), workers


def test_runs_start_as_one_engine_process_on_both_runtimes(prefect_api, deployment_id):
    """work_pools_flow_run_command: the pool's default command, and what each run's process is."""
    pool = prefect_api.get(f"/api/work_pools/{POOL}").json()
    assert pool["base_job_template"]["variables"]["properties"]["command"]["default"] == "python -m prefect.engine"
    run_ids = trigger(prefect_api, deployment_id, 8, {"seconds": 1})
    runs = prefect_api.wait_for_runs(run_ids)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 8
    # A run's logs reach the API in batches: wait for every run's line.
    deadline = time.monotonic() + 30
    while True:
        logs = prefect_api.post("/api/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200}).json()
        commands = {log["flow_run_id"]: log["message"] for log in logs if log["message"].startswith("process: ")}
        if len(commands) == len(run_ids) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(commands.values()) == {"process: python -m prefect.engine"}, commands
    assert len(commands) == len(run_ids), commands
    # Runs on the systemd host and on the compose host alike.
    workers = executing_workers(prefect_api, run_ids)
    assert {host for host in WORKER_HOSTS for name in workers.values() if name.startswith(host + "-")} == set(WORKER_HOSTS)


def test_a_served_flow_runs_when_triggered(prefect_api):
    deployment = prefect_api.get("/api/deployments/name/fleet-served/fleet-served")
    assert deployment.status_code == 200, deployment.text
    run_ids = trigger(prefect_api, deployment.json()["id"], 2)
    runs = prefect_api.wait_for_runs(run_ids, timeout=120)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 2


def postgres_greeting(host, address, port):
    """What PostgreSQL at address answers a startup message from host: first bytes."""
    params = b"user\0prefect\0database\0prefect\0\0"
    startup = struct.pack("!ii", 8 + len(params), 196608) + params
    script = (
        "import socket,sys;"
        f"s=socket.create_connection(({address!r},{port}),5);"
        f"s.sendall({startup!r});"
        "sys.stdout.write(repr(s.recv(512)))"
    )
    return host.check_output("python3 -c %s", script)


def test_the_compose_workers_are_hardened():
    worker_b = inventory_host("fleet-worker-b")
    containers = worker_b.check_output("docker ps --quiet --filter label=com.docker.compose.project=prefect-worker")
    assert len(containers.split()) == 3, containers  # two workers and the served flow
    for container in containers.split():
        config = json.loads(worker_b.check_output("docker inspect %s", container))[0]
        assert config["Config"]["User"] == "1001:1001"
        assert config["HostConfig"]["ReadonlyRootfs"] is True
        assert config["HostConfig"]["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in config["HostConfig"]["SecurityOpt"]
        assert worker_b.check_output("docker exec %s id -u", container) == "1001"
        effective = worker_b.check_output("docker exec %s grep CapEff /proc/1/status", container).split()[1]
        assert effective == "0000000000000000"
    # That their flow runs complete under these limits is test_ten_runs_complete_on_both_worker_hosts.


def postgres_ssl_answer(host, address, port):
    """PostgreSQL's one-byte answer to an SSLRequest from host: b'S' when it offers TLS."""
    request = struct.pack("!ii", 8, 80877103)
    script = (
        "import socket,sys;"
        f"s=socket.create_connection(({address!r},{port}),5);"
        f"s.sendall({request!r});"
        "sys.stdout.write(repr(s.recv(1)))"
    )
    return host.check_output("python3 -c %s", script)


def test_the_database_admits_the_server_over_tls_only_and_refuses_a_worker_host():
    db = inventory_host("fleet-db")
    address = db.interface("eth0").addresses[0]
    port = inventory_vars(db).get("prefect_database_port", 5432)
    server = inventory_host("fleet-server")
    # The server host is offered TLS ...
    assert postgres_ssl_answer(server, address, port) == "b'S'"
    # ... and turned away without it (hostssl rules only).
    plain = postgres_greeting(server, address, port)
    assert plain.startswith("b'E") and "no encryption" in plain, plain
    # A worker host is turned away in any case.
    refused = postgres_greeting(inventory_host("fleet-worker-a"), address, port)
    assert refused.startswith("b'E") and "no pg_hba.conf entry" in refused, refused


def test_every_connection_of_the_server_to_postgresql_is_encrypted_verified_and_narrow():
    db = inventory_host("fleet-db")
    rows = psql(db, "prefect", (
        "SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
        "WHERE a.usename = 'prefect' AND a.client_addr IS NOT NULL"))
    assert rows, "the server holds no connection to PostgreSQL"
    assert set(rows) == {"t|TLSv1.3"}, rows
    # The server checks PostgreSQL's certificate and name against the private CA.
    server = inventory_host("fleet-server")
    environment = json.loads(server.check_output(
        "docker inspect --format '{{json .Config.Env}}' $(docker ps -q --filter label=com.docker.compose.service=server)"))
    assert "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED=true" in environment
    assert "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME=true" in environment
    assert "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE=/etc/prefect-ops/database-ca.pem" in environment
    assert server.file("/opt/prefect/database-ca.pem").content_string == private_ca_certificate().read_text()
    # It listens on loopback and the address the server reaches, nowhere else.
    listening = {line.split()[3] for line in db.check_output("ss -Htln").splitlines() if line.split()[3].endswith(":5432")}
    # (::1 too, where the host has IPv6.)
    assert listening - {"[::1]:5432"} == {"127.0.0.1:5432", db.interface("eth0").addresses[0] + ":5432"}, listening
    key = db.file("/etc/postgresql/17/main/tls/server.key")
    assert (key.user, key.group, key.mode) == ("root", "postgres", 0o640)


def test_the_pool_keeps_serving_when_one_worker_host_stops(prefect_api, deployment_id):
    worker_a = inventory_host("fleet-worker-a")
    units = worker_a.check_output(
        "systemctl list-units --plain --no-legend --type=service 'prefect-worker-*' | cut -d' ' -f1"
    ).split()
    assert units, "no worker unit on fleet-worker-a"
    worker_a.check_output("systemctl stop " + " ".join(units))
    try:
        run_ids = trigger(prefect_api, deployment_id, 3, {"number": 1})
        runs = prefect_api.wait_for_runs(run_ids)
        assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 3
        workers = executing_workers(prefect_api, run_ids).values()
        assert workers and all(name.startswith("fleet-worker-b-") for name in workers), workers
    finally:
        worker_a.check_output("systemctl start " + " ".join(units))


# -- planned restarts ----------------------------------------------------------------


def started_at_by_process(worker_host):
    """When each worker and served flow process of a worker host last started (Unix time):
    the units on the systemd host, the containers on the compose host."""
    if inventory_vars(worker_host)["worker_runtime"] == "systemd":
        units = worker_host.check_output(
            "systemctl list-units --plain --no-legend --type=service 'prefect-*' | cut -d' ' -f1"
        ).split()
        return {
            unit: int(worker_host.check_output(
                "systemctl show --timestamp=unix --property ActiveEnterTimestamp --value %s", unit
            ).lstrip("@"))
            for unit in units
        }
    lines = worker_host.check_output(
        "docker ps --filter label=com.docker.compose.project=prefect-worker --format '{{.Names}}'"
    ).split()
    started = {}
    for name in lines:
        stamp = worker_host.check_output("docker inspect --format '{{.State.StartedAt}}' %s", name)
        # 2026-12-06T09:14:22.123456789Z: whole seconds are enough here.
        started[name] = datetime.datetime.fromisoformat(stamp.split(".")[0] + "+00:00").timestamp()
    return started


def test_rotating_the_api_password_restarts_the_workers_only_after_their_runs_complete(
    prefect_api, deployment_id, record_property
):
    # Every worker (two per host, limit 1) busy with a long run, on both runtimes.
    run_ids = trigger(prefect_api, deployment_id, 4, {"number": 3, "seconds": 45})
    deadline = time.monotonic() + 120
    while {prefect_api.get(f"/api/flow_runs/{run_id}").json()["state"]["type"] for run_id in run_ids} != {"RUNNING"}:
        assert time.monotonic() < deadline, "the four long runs never all ran"
        time.sleep(1)
    workers = executing_workers(prefect_api, run_ids)
    hosts_of_runs = {
        host: [run_id for run_id, name in workers.items() if name.startswith(host + "-")] for host in WORKER_HOSTS
    }
    assert all(hosts_of_runs.values()), workers

    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    converge = "molecule/fleet/converge.yml"
    began = time.monotonic()
    rotated = ansible_playbook(converge, extra_vars={"prefect_api_auth_password": ROTATED}, inventories=[inventory])
    took = time.monotonic() - began
    try:
        assert rotated.returncode == 0, rotated.stdout[-4000:] + rotated.stderr[-2000:]
        api = PrefectApi(prefect_api.url, prefect_api.auth[0], ROTATED)
        assert api.get("/api/flow_runs/" + run_ids[0]).status_code == 200
        assert prefect_api.get("/api/flow_runs/" + run_ids[0]).status_code == 401
        runs = api.wait_for_runs(run_ids, timeout=60)
        assert [(run["state"]["type"], run["run_count"]) for run in runs.values()] == [("COMPLETED", 1)] * 4, runs
        # What made that so: each host's workers stopped only once its runs had ended (the
        # drain), and the run restarted every one of them.
        for host_name, host_run_ids in hosts_of_runs.items():
            last_end = max(
                datetime.datetime.fromisoformat(runs[run_id]["end_time"]).timestamp() for run_id in host_run_ids
            )
            started = started_at_by_process(inventory_host(host_name))
            assert started and all(stamp >= last_end for stamp in started.values()), (host_name, last_end, started)
        record_property(
            "measured", f"API password rotated with 4 runs of 45 s in progress: the re-run took {took:.0f} s, all COMPLETED"
        )
    finally:
        # The rest of the scenario (and a second `molecule verify`) knows the inventory's password.
        restored = ansible_playbook(converge, inventories=[inventory])
        assert restored.returncode == 0, restored.stdout[-4000:] + restored.stderr[-2000:]


# -- unplanned deaths ----------------------------------------------------------------

# The fleet inventory turns on work_pools_reschedule_crashed_runs; deployments opt in by tag.
RESCHEDULE_TAG = "reschedule-on-crash"
# The zombie-run automation's window (three 30 s heartbeats) and how late after it the
# server may act (it evaluates proactive triggers every few seconds; a loaded machine).
ZOMBIE_WINDOW = 90
MARGIN = 30


@pytest.fixture(scope="module")
def opted_in_deployment_id(prefect_api):
    """A deployment of the same flow that opts in to having its crashed runs rescheduled."""
    return prefect_api.create_deployment(
        "fleet-hello-rescheduled", POOL, "fleet_hello.py:fleet_hello", flow_name="fleet-hello", tags=[RESCHEDULE_TAG]
    )


def run_state(prefect_api, run_id):
    return prefect_api.get(f"/api/flow_runs/{run_id}").json()["state"]


def state_history(prefect_api, run_id):
    response = prefect_api.get(f"/api/flow_run_states/?flow_run_id={run_id}")
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda state: state["timestamp"])


def submitting_workers(prefect_api, run_id):
    """Every worker that submitted the run, in order (a rescheduled run has two)."""
    logs = prefect_api.post(
        "/api/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
    ).json()
    return [
        log["message"].split("'")[1]
        for log in logs
        if log["message"].startswith("Worker '") and "submitting flow run" in log["message"]
    ]


def wait_until_serving(prefect_api, host_name, timeout=300):
    """Until both workers of a (re)booted host run and are ONLINE in the pool again."""
    worker_host = inventory_host(host_name)
    deadline = time.monotonic() + timeout
    while True:
        active = worker_host.run("systemctl list-units --plain --no-legend --state=active 'prefect-worker-*'")
        workers = {name: status for name, status in pool_workers(prefect_api).items() if name.startswith(host_name + "-")}
        if active.rc == 0 and len(active.stdout.split("\n")) >= 2 and set(workers.values()) == {"ONLINE"}:
            return
        assert time.monotonic() < deadline, (active.stdout, workers)
        time.sleep(3)


@contextlib.contextmanager
def killed_host(prefect_api, host_name):
    """`docker kill` of a whole worker host (power cut); booted again afterwards, and
    serving, for the next checks. Yields the wall-clock time of the kill."""
    subprocess.run(["docker", "kill", host_name], check=True, capture_output=True)
    try:
        yield time.time()
    finally:
        subprocess.run(["docker", "start", host_name], check=True, capture_output=True)
        wait_until_serving(prefect_api, host_name)


def seconds_until_crashed(prefect_api, run_id, since):
    """Seconds from `since` (wall clock) to the run's first CRASHED state, polling until
    the window and the margin have passed."""
    deadline = since + ZOMBIE_WINDOW + MARGIN + 30
    while True:
        crashed = [state for state in state_history(prefect_api, run_id) if state["type"] == "CRASHED"]
        if crashed:
            return datetime.datetime.fromisoformat(crashed[0]["timestamp"]).timestamp() - since
        assert time.time() < deadline, state_history(prefect_api, run_id)
        time.sleep(2)


def test_runs_of_a_killed_worker_host_are_crashed_and_opted_in_ones_complete_on_the_other(
    prefect_api, deployment_id, opted_in_deployment_id, record_property
):
    # While fleet-worker-b's workers are stopped, fleet-worker-a takes one run of each
    # deployment (one per worker).
    compose = "docker compose --project-directory /opt/prefect-worker "
    worker_b = inventory_host("fleet-worker-b")
    worker_b.check_output(compose + "stop")
    try:
        opted_in = trigger(prefect_api, opted_in_deployment_id, 1, {"seconds": 60})[0]
        plain = trigger(prefect_api, deployment_id, 1, {"seconds": 60})[0]
        deadline = time.monotonic() + 120
        while {run_state(prefect_api, run_id)["type"] for run_id in (opted_in, plain)} != {"RUNNING"}:
            assert time.monotonic() < deadline, "the two long runs never ran on fleet-worker-a"
            time.sleep(1)
    finally:
        worker_b.check_output(compose + "start")
    time.sleep(5)  # a run sends its first heartbeat as it starts
    with killed_host(prefect_api, "fleet-worker-a") as killed_at:
        waited = {run_id: seconds_until_crashed(prefect_api, run_id, killed_at) for run_id in (opted_in, plain)}
        record_property(
            "measured", f"worker host killed mid-run: its runs CRASHED after {sorted(round(s) for s in waited.values())} s"
        )
        assert all(seconds <= ZOMBIE_WINDOW + MARGIN for seconds in waited.values()), waited
        # The opted-in run was put back to Scheduled and completes on fleet-worker-b.
        deadline = time.monotonic() + 180
        while run_state(prefect_api, opted_in)["type"] != "COMPLETED":
            assert time.monotonic() < deadline, state_history(prefect_api, opted_in)
            time.sleep(2)
    history = [(state["type"], state["name"]) for state in state_history(prefect_api, opted_in)]
    assert ("CRASHED", "Crashed") in history and ("SCHEDULED", "Rescheduled") in history, history
    submitters = submitting_workers(prefect_api, opted_in)
    assert submitters[0].startswith("fleet-worker-a-") and submitters[-1].startswith("fleet-worker-b-"), submitters
    # The other deployment did not opt in: its run stays CRASHED, with the reason.
    state = run_state(prefect_api, plain)
    assert state["type"] == "CRASHED" and "No heartbeat for 90 seconds" in state["message"], state


def test_every_run_of_a_burst_ends_in_a_final_state_when_a_worker_host_dies_halfway(
    prefect_api, deployment_id, record_property
):
    run_ids = trigger(prefect_api, deployment_id, 100, {"seconds": 2})
    deadline = time.monotonic() + 600
    while True:
        runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json()
        if sum(run["state"]["type"] == "COMPLETED" for run in runs) >= 50:
            break
        assert time.monotonic() < deadline, "half of the burst never completed"
        time.sleep(1)
    with killed_host(prefect_api, "fleet-worker-a"):
        # A run caught Running is marked after 90 s without heartbeat, one caught Pending
        # after work_pools_pending_timeout (120 s in this scenario); fleet-worker-b runs the rest.
        runs = prefect_api.wait_for_runs(run_ids, timeout=600)
    counts = collections.Counter(run["state"]["type"] for run in runs.values())
    record_property("measured", f"100 runs, a worker host killed halfway: {dict(sorted(counts.items()))}")
    assert sum(counts.values()) == 100
    assert set(counts) <= {"COMPLETED", "CRASHED"}, counts
    # Only what fleet-worker-a's two workers (one run each) held at the kill is lost.
    assert counts["CRASHED"] <= 2, counts


def test_a_restart_of_a_served_flow_lets_its_run_finish(prefect_api, record_property):
    # Only fleet-worker-a serves the flow while the run starts (fleet-worker-b's
    # containers are stopped); then its served-flow unit is restarted mid-run.
    compose = "docker compose --project-directory /opt/prefect-worker "
    worker_a, worker_b = inventory_host("fleet-worker-a"), inventory_host("fleet-worker-b")
    deployment = prefect_api.get("/api/deployments/name/fleet-served/fleet-served")
    assert deployment.status_code == 200, deployment.text
    worker_b.check_output(compose + "stop")
    try:
        run_id = trigger(prefect_api, deployment.json()["id"], 1, {"seconds": 30})[0]
        deadline = time.monotonic() + 120
        while run_state(prefect_api, run_id)["type"] != "RUNNING":
            assert time.monotonic() < deadline, state_history(prefect_api, run_id)
            time.sleep(1)
        began = time.monotonic()
        worker_a.check_output("systemctl restart prefect-serve-fleet-served.service")
        took = time.monotonic() - began
    finally:
        worker_b.check_output(compose + "start")
    state = run_state(prefect_api, run_id)
    assert state["type"] == "COMPLETED", state_history(prefect_api, run_id)
    assert prefect_api.get(f"/api/flow_runs/{run_id}").json()["run_count"] == 1
    record_property("measured", f"served flow restarted mid-run: the restart waited {took:.0f} s, the run COMPLETED")
    # It serves again: a new run completes.
    runs = prefect_api.wait_for_runs(trigger(prefect_api, deployment.json()["id"], 1), timeout=120)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"]
