"""The roles reused alone (molecule/roles/converge.yml): Docker without Prefect, PostgreSQL
on Debian 12, the postgresql role in external mode against that server (as a non-superuser
administrator), the server on the external database, compose-only workers next to a
systemd worker on Debian 12, and a backup and restore in external mode."""

import json
import os
import re
import subprocess

import pytest
import requests

from conftest import REPO, inventory_host, psql

testinfra_hosts = ["roles-app"]

POOL = "roles"
BACKUP = "playbooks/backup.yml"
RESTORE = "playbooks/restore.yml"


@pytest.fixture(scope="module")
def docker_host():
    return inventory_host("roles-docker")


@pytest.fixture(scope="module")
def pg12():
    return inventory_host("roles-pg12")


@pytest.fixture(scope="module")
def deployment_id(prefect_api):
    return prefect_api.create_deployment("roles-hello", POOL, "roles_hello.py:roles_hello")


def trigger(prefect_api, deployment_id, count):
    run_ids = []
    for _run in range(count):
        response = prefect_api.post(f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": {"number": 4}})
        assert response.status_code == 201, response.text
        run_ids.append(response.json()["id"])
    return run_ids


def playbook(path, *args, extra_vars=None):
    """Run a playbook of the collection against the scenario's inventory, as a user would
    (without the test bed's variables: only converge ships the image)."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", json.dumps(extra_vars or {}),
               *args, str(REPO / path)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run


def address(host):
    """The host's address on the test bed's network (the source of its default route)."""
    return host.check_output("ip -4 route get 1.1.1.1").split(" src ")[1].split()[0]


# --- Docker alone -----------------------------------------------------------------------

def test_the_docker_role_alone_gives_a_running_engine_with_compose(docker_host):
    assert docker_host.service("docker").is_running
    assert docker_host.service("docker").is_enabled
    version = docker_host.check_output("docker compose version --short")
    assert tuple(int(part) for part in version.lstrip("v").split(".")[:2]) >= (2, 18), version
    assert docker_host.check_output("docker info --format '{{.ServerVersion}}'")


def test_the_docker_role_alone_installs_nothing_of_prefect(docker_host):
    assert docker_host.check_output("docker ps -a --format '{{.Names}}'") == ""
    assert docker_host.check_output("docker images -q") == ""
    for path in ("/opt/prefect", "/opt/prefect-worker", "/etc/prefect-worker"):
        assert not docker_host.file(path).exists, path
    assert not docker_host.package("postgresql").is_installed


# --- PostgreSQL on Debian 12, and the external mode against it --------------------------

def test_debian_12_runs_the_postgresql_of_its_release_with_the_local_prefect_database(pg12):
    assert pg12.system_info.distribution == "debian" and pg12.system_info.release.startswith("12"), pg12.system_info
    assert psql(pg12, "postgres", "SHOW server_version")[0].startswith("15.")
    assert psql(pg12, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'prefect'") == [
        "prefect"]
    assert "pg_trgm" in psql(pg12, "prefect", "SELECT extname FROM pg_extension")


def test_the_external_mode_created_the_database_on_the_other_host_as_a_non_superuser(pg12):
    assert psql(pg12, "postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'dbadmin'") == ["f"]
    assert psql(pg12, "postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'prefect_app'") == [
        "prefect_app"]
    assert "pg_trgm" in psql(pg12, "prefect_app", "SELECT extname FROM pg_extension")


def test_the_external_mode_host_runs_no_postgresql_server(host):
    assert not host.package("postgresql").is_installed
    assert host.run("systemctl list-units --plain --no-legend 'postgresql*'").stdout.strip() == ""


def test_flow_runs_complete_on_both_hosts_and_are_stored_in_the_external_database(prefect_api, deployment_id, pg12):
    run_ids = trigger(prefect_api, deployment_id, 4)
    runs = prefect_api.wait_for_runs(run_ids)
    assert [run["state"]["type"] for run in runs.values()] == ["COMPLETED"] * 4
    stored = psql(pg12, "prefect_app", "SELECT count(*) FROM flow_run WHERE id IN (%s)"
                  % ", ".join("'%s'" % run_id for run_id in run_ids))
    assert stored == ["4"]


# --- Workers: compose only on roles-app, systemd on Debian 12 ----------------------------

def test_both_hosts_workers_are_online_in_the_pool(prefect_api):
    response = prefect_api.post(f"/api/work_pools/{POOL}/workers/filter")
    assert response.status_code == 200, response.text
    workers = {worker["name"]: worker["status"] for worker in response.json()}
    assert workers == {"roles-app-roles-1": "ONLINE", "roles-pg12-roles-1": "ONLINE"}


def test_roles_app_runs_its_workers_under_compose_only(host):
    assert host.check_output("docker ps --format '{{.Names}}' --filter name=worker-roles-1").strip()
    assert host.run("systemctl list-units --plain --no-legend 'prefect-worker-*'").stdout.strip() == ""
    assert not host.file("/opt/prefect-worker/venv").exists


def test_the_debian_12_worker_runs_prefect_on_its_python_3_11(pg12):
    assert pg12.service("prefect-worker-roles-1").is_running
    version = pg12.check_output("/opt/prefect-worker/venv/bin/python -c "
                                "'import sys, prefect; print(sys.version_info[:2], prefect.__version__)'")
    assert version.startswith("(3, 11)"), version


# --- Backup and restore in external mode ----------------------------------------------

def test_backup_and_restore_in_external_mode(host, prefect_api, deployment_id, pg12):
    # The inventory takes the hosts' addresses from facts, which these playbooks do not
    # gather: give them as a user's inventory would.
    pg12_address = address(pg12)
    addresses = {
        "prefect_api_url": "http://%s:4200/api" % address(host),
        "postgresql_admin_host": pg12_address,
        "server_database_host": pg12_address,
    }
    before = trigger(prefect_api, deployment_id, 1)
    prefect_api.wait_for_runs(before)

    backup = playbook(BACKUP, "--limit", "roles-app", extra_vars=addresses)
    dump = re.search(r"Dump of prefect_app: roles-app:(\S+\.pgc)", backup.stdout)
    assert dump, backup.stdout[-3000:]
    # pg_dump ran on roles-app, over the network, as the administrator, into a root-only directory.
    assert host.file(dump.group(1)).exists
    assert host.file(os.path.dirname(dump.group(1))).mode == 0o700

    after = trigger(prefect_api, deployment_id, 1)
    prefect_api.wait_for_runs(after)
    response = requests.delete(f"{prefect_api.url}/api/flow_runs/{before[0]}", auth=prefect_api.auth, timeout=15)
    assert response.status_code == 204, response.text

    playbook(RESTORE, "--limit", "roles-app", extra_vars=dict(addresses, backup_restore_dump=dump.group(1)))
    runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": before + after}}}).json()
    # The run deleted after the dump is back; the one made after it is gone.
    assert [run["id"] for run in runs] == before
    assert psql(pg12, "prefect_app", "SELECT count(*) FROM flow_run WHERE id = '%s'" % before[0]) == ["1"]
    # The platform serves runs again.
    assert set(run["state"]["type"] for run in prefect_api.wait_for_runs(
        trigger(prefect_api, deployment_id, 1)).values()) == {"COMPLETED"}
