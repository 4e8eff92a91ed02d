"""Day-2 faults on one all-in-one host, with the secrets the roles generated.

The tests run in this order and build on each other: flow runs made before each fault
must still be there after it, and a new run must complete through the worker after
each. The last tests rotate both secrets with a verbose re-run and then look for any
secret (old or new) in its output and in every file a non-root user could read.
"""

import json
import os
import secrets
import shlex
import stat
import string
import subprocess
import time
import pytest
import requests

from conftest import REPO, generated_secrets_dir, platform_secret, play_recap, psql

testinfra_hosts = ["ops-aio"]

HOST = "ops-aio"
POOL = "ops"
PROJECT_DIR = "/opt/prefect"
# Flow runs that completed so far: every fault must leave all of them in place.
COMPLETED_RUNS = []
# Every value a secret had during the tests (before and after the rotation).
SEEN_SECRETS = set()


def remember_secrets(host):
    for name in ("database_password", "api_auth_password"):
        SEEN_SECRETS.add(platform_secret(host, name))


def wait_until_ready(prefect_api, timeout=300):
    """Poll /api/ready through the published port until it answers 200."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            response = prefect_api.get("/api/ready", auth=False)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(2)
    pytest.fail(f"the API did not come back within {timeout} s; last answer: {last}")


@pytest.fixture(scope="module")
def deployment_id(prefect_api):
    """A deployment of the flow code the worker role shipped, served by pool 'ops'."""
    return prefect_api.create_deployment("ops-hello", POOL, "ops_hello.py:ops_hello")


def a_new_run_completes_on_the_worker(prefect_api, deployment_id, number):
    response = prefect_api.post(f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": {"number": number}})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    run = prefect_api.wait_for_runs([run_id], timeout=240)[run_id]
    assert run["state"]["type"] == "COMPLETED", run["state"]
    COMPLETED_RUNS.append(run_id)


def every_earlier_run_is_still_there(host, prefect_api):
    assert COMPLETED_RUNS, "no flow run was made before this fault"
    runs = prefect_api.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": COMPLETED_RUNS}}}).json()
    assert sorted(run["id"] for run in runs) == sorted(COMPLETED_RUNS)
    assert {run["state"]["type"] for run in runs} == {"COMPLETED"}
    ids = ",".join(f"'{run_id}'" for run_id in COMPLETED_RUNS)
    stored = psql(host, "prefect", f"SELECT count(*) FROM flow_run WHERE id IN ({ids}) AND state_type = 'COMPLETED'")
    assert stored == [str(len(COMPLETED_RUNS))]


def api_health_on_the_host(host, **args):
    """Run the collection's api_health module on the host, as a play would; returns its
    result, with failed set when the module failed."""
    args = {
        "url": "http://127.0.0.1:4200/api",
        "auth_string": "admin:" + platform_secret(host, "api_auth_password"),
        "request_timeout": 10,
        **args,
    }
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    adhoc = subprocess.run(
        [
            "ansible",
            HOST,
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "-m",
            "prefect_ops.prefect.api_health",
            "-a",
            json.dumps(args),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(adhoc.stdout)["plays"][0]["tasks"][0]["hosts"][HOST]
    assert bool(result.get("failed")) == (adhoc.returncode != 0), (adhoc.returncode, result)
    return result


# -- the first converge ----------------------------------------------------------------


def apt_runs_that_installed(host):
    """The package names that each apt run recorded in apt's history installed, in order."""
    runs = []
    for entry in host.file("/var/log/apt/history.log").content_string.split("\n\n"):
        for line in entry.splitlines():
            if line.startswith("Install: "):
                # "name:arch (version[, automatic]), ..." -> name
                runs.append({item.split(":")[0].strip() for item in line[len("Install: "):].split("), ")})
    return runs


def test_the_first_converge_installed_dockers_packages_then_all_the_others_in_one_apt_run(host):
    # Docker first, so that the image loads during the one apt run of every other role's
    # packages: PostgreSQL's and the workers' virtualenv's on this all-in-one host.
    runs = apt_runs_that_installed(host)
    with_docker = [i for i, names in enumerate(runs) if "docker.io" in names]
    with_postgresql = [i for i, names in enumerate(runs) if any(n.startswith("postgresql-1") for n in names)]
    assert len(with_docker) == 1 and len(with_postgresql) == 1, runs
    assert with_docker[0] < with_postgresql[0], runs
    assert {"python3-psycopg2", "acl", "python3-venv", "python3-packaging"} <= runs[with_postgresql[0]], runs


def starts_and_stops(host, unit):
    """How often systemd started and stopped ``unit`` since the host booted, from its journal."""
    log = host.check_output(f"journalctl --unit {unit} --output cat --no-pager")
    return log.count(f"Started {unit}"), log.count(f"Stopping {unit}")


