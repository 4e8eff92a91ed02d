"""Day-2 operations on a running platform, in the order a user would meet them.

Converge deployed an older Prefect release (prefect_version in molecule.yml). These tests
seed data through the API, upgrade to the collection's pin with playbooks/upgrade.yml,
check that the data is all there and that new runs complete on the upgraded worker,
re-run the upgrade (nothing changes), try a downgrade (refused, nothing changes), and
take a backup, destroy the flow runs and restore them. Each playbook runs the way a user
runs it: ansible-playbook against the scenario's inventory.
"""

import json
import os
import re
import subprocess
import time

import pytest
import requests
import yaml

from conftest import REPO, inventory_vars

testinfra_hosts = ["upg-aio"]

POOL = "upgrade-pool"
PINNED = yaml.safe_load((REPO / "roles" / "prefect" / "defaults" / "main.yml").read_text())["prefect_version"]
UPGRADE = REPO / "molecule" / "upgrade" / "upgrade.yml"
BACKUP = REPO / "playbooks" / "backup.yml"
RESTORE = REPO / "playbooks" / "restore.yml"


def run_playbook(playbook, extra_vars=None):
    """Run a playbook against the scenario's host; by default at the pinned version
    (after the upgrade, the inventory's prefect_version is the older release). Only the
    upgrade ships an image and wheels, and needs the test bed's variables for them."""
    extra_vars = {"prefect_version": PINNED, **(extra_vars or {})}
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    if playbook == UPGRADE:
        command += ["-e", "@" + str(REPO / "tests" / "testbed" / "vars.yml")]
    command += ["-e", json.dumps(extra_vars), str(playbook)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800, check=False)


