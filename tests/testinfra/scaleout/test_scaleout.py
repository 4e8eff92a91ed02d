"""Scale-out: two API servers without services, a services container on each server host,
Redis for their coordination, one migration step, the front door balancing across both.
Seen from the controller through the front door, as users and workers see it."""

import contextlib
import datetime
import json
import os
import re
import subprocess
import time
import urllib.parse
import uuid

import pytest

from conftest import Polling, ansible_playbook, inventory_host, platform_secret, private_ca_certificate

testinfra_hosts = ["scale-edge"]

SERVER_HOSTS = ("scale-server-a", "scale-server-b")
POOL = "scale"
URL = "https://localhost:14543"


def container(host, service):
    """The id of the running container of a service of the server's compose project."""
    return host.check_output(
        "docker ps -q --filter label=com.docker.compose.project=prefect --filter label=com.docker.compose.service=%s",
        service,
    )


def container_env(host, service):
    return json.loads(host.check_output("docker inspect --format '{{json .Config.Env}}' %s", container(host, service)))


@pytest.fixture(scope="module")
def deployment_id(prefect_api):
    return prefect_api.create_deployment("scale-hello", POOL, "scale_hello.py:scale_hello")


def trigger(prefect_api, deployment_id, count, parameters=None):
    run_ids = []
    for _run in range(count):
        response = prefect_api.post(f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": parameters or {}})
        assert response.status_code == 201, response.text
        run_ids.append(response.json()["id"])
    return run_ids


def test_every_server_host_runs_the_api_without_services_and_the_services_beside_it():
    for name in SERVER_HOSTS:
        host = inventory_host(name)
        command = host.check_output("docker inspect --format '{{json .Config.Cmd}}' %s", container(host, "server"))
        assert json.loads(command) == ["prefect", "server", "start", "--no-services"], (name, command)
        command = host.check_output("docker inspect --format '{{json .Config.Cmd}}' %s", container(host, "services"))
        assert json.loads(command) == ["prefect", "server", "services", "start"], (name, command)
        environment = container_env(host, "server")
        for setting in (
            "PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false",
            "PREFECT_SERVER_EVENTS_MESSAGING_BROKER=prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_MESSAGING_CACHE=prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING=prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=prefect_redis.lease_storage",
            "PREFECT_SERVER_EVENTS_RETENTION_PERIOD=P7D",
            "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED=events",
        ):
            assert setting in environment, (name, setting)
        assert any(value.startswith("PREFECT_SERVER_DOCKET_URL=redis://") for value in environment), name
        # The Redis password is in the root-only env file, never in the compose file.
        assert "redis@pass" not in host.file("/opt/prefect/compose.yaml").content_string
        env_file = host.file("/opt/prefect/prefect.env")
        assert (env_file.user, env_file.mode) == ("root", 0o600)
        # Published on the address the front door reaches, not on every interface.
        published = host.check_output("docker port %s 4200/tcp", container(host, "server"))
        assert published == host.interface("eth0").addresses[0] + ":4200", published


def test_redis_keeps_the_servers_coordination_behind_a_password():
    data = inventory_host("scale-data")
    address = data.interface("eth0").addresses[0]
    # Redis' default user is off: without the servers' user and password, nothing.
    refused = data.run("redis-cli -h %s --no-auth-warning ping", address)
    assert "NOPERM" in refused.stdout + refused.stderr or "NOAUTH" in refused.stdout + refused.stderr, refused.stdout
    config = data.file("/etc/redis/redis.conf")
    assert (config.user, config.group, config.mode) == ("redis", "redis", 0o640)
    assert "redis@pass" not in config.content_string
    assert "appendonly yes" in config.content_string and "maxmemory-policy noeviction" in config.content_string
    # The servers hold connections; the docket (database 1) and messaging (0) have keys.
    keys = data.check_output(
        "REDISCLI_AUTH=%s redis-cli --no-auth-warning --user prefect info keyspace", "scale/redis@pass:test-only"
    )
    assert "db0:" in keys and "db1:" in keys, keys


def api_ready_on(host):
    """Whether the host's API answers ready where the front door asks it."""
    url = "http://%s:4200/api/ready" % host.interface("eth0").addresses[0]
    return host.run("python3 -c %s", "import urllib.request; urllib.request.urlopen(%r, timeout=5)" % url).rc == 0


def test_each_api_server_alone_answers_through_the_front_door(prefect_api, deployment_id):
    # One server's API stopped, then the other's: the front door finds the one left (its
    # health checks run every 2 s), and a run created through it completes.
    for name in SERVER_HOSTS:
        host = inventory_host(name)
        host.check_output("docker stop %s", container(host, "server"))
        try:
            time.sleep(8)
            answers = [prefect_api.post("/api/flows/filter", {"limit": 1}).status_code for _request in range(10)]
            assert answers == [200] * 10, (name, answers)
            run_ids = trigger(prefect_api, deployment_id, 1)
            runs = prefect_api.wait_for_runs(run_ids, timeout=240)
            assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"], (name, runs)
        finally:
            host.check_output("cd /opt/prefect && docker compose start server")
            wait_until_ready(host)


def wait_until_ready(host):
    deadline = time.monotonic() + 180
    while not api_ready_on(host):
        assert time.monotonic() < deadline, "the API never answered ready again"
        time.sleep(2)
    # The balancer asks every 2 s and wants two good answers.
    time.sleep(6)


def test_stopping_an_api_server_under_a_load_of_creations_keeps_the_platform_serving(
    prefect_api, deployment_id, record_property
):
    # An unplanned stop, as `docker stop` or a host shutdown does it: the balancer sends
    # the requests whose connection fails, or that get no answer, to the other server. A
    # request the stopping server was answering can still fail (HAProxy does not send a
    # creation twice): at most a handful of the thousands here, counted and reported.
    flow = prefect_api.post("/api/flows/", {"name": "scale-load"}).json()
    host = inventory_host("scale-server-a")
    load = Polling(URL + "/api/flow_runs/", str(private_ca_certificate()), threads=4,
                   payload={"flow_id": flow["id"]}, auth=prefect_api.auth)
    try:
        with load:
            time.sleep(3)
            host.check_output("docker stop %s", container(host, "server"))
            run_ids = trigger(prefect_api, deployment_id, 4)
            time.sleep(10)
    finally:
        host.check_output("cd /opt/prefect && docker compose start server")
    record_property("measured", f"API server stopped under load: {len(load.failed)} of "
                                f"{load.ok + len(load.failed)} creations failed ({load.failed[:5]})")
    assert load.ok > 200, load.ok
    assert len(load.failed) <= 3, load.failed[:10]
    # The other server alone took the work: runs created meanwhile complete.
    runs = prefect_api.wait_for_runs(run_ids, timeout=240)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 4, runs
    wait_until_ready(host)


@contextlib.contextmanager
def whole_host_down(name, how):
    """A server host shut down (`poweroff`: systemd stops Docker, which stops the containers,
    each finishing what it answers) or its power cut (`kill`); booted again afterwards and
    back in the balancer, for the next checks."""
    if how == "poweroff":
        subprocess.run(["docker", "exec", name, "systemctl", "poweroff"], check=False, capture_output=True)
        deadline = time.monotonic() + 90
        while host_running(name):
            assert time.monotonic() < deadline, f"{name} did not shut down"
            time.sleep(1)
    else:
        subprocess.run(["docker", "kill", name], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["docker", "start", name], check=True, capture_output=True)
        wait_until_ready(inventory_host(name))


def host_running(name):
    return subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", name],
                          capture_output=True, text=True, check=True).stdout.strip() == "true"


