"""Adopting the seed article's hand-made Prefect 2 deployment (playbooks/adopt.yml).

prepare.yml built it as the article writes it and seeded it through a Prefect 2 client
(the ids are in /root/hand-made-seed.json on the host); converge adopted it, and a second
converge changed nothing. These checks look at what a user of the old deployment would:
everything there with its ids on the pinned Prefect 3, behind auth, in the UI, and new runs
of the old deployment completing on the collection's worker. Then input that cannot be
adopted is refused, changing nothing, and the last check rolls back to the hand-made
stack with its data.
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import (
    REPO,
    ansible_playbook,
    api_responses,
    generated_secrets_dir,
    inventory_vars,
    keep_artifact,
    pinned_prefect_version,
    play_recap,
    psql,
)

testinfra_hosts = ["adopt-aio"]

STATE_FILE = "/etc/prefect-ops/adoption.json"
# Where the hand-made server answered before the adoption, and answers after a rollback.
HAND_MADE_URL = "http://127.0.0.1:14260"


def said(run):
    """Everything a run printed, on one line (the YAML callback folds long messages)."""
    return " ".join((run.stdout + run.stderr).split())


def run_playbook(playbook, extra_vars=None):
    """Run a playbook against the scenario's host, after the test bed's image play (the
    test bed's variables name the archive that play builds)."""
    return ansible_playbook(playbook, str(REPO / "tests" / "testbed" / "prefect-image.yml"),
                            inventories=(os.environ["MOLECULE_INVENTORY_FILE"],), extra_vars=extra_vars)


@pytest.fixture(scope="module")
def seeded(host):
    return json.loads(host.file("/root/hand-made-seed.json").content_string)


@pytest.fixture(scope="module")
def record(host):
    return json.loads(host.file(STATE_FILE).content_string)


def test_the_adopted_server_runs_the_pinned_prefect_3_behind_auth(host, prefect_api):
    version = prefect_api.get("/api/admin/version")
    assert version.status_code == 200, version.text
    assert version.json() == pinned_prefect_version(host)
    refused = prefect_api.post("/api/flow_runs/filter", {}, auth=False)
    assert refused.status_code == 401, refused.text
    image = host.check_output("docker inspect --format '{{.Config.Image}}' prefect-server-1")
    assert image == f"prefecthq/prefect:{pinned_prefect_version(host)}-python3.12"


def test_every_seeded_object_is_there_with_its_id(prefect_api, seeded):
    pool = prefect_api.get("/api/work_pools/legacy-pool").json()
    assert (pool["id"], pool["type"]) == (seeded["work_pool_id"], "process")
    deployment = prefect_api.get(f"/api/deployments/{seeded['deployment_id']}").json()
    assert (deployment["name"], deployment["flow_id"], deployment["work_pool_name"]) == (
        "nightly", seeded["flow_id"], "legacy-pool")
    assert [schedule["schedule"]["cron"] for schedule in deployment["schedules"]] == ["0 3 * * *"]
    assert prefect_api.get(f"/api/flows/{seeded['flow_id']}").json()["name"] == "legacy-etl"
    block = prefect_api.get(f"/api/block_documents/{seeded['block_document_id']}").json()
    assert (block["name"], block["data"]["value"]) == ("legacy-config", {"source": "hand-made", "rows": 42})
    run_ids = seeded["completed_run_ids"] + [seeded["failed_run_id"]]
    runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json()
    assert {run["id"]: run["state"]["type"] for run in runs} == seeded["run_states"]
    assert {run["id"]: run["name"] for run in runs} == seeded["run_names"]
    logs = prefect_api.post("/api/logs/filter", {"logs": {"flow_run_id": {"any_": run_ids}}, "limit": 200}).json()
    counted = {run_id: sum(log["flow_run_id"] == run_id for log in logs) for run_id in run_ids}
    assert counted == seeded["log_counts"]
    assert any("legacy failure" in log["message"] for log in logs)


def test_the_schema_was_migrated_once_and_the_adoption_recorded(host, record):
    assert record["from_version"] == inventory_vars(host)["adopt_hand_made_version"]
    assert record["project_dir"] == inventory_vars(host)["adopt_project_dir"]
    revision = psql(host, "prefect", "SELECT version_num FROM alembic_version")
    assert revision and revision != [record["from_revision"]]
    assert host.file(STATE_FILE).mode == 0o600


def test_the_hand_made_stack_is_gone_and_its_volume_kept(host):
    containers = host.check_output("docker ps -a --filter label=com.docker.compose.project=prefect-compose -q")
    assert containers == ""
    assert host.run("docker volume inspect prefect-compose_prefect").rc == 0


def test_the_backup_holds_the_dump_and_root_only_copies(host, record):
    assert record["dump"].startswith(record["backup_path"] + "/database/") and host.file(record["dump"]).size > 0
    for copy in ("project", "postgresql-config"):
        directory = host.file(f"{record['backup_path']}/{copy}")
        assert (directory.user, directory.mode) == ("root", 0o700)
    assert host.file(f"{record['backup_path']}/project/docker-compose.yml").exists
    assert host.file(f"{record['backup_path']}/project/.env").contains("DATABASE_URL=")


def test_the_database_password_is_kept_and_out_of_the_compose_file(host):
    password = inventory_vars(host)["adopt_hand_made_database_password"]
    assert (generated_secrets_dir() / "database_password").read_text().strip() == password
    assert password not in host.file("/opt/prefect/compose.yaml").content_string
    env_file = host.file("/opt/prefect/prefect.env")
    assert (env_file.user, env_file.mode) == ("root", 0o600)


def test_a_new_run_of_the_old_deployment_completes_on_the_collection_worker(prefect_api, seeded):
    created = prefect_api.post(f"/api/deployments/{seeded['deployment_id']}/create_flow_run",
                               {"parameters": {"number": 7}})
    assert created.status_code == 201, created.text
    run = prefect_api.wait_for_runs([created.json()["id"]])[created.json()["id"]]
    assert run["state"]["type"] == "COMPLETED", run["state"]


def test_the_ui_shows_the_old_runs_in_a_real_browser(browser, prefect_api, seeded):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    name = seeded["run_names"][seeded["failed_run_id"]]
    wait = WebDriverWait(browser, 60)
    try:
        browser.get(prefect_api.url + "/runs")
        login = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "input[type=password]")))
        # Before the login the UI's queries were refused (401): that is what sent it here.
        assert {status for status, _url in api_responses(browser)} == {401}
        login.send_keys(":".join(prefect_api.auth))
        browser.find_element(By.XPATH, "//button[normalize-space()='Login']").click()
        wait.until(seen.visibility_of_element_located((By.XPATH, f"//*[normalize-space()='{name}']")))
    finally:
        browser.save_screenshot(str(keep_artifact("adopt", "ui-old-runs.png")))
    # After it, the page's every API call was answered.
    responses = api_responses(browser)
    assert responses and all(status < 400 for status, _url in responses), responses