def test_the_first_converge_started_postgresql_and_docker_once_with_their_settings(host):
    # Their settings were in place before their packages started them: no restart for them.
    cluster = host.check_output(
        "systemctl list-units --plain --no-legend --all 'postgresql@*' | awk '{print $1}'").strip()
    assert starts_and_stops(host, cluster) == (1, 0)
    assert starts_and_stops(host, "docker.service") == (1, 0)
    # The sized settings are in effect (PostgreSQL's default is 128MB whatever the RAM),
    # and what the packages read them from is gone.
    assert psql(host, "postgres", "SHOW shared_buffers") != ["128MB"]
    assert not host.file("/etc/postgresql-common/createcluster.d/prefect-ops.conf").exists
    # The engine that runs was started with its service's environment (the test bed's
    # drop-in), which was written before the package started it.
    pid = host.check_output("systemctl show docker.service --property MainPID --value")
    assert "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1" in host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")


# -- secrets the roles generated ------------------------------------------------------


def test_generated_secrets_are_kept_owner_only_on_the_controller(host):
    directory = generated_secrets_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("database_password", "api_auth_password"):
        path = directory / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert len(path.read_text().strip()) == 32, path
    remember_secrets(host)


def test_the_platform_runs_on_the_generated_secrets(host, prefect_api, deployment_id):
    assert prefect_api.post("/api/flows/filter").status_code == 200
    env_file = host.file(f"{PROJECT_DIR}/prefect.env")
    assert env_file.contains(platform_secret(host, "database_password"))
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 1)


def test_a_run_whose_process_dies_with_its_worker_is_marked_crashed(host, prefect_api, deployment_id, record_property):
    # The worker and its flow run's process are killed together (SIGKILL to the unit's
    # whole cgroup): nobody is left to report the run. The zombie-run automation marks it
    # CRASHED once three heartbeats (3 x 30 s) went missing since its last event.
    sleeper = prefect_api.create_deployment("ops-sleep", POOL, "ops_sleep.py:ops_sleep")
    response = prefect_api.post(f"/api/deployments/{sleeper}/create_flow_run", {"parameters": {"seconds": 600}})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while prefect_api.get(f"/api/flow_runs/{run_id}").json()["state"]["type"] != "RUNNING":
        assert time.monotonic() < deadline, "the long run never started"
        time.sleep(1)
    time.sleep(5)  # its first heartbeat goes out as it starts
    unit = worker_unit(host)
    host.check_output("systemctl kill --signal=SIGKILL %s", unit)
    killed = time.monotonic()
    while True:
        state = prefect_api.get(f"/api/flow_runs/{run_id}").json()["state"]
        if state["type"] != "RUNNING" or time.monotonic() - killed > 180:
            break
        time.sleep(2)
    waited = time.monotonic() - killed
    record_property("measured", f"worker killed mid-run: its run {state['type']} after {waited:.0f} s")
    assert state["type"] == "CRASHED", state
    assert "No heartbeat for 90 seconds" in state["message"], state["message"]
    # The window counts from the run's last heartbeat (at most 30 s before the kill), plus
    # the few seconds the server takes to evaluate the trigger.
    assert waited <= 90 + 30, waited
    # systemd started the worker again: new runs complete.
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 2)


def test_docker_starts_after_postgresql_at_boot(host):
    after = host.check_output("systemctl show docker.service --property After")
    assert "postgresql.service" in after.split("=", 1)[1].split()


# -- faults ------------------------------------------------------------------------


def test_api_health_reports_the_database_not_ready_while_postgresql_is_stopped(host, prefect_api, deployment_id):
    assert api_health_on_the_host(host, timeout=30)["status"] == "ready"
    host.check_output("systemctl stop postgresql")
    try:
        result = api_health_on_the_host(host, timeout=20)
        assert result.get("failed"), result
        assert result["database_ready"] is False, result
        # database_not_ready is what it reports here; on a loaded machine the server,
        # busy logging its lost connections, may answer the last attempt too late, and
        # the module then fails with "timeout": failing is what matters, never passing.
        assert result["status"] in ("database_not_ready", "timeout"), result
        assert prefect_api.get("/api/ready", auth=False).status_code == 503
        reported = api_health_on_the_host(host, timeout=0, wait_for_ready=False)
        assert not reported.get("failed"), reported
        assert reported["status"] == "healthy" and reported["database_ready"] is False, reported
    finally:
        host.check_output("systemctl start postgresql")
    wait_until_ready(prefect_api)
    assert api_health_on_the_host(host, timeout=60)["status"] == "ready"
    every_earlier_run_is_still_there(host, prefect_api)
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 2)


