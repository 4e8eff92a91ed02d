"""Helpers shared by the testinfra suites of every Molecule scenario.

Tests ask what a user would: does the API answer at the published port, is the data in
PostgreSQL, does a flow run complete. Values come from the scenario's inventory, so a
suite never repeats what molecule.yml says.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import testinfra

import yaml

FLOWS = Path(__file__).parent / "flows"
# Where the worker role puts worker_flows_src on the worker hosts.
SHIPPED_FLOWS_DIR = "/opt/prefect-worker/flows"
REPO = Path(__file__).resolve().parents[2]
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def inventory_host(name):
    """Another host of the scenario's inventory, for checks that span hosts."""
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def inventory_vars(host):
    """The host's inventory variables as Molecule wrote them (not templated)."""
    return host.ansible.get_variables()


def generated_secrets_dir():
    """Where the roles keep the secrets they generate: prefect_secrets_dir's default,
    next to the inventory Molecule wrote."""
    return Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / ".prefect-secrets"


def platform_secret(host, name):
    """A secret of the platform (database_password or api_auth_password): the value the
    scenario gives (prefect_<name>), or else the one the roles generated."""
    given = inventory_vars(host).get("prefect_" + name)
    if given is not None:
        return given
    return (generated_secrets_dir() / name).read_text().strip()


def pinned_prefect_version(host):
    """The Prefect version the scenario deploys: its own override or the collection's pin."""
    override = inventory_vars(host).get("prefect_version")
    if override:
        return override
    defaults = yaml.safe_load((REPO / "roles" / "prefect" / "defaults" / "main.yml").read_text())
    return defaults["prefect_version"]