def recap(run, host):
    """The PLAY RECAP counters of one host, as a dict."""
    line = re.search(rf"^{re.escape(host.backend.host)}\s*:(.*)$", run.stdout, re.MULTILINE)
    assert line, run.stdout[-3000:] + run.stderr[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def said(run):
    """Everything a run printed, on one line: ansible-core prints task errors on stderr,
    and the YAML callback folds long messages."""
    return " ".join((run.stdout + run.stderr).split())


def tail(run):
    return (run.stdout + run.stderr)[-4000:]


def trigger(prefect_api, deployment_id, count):
    run_ids = []
    for number in range(count):
        response = prefect_api.post(
            f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": {"number": number}}
        )
        assert response.status_code == 201, response.text
        run_ids.append(response.json()["id"])
    return run_ids


def completed(prefect_api, run_ids):
    runs = prefect_api.wait_for_runs(run_ids)
    return {run_id: run["state"]["type"] for run_id, run in runs.items()}


def wait_until_ready(prefect_api, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if prefect_api.get("/api/ready", auth=False).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the API did not answer ready"
        time.sleep(2)


def server_version(prefect_api):
    response = prefect_api.get("/api/admin/version")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def seeded(host, prefect_api):
    """A deployment, its work pool and completed flow runs, made on the older release."""
    old = inventory_vars(host)["upgrade_old_version"]
    assert old != PINNED
    wait_until_ready(prefect_api)
    assert server_version(prefect_api) == old
    deployment_id = prefect_api.create_deployment("upgrade-hello", POOL, "upgrade_hello.py:upgrade_hello")
    run_ids = trigger(prefect_api, deployment_id, 3)
    assert set(completed(prefect_api, run_ids).values()) == {"COMPLETED"}
    pool = prefect_api.get(f"/api/work_pools/{POOL}")
    assert pool.status_code == 200, pool.text
    return {
        "old": old,
        "deployment_id": deployment_id,
        "pool_id": pool.json()["id"],
        "run_ids": run_ids,
    }


@pytest.fixture(scope="module")
def upgraded(seeded):
    run = run_playbook(UPGRADE, {"prefect_version": PINNED})
    assert run.returncode == 0, tail(run)
    return run


def test_upgrade_reaches_the_pinned_version(host, prefect_api, upgraded):
    assert server_version(prefect_api) == PINNED
    image = host.check_output("docker inspect --format '{{.Config.Image}}' prefect-server-1")
    assert image == f"prefecthq/prefect:{PINNED}-python3.12"
    # The migrations ran once, in their own container, before the new server started.
    assert "Run the database migrations of Prefect " + PINNED in upgraded.stdout
    assert host.run("docker ps -a --format '{{.Names}}' --filter name=prefect-migrate").stdout.strip() == ""


def test_the_upgrade_took_a_backup_first(host, upgraded):
    dumps = host.check_output("ls /var/backups/prefect").split()
    assert any(re.fullmatch(r"prefect-\d{8}T\d{6}Z\.pgc", name) for name in dumps), dumps
    dump = re.search(r"Dump of prefect: upg-aio:(\S+\.pgc)", upgraded.stdout)
    assert dump, tail(upgraded)
    # Ordered before the API was stopped.
    assert upgraded.stdout.index("Back up the database before the upgrade") < upgraded.stdout.index("Stop the API")


def test_flow_runs_deployment_and_pool_survive(prefect_api, seeded, upgraded):
    runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": seeded["run_ids"]}}}).json()
    assert {run["id"]: run["state"]["type"] for run in runs} == {run_id: "COMPLETED" for run_id in seeded["run_ids"]}
    deployment = prefect_api.get(f"/api/deployments/{seeded['deployment_id']}")
    assert deployment.status_code == 200 and deployment.json()["name"] == "upgrade-hello", deployment.text
    pool = prefect_api.get(f"/api/work_pools/{POOL}")
    assert pool.status_code == 200 and pool.json()["id"] == seeded["pool_id"], pool.text


def test_the_worker_runs_the_new_version_and_new_runs_complete(host, prefect_api, seeded, upgraded):
    version = host.check_output("/opt/prefect-worker/venv/bin/python -c 'import prefect; print(prefect.__version__)'")
    assert version == PINNED
    run_ids = trigger(prefect_api, seeded["deployment_id"], 2)
    assert set(completed(prefect_api, run_ids).values()) == {"COMPLETED"}


def test_a_second_upgrade_changes_nothing(host, upgraded):
    run = run_playbook(UPGRADE, {"prefect_version": PINNED})
    assert run.returncode == 0, tail(run)
    assert recap(run, host)["changed"] == 0, tail(run)


def test_a_downgrade_is_refused_and_changes_nothing(host, prefect_api, seeded, upgraded):
    run = run_playbook(UPGRADE, {"prefect_version": seeded["old"]})
    assert run.returncode != 0, tail(run)
    assert "this would be a downgrade" in said(run), tail(run)
    assert "upgrade_allow_downgrade" in said(run), tail(run)
    assert recap(run, host)["changed"] == 0, tail(run)
    assert prefect_api.get("/api/ready", auth=False).status_code == 200
    assert server_version(prefect_api) == PINNED


def test_restore_refuses_a_missing_dump_before_stopping_anything(host, prefect_api, upgraded):
    run = run_playbook(RESTORE, {"backup_restore_dump": "/var/backups/prefect/prefect-missing.pgc"})
    assert run.returncode != 0, tail(run)
    assert "/var/backups/prefect/prefect-missing.pgc does not exist" in said(run), tail(run)
    assert recap(run, host)["changed"] == 0, tail(run)
    assert prefect_api.get("/api/ready", auth=False).status_code == 200


def test_backup_and_restore_bring_every_flow_run_back(host, prefect_api, seeded, upgraded):
    run_ids = [run["id"] for run in prefect_api.post("/api/flow_runs/filter", {"limit": 200}).json()]
    run_ids += trigger(prefect_api, seeded["deployment_id"], 2)
    completed(prefect_api, run_ids)
    assert len(run_ids) >= 7

    backup = run_playbook(BACKUP)
    assert backup.returncode == 0, tail(backup)
    dump = re.search(r"Dump of prefect: upg-aio:(\S+\.pgc)", backup.stdout).group(1)

    for run_id in run_ids:
        response = requests.delete(f"{prefect_api.url}/api/flow_runs/{run_id}", auth=prefect_api.auth, timeout=15)
        assert response.status_code == 204, response.text
    assert prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json() == []

    restore = run_playbook(RESTORE, {"backup_restore_dump": dump})
    assert restore.returncode == 0, tail(restore)
    runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json()
    assert sorted(run["id"] for run in runs) == sorted(run_ids)
    assert server_version(prefect_api) == PINNED
    # The worker is back and serves new runs on the restored database.
    assert set(completed(prefect_api, trigger(prefect_api, seeded["deployment_id"], 1)).values()) == {"COMPLETED"}


def test_backup_keeps_only_the_newest_dumps(host, upgraded):
    run = run_playbook(BACKUP, {"backup_keep": 1})
    assert run.returncode == 0, tail(run)
    dump = re.search(r"Dump of prefect: upg-aio:(\S+\.pgc)", run.stdout).group(1)
    assert host.check_output("ls /var/backups/prefect").split() == [os.path.basename(dump)]
    listing = host.check_output("runuser -u postgres -- pg_restore --list %s", dump)
    assert "TABLE DATA public flow_run " in listing
