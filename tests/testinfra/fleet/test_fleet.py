"""A fleet: database, server and two worker hosts (systemd and compose runtimes)."""

import datetime
import json
import os
import struct
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


def executing_workers(prefect_api, run_ids):
    """Name of the worker that submitted each run, from the runs' own logs."""
    logs = prefect_api.post("/api/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200}).json()
    workers = {}
    for log in logs:
        if log["message"].startswith("Worker '") and "submitting flow run" in log["message"]:
            workers[log["flow_run_id"]] = log["message"].split("'")[1]
    return workers


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


def test_rotating_the_api_password_restarts_the_workers_only_after_their_runs_complete(prefect_api, deployment_id):
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
    rotated = ansible_playbook(converge, extra_vars={"prefect_api_auth_password": ROTATED}, inventories=[inventory])
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
    finally:
        # The rest of the scenario (and a second `molecule verify`) knows the inventory's password.
        restored = ansible_playbook(converge, inventories=[inventory])
        assert restored.returncode == 0, restored.stdout[-4000:] + restored.stderr[-2000:]