@pytest.mark.parametrize("how", ["poweroff", "kill"])
def test_a_whole_server_host_going_down_under_a_load_of_creations_keeps_the_platform_serving(
    prefect_api, deployment_id, record_property, how
):
    # Shut down, the host's API finishes the requests it was answering and refuses new
    # ones, which the balancer sends to the other server: none fails. Its power cut
    # (`kill`) leaves the requests it was answering without an answer: those few fail
    # (each of the 4 clients has one request in flight at most), everything after them
    # goes to the other server.
    flow = prefect_api.post("/api/flows/", {"name": "scale-load"}).json()
    load = Polling(URL + "/api/flow_runs/", str(private_ca_certificate()), threads=4,
                   payload={"flow_id": flow["id"]}, auth=prefect_api.auth)
    with load:
        time.sleep(3)
        with whole_host_down("scale-server-b", how):
            run_ids = trigger(prefect_api, deployment_id, 4)
            time.sleep(20)
    record_property("measured", f"server host down ({how}) under load: {len(load.failed)} of "
                                f"{load.ok + len(load.failed)} creations failed ({load.failed[:5]})")
    assert load.ok > 200, load.ok
    assert len(load.failed) <= (0 if how == "poweroff" else 4), load.failed[:10]
    runs = prefect_api.wait_for_runs(run_ids, timeout=240)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 4, runs


def test_events_reach_a_websocket_subscriber_through_the_front_door(prefect_api, tmp_path):
    received = prefect_api.run_flow("watch_events.py", tmp_path)
    assert received["events"][-1] == "prefect.flow-run.Completed", received
    assert "prefect.flow-run.Running" in received["events"], received