# Molecule's idempotence step ran adopt.yml again, site.yml's plays included: changed=0.
def test_a_second_adoption_says_the_host_is_managed_and_changes_nothing(host, record):
    run = run_playbook("playbooks/adopt.yml")
    assert run.returncode == 0, said(run)[-3000:]
    assert play_recap(run.stdout)["adopt-aio"]["changed"] == 0, said(run)[-3000:]
    assert (f"adopt-aio is managed already: the hand-made project {record['project_dir']} "
            f"(Prefect {record['from_version']}) was adopted at {record['started_at']}") in said(run)


# Projects that cannot be adopted, written beside the adopted one. The reader runs in the
# project's own image: the hand-made Prefect 2 image and the pinned one are on the host.
HAND_MADE_IMAGE = "prefecthq/prefect:{hand_made_tag}"
BAD_PROJECTS = {
    "not-prefect": {"web": {"image": "nginx:stable"}},
    "sqlite": {"prefect": {"image": HAND_MADE_IMAGE, "entrypoint": ["prefect", "server", "start"],
                           "environment": ["PREFECT_API_DATABASE_CONNECTION_URL=sqlite+aiosqlite:////root/.prefect/p.db"]}},
    # Nothing listens on the loopback of the project's container.
    "lost-database": {"prefect": {"image": HAND_MADE_IMAGE, "entrypoint": ["prefect", "server", "start"],
                                  "environment": ["PREFECT_API_DATABASE_CONNECTION_URL="
                                                  "postgresql+asyncpg://prefect:x@127.0.0.1/prefect"]}},
    "newer": {"prefect": {"image": "prefecthq/prefect:{pinned}-python3.12", "entrypoint": ["prefect", "server", "start"],
                          "environment": ["PREFECT_API_DATABASE_CONNECTION_URL="
                                          "postgresql+asyncpg://prefect:x@127.0.0.1/prefect"]}},
}


