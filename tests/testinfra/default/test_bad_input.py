"""Bad input fails before anything changes, says what to fix, and loses nothing.

Each case re-runs the scenario's converge playbook against the deployed host with one
invalid value, the way a user would get it wrong.
"""

import json
import os
import re
import subprocess

import pytest

from conftest import REPO

testinfra_hosts = ["prefect_server"]

CASES = {
    "port out of range": ({"prefect_api_port": 70000}, "prefect_api_port"),
    "version that is not a version": ({"prefect_version": "latest"}, "prefect_version must look like"),
    "missing database password": ({"prefect_database_password": ""}, "prefect_database_password"),
    "auth string without user:": ({"server_auth_string": "no-user-part"}, "no 'user:' prefix"),
    "external URL on 0.0.0.0": ({"prefect_external_url": "http://0.0.0.0:4200"}, "browsers can reach, never 0.0.0.0"),
}


def converge_with(extra_vars):
    command = [
        "ansible-playbook",
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        "-e",
        "@" + str(REPO / "tests" / "testbed" / "vars.yml"),
        "-e",
        json.dumps(extra_vars),
        str(REPO / "molecule" / "default" / "converge.yml"),
    ]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_fails_first_and_keeps_the_platform(case, host, prefect_api):
    extra_vars, message = CASES[case]
    run = converge_with(extra_vars)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert message in output, output[-3000:]
    recap = re.search(rf"^{host.backend.host}\s*:.*$", run.stdout, re.MULTILINE)
    assert recap and "changed=0" in recap.group(0), output[-3000:]
    assert prefect_api.get("/api/ready", auth=False).status_code == 200
    assert prefect_api.post("/api/flows/filter").status_code == 200