def test_services_on_both_hosts_schedule_each_run_once(prefect_api):
    # An interval schedule of 10 s, on a pool nobody polls: the runs stay scheduled, and
    # two schedulers (one per services container, every 10 s here) run meanwhile.
    # Names of their own: a second `molecule verify` finds the first one's deployment paused.
    name = "scale-scheduled-" + uuid.uuid4().hex[:8]
    flow = prefect_api.post("/api/flows/", {"name": name}).json()
    pool = prefect_api.post("/api/work_pools/", {"name": "scale-idle", "type": "process"})
    assert pool.status_code in (201, 409), pool.text
    deployment = prefect_api.post("/api/deployments/", {
        "name": name, "flow_id": flow["id"], "work_pool_name": "scale-idle",
        "schedules": [{"schedule": {"interval": 10}, "active": True}],
    })
    assert deployment.status_code in (200, 201), deployment.text
    deployment_id = deployment.json()["id"]
    time.sleep(60)
    runs = prefect_api.post("/api/flow_runs/filter", {
        "deployments": {"id": {"any_": [deployment_id]}}, "limit": 200}).json()
    starts = [run["expected_start_time"] for run in runs]
    assert len(starts) >= 3, starts
    assert len(starts) == len(set(starts)), sorted(starts)
    prefect_api.post(f"/api/deployments/{deployment_id}/pause_deployment")


def test_late_runs_are_still_marked_when_one_services_process_stops(prefect_api):
    server_a = inventory_host("scale-server-a")
    server_a.check_output("docker stop %s", container(server_a, "services"))
    try:
        flow = prefect_api.post("/api/flows/", {"name": "scale-late"}).json()
        deployment = prefect_api.post("/api/deployments/", {
            "name": "scale-late", "flow_id": flow["id"], "work_pool_name": "scale-idle"})
        assert deployment.status_code in (200, 201), deployment.text
        due = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)).isoformat()
        run = prefect_api.post(f"/api/deployments/{deployment.json()['id']}/create_flow_run", {
            "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": due}}})
        assert run.status_code == 201, run.text
        deadline = time.monotonic() + 90
        while prefect_api.get(f"/api/flow_runs/{run.json()['id']}").json()["state"]["name"] != "Late":
            assert time.monotonic() < deadline, "the surviving services never marked the run Late"
            time.sleep(2)
    finally:
        server_a.check_output("cd /opt/prefect && docker compose start services")


def test_a_restart_of_redis_loses_no_run(prefect_api, deployment_id):
    run_ids = trigger(prefect_api, deployment_id, 4, {"seconds": 15})
    time.sleep(5)
    inventory_host("scale-data").check_output("systemctl restart redis-server")
    run_ids += trigger(prefect_api, deployment_id, 2)
    runs = prefect_api.wait_for_runs(run_ids, timeout=300)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 6, runs


def test_a_changed_server_setting_restarts_the_servers_one_at_a_time_without_a_failed_request(
    prefect_api, record_property
):
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    started = {name: container(inventory_host(name), "server") for name in SERVER_HOSTS}
    load = Polling(URL + "/api/flows/filter", str(private_ca_certificate()), threads=4, payload={"limit": 1},
                   auth=prefect_api.auth)
    began = time.monotonic()
    with load:
        changed = ansible_playbook(
            "molecule/scaleout/converge.yml", inventories=[inventory],
            extra_vars={"server_extra_env": {"PREFECT_SERVER_LOGGING_LEVEL": "INFO"}},
        )
        time.sleep(3)
    record_property("measured", f"both API servers restarted for a changed setting in a {time.monotonic() - began:.0f} s "
                                f"re-run: {len(load.failed)} of {load.ok + len(load.failed)} requests failed")
    try:
        assert changed.returncode == 0, changed.stdout[-4000:] + changed.stderr[-2000:]
        # No client request failed meanwhile ...
        assert load.ok > 100, load.ok
        assert not load.failed, load.failed[:10]
        # ... while every API server was recreated with the new setting, each after the
        # balancer had sent it no new request.
        for name in SERVER_HOSTS:
            host = inventory_host(name)
            assert container(host, "server") != started[name], name
            assert "PREFECT_SERVER_LOGGING_LEVEL=INFO" in container_env(host, "server"), name
            drained = r"Send no new request to the server\] \**\nchanged: \[%s -> scale-edge\]" % name
            assert re.search(drained, changed.stdout), name
    finally:
        # The setting back, through the same rolling restart, at -vvv: what the run
        # prints (module arguments and results) holds none of the platform's secrets.
        restored = ansible_playbook("molecule/scaleout/converge.yml", "-vvv", inventories=[inventory])
        assert restored.returncode == 0, restored.stdout[-4000:] + restored.stderr[-2000:]
        secrets = [platform_secret(inventory_host("scale-edge"), "api_auth_password"),
                   "scale/db@pass:test-only", "scale/redis@pass:test-only"]
        output = restored.stdout + restored.stderr
        leaked = [secret[:4] + "..." for secret in secrets
                  if secret in output or urllib.parse.quote(secret, safe="") in output]
        assert not leaked, f"the -vvv output holds secrets starting with {leaked}"