def test_the_platform_comes_back_after_a_restart_of_the_docker_engine(host, prefect_api, deployment_id):
    host.check_output("systemctl restart docker")
    wait_until_ready(prefect_api)
    every_earlier_run_is_still_there(host, prefect_api)
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 3)


def test_the_platform_comes_back_after_a_reboot_of_the_host(host, prefect_api, deployment_id):
    subprocess.run(["docker", "restart", HOST], check=True, capture_output=True, timeout=120)
    deadline = time.monotonic() + 120
    while True:
        booted = subprocess.run(
            ["docker", "exec", HOST, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if booted.stdout.strip() in ("running", "degraded"):
            break
        assert time.monotonic() < deadline, booted.stdout + booted.stderr
        time.sleep(1)
    wait_until_ready(prefect_api)
    for unit in ("postgresql", "docker"):
        assert host.service(unit).is_running, unit
    every_earlier_run_is_still_there(host, prefect_api)
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 4)


def test_a_worker_reconnects_after_its_server_was_unreachable(host, prefect_api, deployment_id):
    compose = f"docker compose --project-directory {PROJECT_DIR}"
    host.check_output(f"{compose} stop server")
    try:
        time.sleep(30)
    finally:
        host.check_output(f"{compose} start server")
    wait_until_ready(prefect_api)
    units = host.check_output("systemctl list-units --plain --no-legend --state=active 'prefect-worker-*' | wc -l")
    assert int(units) == 1, "the worker unit is not active"
    every_earlier_run_is_still_there(host, prefect_api)
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 5)


# -- one phase at a time (--tags) -------------------------------------------------


def converge(*args):
    """Run the scenario's converge playbook with more arguments; returns (rc, output)."""
    run = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-e", f"@{REPO}/tests/testbed/vars.yml",
         *args, str(REPO / "molecule" / "operations" / "converge.yml")],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"),
        capture_output=True, text=True, timeout=900, check=False,
    )
    return run.returncode, run.stdout + run.stderr


def worker_unit(host):
    units = host.check_output("systemctl list-units --plain --no-legend --all 'prefect-worker-*' | awk '{print $1}'")
    assert len(units.split()) == 1, units
    return units.strip()


def query_seconds_of(host, unit):
    environment = host.check_output(f"systemctl show --property=Environment {unit}")
    return [item.split("=", 1)[1] for item in environment.split() if item.startswith("PREFECT_WORKER_QUERY_SECONDS=")]


def test_the_install_phase_alone_leaves_the_configuration_alone(host):
    unit = worker_unit(host)
    rc, output = converge("--tags", "install", "-e", "worker_query_seconds=3")
    assert rc == 0, output[-5000:]
    assert f"{HOST}" in output and "changed=0" in output.split("PLAY RECAP")[-1], output[-3000:]
    assert query_seconds_of(host, unit) == ["1"]


def test_the_configure_phase_alone_applies_a_changed_setting(host, prefect_api, deployment_id):
    unit = worker_unit(host)
    pid_before = host.check_output(f"systemctl show --property=MainPID --value {unit}")
    dpkg_log = host.check_output("md5sum /var/log/dpkg.log")
    # worker_query_seconds=3, and a pool whose workers together may ask once in 4 s only:
    # its one worker's interval grows to 4 s.
    rc, output = converge("--tags", "configure", "-e", "worker_query_seconds=3",
                          "-e", "worker_pool_polls_per_second=0.25")
    assert rc == 0, output[-5000:]
    assert query_seconds_of(host, unit) == ["4"]
    assert host.service(unit).is_running
    assert host.check_output(f"systemctl show --property=MainPID --value {unit}") != pid_before, "not restarted"
    assert host.check_output("md5sum /var/log/dpkg.log") == dpkg_log, "the configure phase ran apt"
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 7)


def test_the_run_phase_alone_starts_a_stopped_worker_without_configuring(host, prefect_api, deployment_id):
    unit = worker_unit(host)
    host.check_output(f"systemctl stop {unit}")
    # The default query interval (1) would change the unit: the run phase must not.
    rc, output = converge("--tags", "run")
    assert rc == 0, output[-5000:]
    assert host.service(unit).is_running
    assert query_seconds_of(host, unit) == ["4"]
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 8)

    # Back to the scenario's settings, for the tests that follow.
    rc, output = converge("--tags", "configure")
    assert rc == 0, output[-5000:]
    assert query_seconds_of(host, unit) == ["1"]


