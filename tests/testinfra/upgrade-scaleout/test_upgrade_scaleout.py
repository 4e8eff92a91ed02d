"""playbooks/upgrade.yml on a scaled-out platform: both server hosts' APIs and services stop,
one migration runs from one host, both start the new release. Seen through the front door,
as users see it: the data made on the older release is all there, and the time the
platform did not answer is measured."""

import datetime
import os
import re
import time

import pytest
import yaml

from conftest import REPO, Polling, ansible_playbook, inventory_host, inventory_vars, play_recap, private_ca_certificate, psql

testinfra_hosts = ["upsc-data"]

SERVER_HOSTS = ("upsc-server-a", "upsc-server-b")
PINNED = yaml.safe_load((REPO / "roles" / "prefect" / "defaults" / "main.yml").read_text())["prefect_version"]
UPGRADE = "molecule/upgrade/upgrade.yml"
POOL = "upsc-pool"


def upgrade(prefect_version):
    return ansible_playbook(UPGRADE, inventories=[os.environ["MOLECULE_INVENTORY_FILE"]],
                            extra_vars={"prefect_version": prefect_version}, timeout=1800)


def schema_revision(host):
    return psql(host, "prefect", "SELECT version_num FROM alembic_version")


def images(name):
    """The image of each container of the server's compose project on a server host."""
    host = inventory_host(name)
    return set(host.check_output(
        "docker ps --filter label=com.docker.compose.project=prefect --format '{{.Image}}'").split())


def wait_until_ready(prefect_api, timeout=180):
    deadline = time.monotonic() + timeout
    while prefect_api.get("/api/ready", auth=False).status_code != 200:
        assert time.monotonic() < deadline, "the API never answered ready through the front door"
        time.sleep(2)


@pytest.fixture(scope="module")
def seeded(host, prefect_api):
    """What a team has on the older release: a work pool, a scheduled deployment, a block,
    finished flow runs with their logs."""
    old = inventory_vars(host)["upgrade_old_version"]
    wait_until_ready(prefect_api)
    assert prefect_api.get("/api/admin/version").json() == old
    assert all(images(name) == {f"prefecthq/prefect:{old}-python3.12"} for name in SERVER_HOSTS)
    pool = prefect_api.post("/api/work_pools/", {"name": POOL, "type": "process"})
    assert pool.status_code == 201, pool.text
    flow = prefect_api.post("/api/flows/", {"name": "upsc-flow"}).json()
    deployment = prefect_api.post("/api/deployments/", {
        "name": "upsc-nightly", "flow_id": flow["id"], "work_pool_name": POOL, "paused": True,
        "schedules": [{"schedule": {"cron": "0 2 * * *"}, "active": True}],
    })
    assert deployment.status_code in (200, 201), deployment.text
    json_block = prefect_api.post("/api/block_schemas/filter", {
        "block_types": {"slug": {"any_": ["json"]}}}).json()[0]
    block = prefect_api.post("/api/block_documents/", {
        "name": "upsc-settings", "block_schema_id": json_block["id"],
        "block_type_id": json_block["block_type_id"], "data": {"value": {"retries": 3}}})
    assert block.status_code == 201, block.text
    runs = {}
    for state in ("COMPLETED", "FAILED"):
        run = prefect_api.post("/api/flow_runs/", {
            "flow_id": flow["id"], "deployment_id": deployment.json()["id"], "state": {"type": state}})
        assert run.status_code == 201, run.text
        runs[run.json()["id"]] = state
        logged = prefect_api.post("/api/logs/", [{
            "name": "upsc", "level": 20, "message": f"upsc log of a {state} run", "flow_run_id": run.json()["id"],
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()}])
        assert logged.status_code == 201, logged.text
    return {"old": old, "pool_id": pool.json()["id"], "deployment_id": deployment.json()["id"],
            "block_id": block.json()["id"], "runs": runs, "revision": schema_revision(host)}


