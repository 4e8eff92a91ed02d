"""`--check --diff` says what a run would do and changes nothing: nothing at all on the
converged platform, and on a fresh host (in every group) it runs to the end and shows
its changes."""

import os
import subprocess

import pytest
import testinfra

from conftest import REPO, inventory_vars, play_recap, scratch_inventory

testinfra_hosts = ["prefect_server"]

CONVERGE = "molecule/default/converge.yml"
GROUPS = ["prefect_database", "prefect_server", "prefect_worker"]


class CheckRun:
    """`ansible-playbook --check --diff` of the scenario's converge playbook, in the
    background; its output goes to a file (a full pipe would stall it)."""

    def __init__(self, output, *inventories):
        command = ["ansible-playbook", "--check", "--diff"]
        for inventory in inventories:
            command += ["-i", str(inventory)]
        command += ["-e", "@" + str(REPO / "tests" / "testbed" / "vars.yml"), str(REPO / CONVERGE)]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
        self.output = output
        with open(output, "w", encoding="utf-8") as sink:
            self.process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, text=True, env=env)

    def finish(self, timeout=1800):
        """Wait for the end; returns the exit code and the output."""
        returncode = self.process.wait(timeout=timeout)
        with open(self.output, encoding="utf-8") as source:
            return returncode, source.read()


@pytest.fixture(scope="module")
def fresh_check_run(host, scratch_hosts, tmp_path_factory):
    """The check run against a fresh host, started at once: it runs alongside the other
    check of this module, as the two hosts have nothing in common."""
    assert "chk-fresh" in scratch_hosts
    variables = inventory_vars(host)
    workdir = tmp_path_factory.mktemp("fresh")
    inventory = scratch_inventory(
        workdir / "fresh.yml",
        GROUPS,
        ["chk-fresh"],
        {
            # Where the server would be published; nothing listens there in check mode.
            "prefect_external_url": "http://127.0.0.1:14260",
            "prefect_database_password": variables["prefect_database_password"],
            "prefect_api_auth_password": variables["prefect_api_auth_password"],
        },
    )
    return CheckRun(workdir / "output.txt", inventory)


def test_check_mode_changes_nothing_on_the_converged_platform(fresh_check_run, tmp_path):
    returncode, output = CheckRun(tmp_path / "output.txt", os.environ["MOLECULE_INVENTORY_FILE"]).finish()
    assert returncode == 0, output[-6000:]
    recap = play_recap(output)
    assert "prefect-aio" in recap, output[-3000:]
    assert all(counters["changed"] == 0 and counters["failed"] == 0 for counters in recap.values()), recap
    # Each role's checks ran once for the host (database and server, no worker here): in
    # site.yml's first play, not again in the role.
    for role in ("docker", "postgresql", "server"):
        marker = f"TASK [prefect_ops.prefect.{role} : Remember that this host passed the checks of the {role} role]"
        assert output.count(marker) == 1, (role, output.count(marker))


def test_check_mode_on_a_fresh_host_shows_what_it_would_do(fresh_check_run):
    returncode, output = fresh_check_run.finish()
    assert returncode == 0, output[-6000:]
    recap = play_recap(output)["chk-fresh"]
    assert recap["failed"] == 0 and recap["unreachable"] == 0, recap
    assert recap["changed"] > 0, recap
    # What would change is shown, down to the files' content.
    assert "+++ after" in output and "services:" in output, output[-3000:]
    # And the host is as fresh as before: nothing of the platform was installed.
    fresh = testinfra.get_host("docker://chk-fresh")
    for path in ("/opt/prefect", "/etc/postgresql", "/opt/prefect-worker", "/etc/docker/daemon.json"):
        assert not fresh.file(path).exists, path
    assert not fresh.package("docker.io").is_installed