def test_a_rerun_starts_postgresql_the_server_and_the_worker_that_were_stopped_by_hand(host, prefect_api, deployment_id):
    # A re-run skips starting what ran as the run began (the host survey): what was stopped
    # by hand must be started all the same, and say so.
    cluster = host.check_output(
        "systemctl list-units --plain --no-legend --all 'postgresql@*' | awk '{print $1}'").strip()
    unit = worker_unit(host)
    host.check_output(f"systemctl stop {unit}")
    host.check_output("docker stop $(docker ps --quiet --filter label=com.docker.compose.service=server)")
    host.check_output(f"systemctl stop {cluster}")

    rc, output = converge()
    assert rc == 0, output[-5000:]
    assert play_recap(output)["ops-aio"]["changed"] >= 3, output[-5000:]
    assert host.service(cluster).is_running
    assert host.check_output(
        "docker ps --filter label=com.docker.compose.service=server --format '{{.State}}'") == "running"
    assert host.service(unit).is_running
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 9)


# -- rotation and leaks ------------------------------------------------------------


def new_secret():
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _position in range(32))


def test_a_verbose_rerun_rotates_both_secrets_and_prints_neither(host, prefect_api, deployment_id, tmp_path):
    old_auth = platform_secret(host, "api_auth_password")
    for name in ("database_password", "api_auth_password"):
        (generated_secrets_dir() / name).write_text(new_secret())
    remember_secrets(host)

    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    run = subprocess.run(
        [
            "ansible-playbook",
            "-vvv",
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            "-e",
            f"@{REPO}/tests/testbed/vars.yml",
            str(REPO / "molecule" / "operations" / "converge.yml"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = run.stdout + run.stderr
    (tmp_path / "verbose-run.log").write_text(output)
    assert run.returncode == 0, output[-5000:]
    leaked = [secret[:4] + "..." for secret in SEEN_SECRETS if secret in output]
    assert not leaked, f"the -vvv output holds secrets starting with {leaked}"

    # The rotation took: the old login is refused, the new one works end to end.
    assert requests.post(prefect_api.url + "/api/flows/filter", auth=("admin", old_auth), timeout=15).status_code == 401
    prefect_api.auth = (prefect_api.auth[0], platform_secret(host, "api_auth_password"))
    wait_until_ready(prefect_api)
    every_earlier_run_is_still_there(host, prefect_api)
    a_new_run_completes_on_the_worker(prefect_api, deployment_id, 6)


def grep_for_secrets(host, paths_command, as_user="root"):
    """Files under the paths (a command printing NUL-separated paths) that hold any seen
    secret, searched recursively as as_user."""
    patterns = " ".join(f"-e {shlex.quote(s)}" for s in SEEN_SECRETS)
    found = host.run(
        f"{paths_command} | runuser -u {as_user} -- xargs -0 -r grep -rlsF -D skip {patterns} --"
    )
    # grep: 0 found, 1 none found, 123 (xargs) when some grep found nothing.
    assert found.rc in (0, 1, 123), found.stderr
    return sorted(found.stdout.split())


def test_no_secret_in_a_compose_or_unit_file(host):
    assert len(SEEN_SECRETS) == 4
    holders = grep_for_secrets(
        host,
        "find / -xdev \\( -path /proc -o -path /sys \\) -prune -o -type f "
        "\\( -name 'compose*.y*ml' -o -name 'docker-compose*.y*ml' -o -name '*.service' -o -path '*/systemd/*.conf' \\) "
        "-print0",
    )
    assert holders == [], holders


def test_no_secret_in_a_file_a_non_root_user_can_read(host):
    # Read the whole file system (but /proc, /sys, /dev) as each unprivileged account
    # that runs something here, and as nobody (what any other user gets): the kernel
    # decides what they can read, directories' permissions included. The Docker data
    # directory (a volume) and /run are part of it.
    top_dirs = "find / -mindepth 1 -maxdepth 1 ! -name proc ! -name sys ! -name dev -print0"
    for user in ("nobody", "postgres", "prefect-worker"):
        holders = grep_for_secrets(host, top_dirs, as_user=user)
        assert holders == [], (user, holders)


def test_the_secrets_live_in_root_only_files(host):
    holders = grep_for_secrets(host, "find /opt /etc -type f -print0")
    assert f"{PROJECT_DIR}/prefect.env" in holders, holders
    for path in holders:
        holder = host.file(path)
        assert holder.user == "root" and holder.mode & 0o077 == 0, (path, oct(holder.mode))


def test_only_root_can_read_the_containers_environment(host):
    # The server gets its secrets as environment variables (from the env file), so
    # `docker inspect` shows them: to whoever may use the Docker socket, that is root and
    # the docker group, which must stay empty (its members are root in all but name).
    inspect = host.check_output("docker inspect --format '{{json .Config.Env}}' prefect-server-1")
    assert platform_secret(host, "database_password") in inspect
    socket = host.file("/run/docker.sock")
    assert (socket.user, socket.group, socket.mode) == ("root", "docker", 0o660)
    members = host.check_output("getent group docker").split(":")[3]
    assert members == "", f"the docker group has members: {members}"