@pytest.fixture(scope="module")
def upgraded(seeded, prefect_api):
    """The upgrade to the pin, under a load of requests through the front door."""
    load = Polling(prefect_api.url + "/api/flows/filter", str(private_ca_certificate()), threads=2,
                   payload={"limit": 1}, auth=prefect_api.auth)
    began = time.monotonic()
    with load:
        time.sleep(2)
        run = upgrade(PINNED)
        ended = time.monotonic()
        time.sleep(2)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return {"run": run, "load": load, "seconds": ended - began}


def test_both_server_hosts_run_the_pinned_release(upgraded, prefect_api):
    for name in SERVER_HOSTS:
        assert images(name) == {f"prefecthq/prefect:{PINNED}-python3.12"}, name
    assert {prefect_api.get("/api/admin/version").json() for _request in range(6)} == {PINNED}


def test_the_schema_was_migrated_once_from_one_host(upgraded, seeded, host):
    stdout = upgraded["run"].stdout
    # The single-host path (a migration container per server host) is skipped ...
    skipped = re.search(r"TASK \[Run the schema migrations once, with the new image\] \**\n((?:\w+: \[[^\]]+\]\n)+)",
                        stdout)
    assert skipped and set(re.findall(r"^(\w+):", skipped.group(1), re.MULTILINE)) == {"skipping"}, stdout[-3000:]
    # ... and the role's migration step ran on one host only, and migrated.
    step = re.search(r"TASK \[[^\]]*Bring the database schema, once for every server[^\]]*\] \**\n((?:\w+: \[[^\]]+\]\n)+)",
                     stdout)
    assert step, stdout[-3000:]
    assert step.group(1) == f"changed: [{SERVER_HOSTS[0]}]\n", step.group(1)
    assert schema_revision(host) != seeded["revision"]


def test_everything_made_on_the_older_release_is_there(upgraded, seeded, prefect_api):
    assert prefect_api.get(f"/api/work_pools/{POOL}").json()["id"] == seeded["pool_id"]
    deployment = prefect_api.get(f"/api/deployments/{seeded['deployment_id']}").json()
    assert [schedule["schedule"]["cron"] for schedule in deployment["schedules"]] == ["0 2 * * *"], deployment
    block = prefect_api.get(f"/api/block_documents/{seeded['block_id']}", params={"include_secrets": "true"})
    assert block.json()["data"] == {"value": {"retries": 3}}, block.text
    for run_id, state in seeded["runs"].items():
        assert prefect_api.get(f"/api/flow_runs/{run_id}").json()["state"]["type"] == state
        logs = prefect_api.post("/api/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}}).json()
        assert [log["message"] for log in logs] == [f"upsc log of a {state} run"], logs


def test_a_flow_runs_against_the_upgraded_platform(upgraded, prefect_api, tmp_path):
    run = prefect_api.run_flow("hello.py", tmp_path, "21")
    assert (run["type"], run["result"]) == ("COMPLETED", 42), run


def test_the_platform_was_down_only_while_the_servers_restarted(upgraded, record_property):
    load, seconds = upgraded["load"], upgraded["seconds"]
    record_property("measured", f"upgrade of 2 API servers from 3.6.29 to {PINNED} in a {seconds:.0f} s run: "
                                f"the front door answered no request for {load.outage():.0f} s "
                                f"({len(load.failed)} of {load.ok + len(load.failed)} failed)")
    # The API answered before the upgrade stopped it and after it started the new release.
    assert load.ok > 50, load.ok
    assert load.failed, "an upgrade that stops every API server cannot be without downtime"
    # Nothing failed but what the front door answers while no API server is up.
    assert set(load.failed) <= {502, 503}, sorted(set(map(str, load.failed)))
    assert load.outage() < seconds


def test_a_second_upgrade_changes_nothing(upgraded):
    run = upgrade(PINNED)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    recap = play_recap(run.stdout)
    assert set(recap) >= {"upsc-data", *SERVER_HOSTS}, recap
    assert {host: counters["changed"] for host, counters in recap.items() if counters["changed"]} == {}, recap