class PrefectApi:
    """A small client for the deployed API, as seen from the controller."""

    def __init__(self, external_url, auth_user, auth_password, ca_file=None):
        self.url = external_url.rstrip("/")
        self.auth = (auth_user, auth_password)
        # The CA to verify an https:// URL with (the private CA the roles made), else the system's.
        self.ca_file = ca_file

    def get(self, path, auth=True, **kwargs):
        kwargs.setdefault("verify", self.ca_file or True)
        return requests.get(self.url + path, auth=self.auth if auth else None, timeout=15, **kwargs)

    def post(self, path, payload=None, auth=True, **kwargs):
        kwargs.setdefault("verify", self.ca_file or True)
        return requests.post(
            self.url + path, json=payload or {}, auth=self.auth if auth else None, timeout=15, **kwargs
        )

    def create_deployment(self, name, pool, entrypoint, flow_name=None, tags=()):
        """A deployment (and its flow, named like it unless flow_name says otherwise) of code
        the worker role shipped to the worker hosts; returns its id. The entrypoint only
        resolves in that directory."""
        flow = self.post("/api/flows/", {"name": flow_name or name})
        assert flow.status_code in (200, 201), flow.text
        deployment = self.post(
            "/api/deployments/",
            {
                "name": name,
                "flow_id": flow.json()["id"],
                "work_pool_name": pool,
                "entrypoint": entrypoint,
                "tags": list(tags),
                "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": SHIPPED_FLOWS_DIR}}],
            },
        )
        assert deployment.status_code in (200, 201), deployment.text
        return deployment.json()["id"]

    def wait_for_runs(self, run_ids, timeout=300):
        """Poll until every flow run is in a final state; returns them by id."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.post("/api/flow_runs/filter", {"flow_runs": {"id": {"any_": run_ids}}}).json()
            if len(runs) == len(run_ids) and all(run["state"]["type"] in FINAL_STATES for run in runs):
                return {run["id"]: run for run in runs}
            # The runs still open (name, state, worker host or work queue), not the finished
            # ones that would crowd them out of pytest's shortened message.
            assert time.monotonic() < deadline, (
                f"{len(run_ids) - len(runs)} of {len(run_ids)} runs not found; still open: "
                + repr([(r["name"], r["state"]["type"], r["state"].get("name"), r.get("work_queue_name"))
                        for r in runs if r["state"]["type"] not in FINAL_STATES]))
            time.sleep(1)

    def client_env(self, home):
        """Environment for a Prefect client process talking to this API."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=self.url + "/api",
            PREFECT_API_AUTH_STRING=":".join(self.auth),
            PREFECT_HOME=str(home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        if self.ca_file:
            env["PREFECT_API_SSL_CERT_FILE"] = str(self.ca_file)
        return env

    def run_flow(self, script, home, *args):
        """Run a flow script from tests/testinfra/flows with the pinned client.

        The script prints one JSON line describing the finished run.
        """
        proc = subprocess.run(
            [sys.executable, str(FLOWS / script), *args],
            env=self.client_env(home),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def prefect_api(host):
    variables = inventory_vars(host)
    https = variables["prefect_external_url"].startswith("https://")
    return PrefectApi(
        variables["prefect_external_url"],
        variables.get("prefect_api_auth_user", "admin"),
        platform_secret(host, "api_auth_password"),
        ca_file=private_ca_certificate() if https else None,
    )


def private_ca_certificate():
    """The private CA's certificate that the front_door role made on the controller
    (prefect_tls_ca_dir's default, beside the generated secrets)."""
    return generated_secrets_dir() / "ca" / "ca.crt"


def psql(host, database, sql):
    """Run SQL as the postgres superuser on a database host; returns stripped rows."""
    cmd = host.run("runuser -u postgres -- psql -X -d %s -tA -c %s", database, sql)
    assert cmd.rc == 0, cmd.stderr
    return [line for line in cmd.stdout.splitlines() if line]


def ansible_playbook(playbook, *args, extra_vars=None, inventories=(), timeout=1200):
    """Run a playbook of this repository the way a user would; returns the finished process.

    Every run gets the test bed's extra vars (tests/testbed/vars.yml), like Molecule's.
    """
    command = ["ansible-playbook"]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    command += ["-e", "@" + str(REPO / "tests" / "testbed" / "vars.yml")]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    command += [*args, str(REPO / playbook)]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def play_recap(stdout):
    """The PLAY RECAP of a run: {host: {"ok": n, "changed": n, "failed": n, ...}}."""
    recap = {}
    for host, counters in re.findall(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.MULTILINE):
        recap[host] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
    return recap


# Scratch hosts that some checks need besides the scenario's (a fresh host, a host of an
# unsupported OS): made from the test bed like any test host, removed after the session.
SCRATCH_HOSTS = ["chk-fresh", "chk-oldos"]


@pytest.fixture(scope="session")
def scratch_hosts():
    testbed_hosts = {"testbed_hosts": [{"name": name} for name in SCRATCH_HOSTS]}
    created = ansible_playbook("tests/testbed/create-hosts.yml", extra_vars=testbed_hosts)
    try:
        assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
        yield SCRATCH_HOSTS
    finally:
        destroyed = ansible_playbook("tests/testbed/destroy-hosts.yml", extra_vars=testbed_hosts)
        assert destroyed.returncode == 0, destroyed.stdout[-3000:] + destroyed.stderr[-3000:]


def scratch_inventory(path, groups, hosts, variables):
    """Write an inventory of scratch hosts (reached through Docker) in the given groups."""
    inventory = {
        "all": {
            "hosts": {name: {"ansible_connection": "community.docker.docker", "ansible_user": "root"} for name in hosts},
            "vars": variables,
            "children": {group: {"hosts": {name: {} for name in hosts}} for group in groups},
        }
    }
    path.write_text(yaml.safe_dump(inventory))
    return path


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium (Debian's chromium and chromium-driver) that trusts the private
    CA the way a user's Linux desktop would: through its NSS certificate database, not by
    ignoring certificate errors."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path / "browser-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    ca_file = private_ca_certificate()
    if ca_file.exists():
        subprocess.run(
            ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "prefect_ops private CA", "-i", str(ca_file)],
            check=True,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # The tests run as root, where Chromium's sandbox cannot start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     f"--user-data-dir={home / 'profile'}", "--window-size=1400,1000"):
        options.add_argument(argument)
    # The network log, for tests that check what the page's requests got back.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    previous_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    finally:
        if previous_home is not None:
            os.environ["HOME"] = previous_home
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def api_responses(browser):
    """(status, URL) of each API response the page received since the last call."""
    responses = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived" and "/api/" in message["params"]["response"]["url"]:
            responses.append((message["params"]["response"]["status"], message["params"]["response"]["url"]))
    return responses


def keep_artifact(scenario, name):
    """A path under build/artifacts/<scenario>/ for a file that outlives the test run
    (a screenshot, a log), kept beside the JUnit reports."""
    directory = REPO / "build" / "artifacts" / scenario
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


class Polling:
    """Clients that poll a URL in the background (``with Polling(url, ca) as polling:``) and
    count what they got: ``polling.ok`` answers 200 (201 to a POST), ``polling.failed``
    anything else. With a ``payload``, each request POSTs it (with ``auth``): a load of
    object creations. Each thread keeps its connection alive and opens a new one (a new
    TLS handshake) every tenth request, so that both kinds of client are seen.
    ``polling.outage()`` is how long the failures lasted, first to last, in seconds."""

    def __init__(self, url, verify, threads=4, payload=None, auth=None):
        self.url, self.verify, self.threads = url, verify, threads
        self.payload, self.auth = payload, auth
        self.ok, self.failed = 0, []
        self.failed_at = []
        self._stop = threading.Event()
        self._workers = []

    def _poll(self):
        session = requests.Session()
        count = 0
        while not self._stop.is_set():
            count += 1
            if count % 10 == 0:
                session.close()
                session = requests.Session()
            try:
                if self.payload is None:
                    response = session.get(self.url, verify=self.verify, auth=self.auth, timeout=15)
                else:
                    response = session.post(self.url, json=self.payload, verify=self.verify, auth=self.auth, timeout=15)
                if response.status_code in (200, 201):
                    self.ok += 1
                else:
                    self._fail(response.status_code)
            except requests.RequestException as error:
                self._fail(repr(error))
            time.sleep(0.05)
        session.close()

    def _fail(self, what):
        self.failed.append(what)
        self.failed_at.append(time.monotonic())

    def outage(self):
        return max(self.failed_at) - min(self.failed_at) if self.failed_at else 0.0

    def __enter__(self):
        self._workers = [threading.Thread(target=self._poll) for _thread in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for worker in self._workers:
            worker.join()