# case: (project written under /opt/bad-<case>, or None; extra vars; what the message says)
REFUSALS = {
    "missing directory": (None, {"adopt_project_dir": "/opt/nowhere"},
                          ["adopt_project_dir /opt/nowhere is not a directory", "hand-made docker-compose.yml"]),
    "no Prefect server": ("not-prefect", {}, ["has no service running `prefect server start`", "exactly one"]),
    "SQLite": ("sqlite", {}, ["keeps its data in SQLite (/root/.prefect/p.db)",
                              "Point the project at a new PostgreSQL"]),
    "unreachable database": ("lost-database", {}, ["does not answer from the project's container",
                                                   "Start PostgreSQL, or fix the URL"]),
    "target older than the running release": (
        "newer", {"prefect_version": "3.6.29"},
        ["runs Prefect {pinned}, newer than prefect_version 3.6.29", "Set prefect_version to {pinned} or later"]),
}
# The cases are independent runs that each fail in seconds: a few at once.
PARALLEL_RUNS = 3


@pytest.fixture(scope="module")
def refused_runs(host):
    """Each case's adopt.yml run, and the host's containers before and after them all."""
    pinned = pinned_prefect_version(host)
    runs_vars = {}
    for case, (project, extra_vars, _expected) in REFUSALS.items():
        if project is not None:
            directory = f"/opt/bad-{project}"
            compose = (json.dumps({"services": BAD_PROJECTS[project]}).replace("{pinned}", pinned)
                       .replace("{hand_made_tag}", inventory_vars(host)["adopt_hand_made_image_tag"]))
            host.run("mkdir -p %s && printf '%%s' %s > %s/compose.yaml", directory, compose, directory)
            extra_vars = {"adopt_project_dir": directory, **extra_vars}
        runs_vars[case] = extra_vars
    containers = "docker ps --format '{{.Names}}' | sort"
    before = host.check_output(containers)
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {case: pool.submit(run_playbook, "playbooks/adopt.yml", extra) for case, extra in runs_vars.items()}
        runs = {case: future.result() for case, future in futures.items()}
    return runs, before, host.check_output(containers)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_what_cannot_be_adopted_is_refused_before_any_change(host, refused_runs, case):
    runs, containers_before, containers_after = refused_runs
    run, pinned = runs[case], pinned_prefect_version(host)
    assert run.returncode != 0, said(run)[-3000:]
    for words in REFUSALS[case][2]:
        assert words.replace("{pinned}", pinned) in said(run), said(run)[-3000:]
    assert "Nothing was changed" in said(run)
    assert play_recap(run.stdout)["adopt-aio"]["changed"] == 0
    assert containers_after == containers_before


def test_the_rollback_brings_the_hand_made_stack_back_with_its_data(host, seeded, record):
    # Last: the adopted platform is stopped after this.
    run = run_playbook("playbooks/adopt_rollback.yml", {"adopt_project_dir": record["project_dir"]})
    assert run.returncode == 0, said(run)[-3000:]
    assert not host.file(STATE_FILE).exists
    # The hand-made server answers on its port again, with no auth, as before.
    deadline = time.monotonic() + 180
    while True:
        try:
            version = requests.get(HAND_MADE_URL + "/api/admin/version", timeout=10)
            if version.status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "the hand-made server did not come back"
        time.sleep(2)
    assert version.json() == record["from_version"]
    image = host.check_output("docker inspect --format '{{.Config.Image}}' prefect-compose-prefect-1")
    assert image == HAND_MADE_IMAGE.format(hand_made_tag=inventory_vars(host)["adopt_hand_made_image_tag"])
    run_ids = seeded["completed_run_ids"] + [seeded["failed_run_id"]]
    runs = requests.post(HAND_MADE_URL + "/api/flow_runs/filter", json={}, timeout=15).json()
    # The runs of the hand-made days with their states; besides them only the runs the
    # Prefect 2 scheduler keeps ahead for the cron schedule: none made on Prefect 3 since
    # the adoption (test_a_new_run_... completed one there).
    assert {run["id"]: run["state"]["type"] for run in runs if run["id"] in run_ids} == seeded["run_states"]
    others = [(run["auto_scheduled"], run["state"]["type"]) for run in runs if run["id"] not in run_ids]
    assert set(others) <= {(True, "SCHEDULED")}, others
    deployment = requests.get(HAND_MADE_URL + f"/api/deployments/{seeded['deployment_id']}", timeout=15)
    assert deployment.status_code == 200 and deployment.json()["work_pool_name"] == "legacy-pool"
    assert psql(host, "prefect", "SELECT version_num FROM alembic_version") == [record["from_revision"]]
    # Nothing of the collection's runs any more: server, front door, workers.
    assert "prefect-server-1" not in host.check_output("docker ps --format '{{.Names}}'")
    assert not host.service("caddy").is_running and not host.service("caddy").is_enabled
    assert host.run("systemctl list-units --state=running --no-legend 'prefect-worker*'").stdout.strip() == ""
    assert host.run("systemctl list-unit-files --state=enabled --no-legend 'prefect-worker*'").stdout.strip() == ""
