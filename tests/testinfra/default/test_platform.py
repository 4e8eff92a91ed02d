"""The all-in-one platform, as a user of it would check it."""

import json
import re
import uuid
from urllib.parse import quote

import prefect

from conftest import inventory_vars, pinned_prefect_version, psql

testinfra_hosts = ["prefect_server"]

PROJECT_DIR = "/opt/prefect"


def test_docker_and_postgresql_run_and_start_at_boot(host):
    for name in ("docker", "postgresql"):
        service = host.service(name)
        assert service.is_running, name
        assert service.is_enabled, name


def test_database_role_and_extensions_exist(host):
    variables = inventory_vars(host)
    name = variables.get("prefect_database_name", "prefect")
    user = variables.get("prefect_database_user", "prefect")
    owner = psql(
        host,
        "postgres",
        f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'",
    )
    assert owner == [user]
    extensions = set(psql(host, name, "SELECT extname FROM pg_extension"))
    assert {"pg_trgm", "uuid-ossp"} <= extensions


def test_compose_project_is_running_and_healthy(host):
    status = host.check_output(
        "docker ps --filter label=com.docker.compose.project.working_dir=%s --format '{{.Status}}'",
        PROJECT_DIR,
    )
    assert status, "no container of the compose project runs"
    assert all("(healthy)" in line for line in status.splitlines()), status


def server_container(host):
    return host.check_output(
        "docker ps --quiet --filter label=com.docker.compose.project.working_dir=%s "
        "--filter label=com.docker.compose.service=server",
        PROJECT_DIR,
    )


def test_the_server_container_is_hardened(host):
    container = server_container(host)
    config = json.loads(host.check_output("docker inspect %s", container))[0]
    assert config["Config"]["User"] == "1001:1001"
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["HostConfig"]["SecurityOpt"]
    assert config["HostConfig"]["PidsLimit"] == 512
    # What the processes inside get: not root, no capability, and no write outside tmpfs.
    assert host.check_output("docker exec %s id -u", container) == "1001"
    status = host.check_output("docker exec %s cat /proc/1/status", container)
    capabilities = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Cap")}
    assert set(capabilities.values()) == {"0000000000000000"}, capabilities
    assert host.run("docker exec %s touch /opt/written", container).rc != 0
    assert host.run("docker exec %s touch /var/lib/prefect/written /tmp/written", container).rc == 0


def test_the_ui_is_served_from_its_copy_in_the_read_only_container(prefect_api):
    page = prefect_api.get("/", auth=False)
    assert page.status_code == 200
    assert "<!DOCTYPE html>" in page.text
    scripts = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
    assert scripts, page.text[:2000]
    for script in scripts:
        asset = prefect_api.get(script, auth=False)
        assert asset.status_code == 200, script
        assert "javascript" in asset.headers["content-type"], script


def test_api_is_ready_through_the_published_port(prefect_api):
    response = prefect_api.get("/api/ready", auth=False)
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "OK"}


def test_ui_is_told_the_external_api_url(prefect_api):
    response = prefect_api.get("/ui-settings", auth=False)
    assert response.status_code == 200, response.text
    assert response.json()["api_url"] == prefect_api.url + "/api"


def test_api_refuses_anonymous_calls_and_accepts_the_login(prefect_api):
    anonymous = prefect_api.post("/api/flows/filter", auth=False)
    assert anonymous.status_code == 401
    wrong = prefect_api.post("/api/flows/filter", auth=False, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert wrong.status_code == 401
    assert prefect_api.post("/api/flows/filter").status_code == 200


def test_prometheus_metrics_are_served_behind_the_api_auth(prefect_api):
    assert prefect_api.get("/api/metrics", auth=False).status_code == 401
    metrics = prefect_api.get("/api/metrics")
    assert metrics.status_code == 200, metrics.text[:500]
    assert metrics.headers["content-type"].startswith("text/plain")
    # The Prometheus text format, with the samples every Python process exports.
    samples = [line for line in metrics.text.splitlines() if line and not line.startswith("#")]
    assert any(line.startswith("python_info{") for line in samples), metrics.text[:2000]
    assert any(line.startswith("process_resident_memory_bytes ") for line in samples), metrics.text[:2000]


def test_server_reports_the_pinned_version(host, prefect_api):
    response = prefect_api.get("/api/admin/version")
    assert response.status_code == 200
    assert response.json() == pinned_prefect_version(host)


def test_the_server_reaches_postgresql_through_its_socket_which_listens_on_loopback_only(host):
    variables = inventory_vars(host)
    name = variables.get("prefect_database_name", "prefect")
    user = variables.get("prefect_database_user", "prefect")
    # The server's connections come through the Unix socket (client_port -1), none over TCP.
    ports = psql(host, name, f"SELECT client_port FROM pg_stat_activity WHERE usename = '{user}'")
    assert ports and set(ports) == {"-1"}, ports
    assert "/var/run/postgresql" in host.check_output(
        "docker inspect --format '{{json .Mounts}}' %s", server_container(host))
    port = variables.get("prefect_database_port", 5432)
    listening = {line.split()[3] for line in host.check_output("ss -Htln").splitlines()
                 if line.split()[3].endswith(f":{port}")}
    # (::1 too, where the host has IPv6.)
    assert listening - {f"[::1]:{port}"} == {f"127.0.0.1:{port}"}, listening


def test_the_controller_client_is_the_pinned_version(host):
    # A client newer than its server gets HTTP 422: the verify step's client must match.
    assert prefect.__version__ == pinned_prefect_version(host)


def test_secrets_live_only_in_root_only_files(host):
    variables = inventory_vars(host)
    holders = set()
    secrets = (variables["prefect_database_password"], variables["prefect_api_auth_password"])
    # As given, and percent-encoded as in the connection URL of the Unix socket.
    for secret in set(secrets) | {quote(secret, safe="") for secret in secrets}:
        found = host.run("grep -rlF -- %s %s", secret, PROJECT_DIR)
        assert found.rc in (0, 1), found.stderr
        holders.update(found.stdout.split())
    assert holders, "the secrets must reach the server through a file in the project"
    for path in holders:
        secret_file = host.file(path)
        assert "compose" not in path, f"{path} is a compose file and holds a secret"
        assert secret_file.user == "root"
        assert secret_file.mode == 0o600, f"{path} has mode {oct(secret_file.mode)}"


def test_a_flow_run_completes_and_is_stored_in_postgresql(host, prefect_api, tmp_path):
    run = prefect_api.run_flow("hello.py", tmp_path, "21")
    assert run["type"] == "COMPLETED"
    assert run["result"] == 42
    uuid.UUID(run["id"])
    stored = psql(
        host,
        inventory_vars(host).get("prefect_database_name", "prefect"),
        f"SELECT state_type FROM flow_run WHERE id = '{run['id']}'",
    )
    assert stored == ["COMPLETED"]
