"""Bad input fails before anything changes, says what is wrong and how to fix it, and
loses nothing.

Each case re-runs the scenario's converge playbook against the deployed platform with
one invalid value, the way a user would get it wrong. The deployed host also joins the
prefect_worker group for these runs, so that the worker role's inputs are checked too
(its checks fail before it installs anything). Every case must fail in site.yml's first
play, which runs every role's checks before any play changes a host.
"""

import datetime
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ansible_playbook, play_recap, scratch_inventory

testinfra_hosts = ["prefect_server"]

CONVERGE = "molecule/default/converge.yml"
# The cases are independent runs that must each fail within seconds: run a few at once.
PARALLEL_RUNS = 4


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_certificate(key, name, not_after_days):
    """A self-signed certificate of ``key`` for ``name``, valid until ``not_after_days`` from now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now + datetime.timedelta(days=not_after_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


# Certificates given as files (prefect_tls_source: files) for an https:// URL.
HTTPS_NAME = "prefect.example.com"
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
GIVEN_TLS = {"prefect_external_url": f"https://{HTTPS_NAME}", "prefect_tls_source": "files"}


# name: (extra vars, fragments of the output that name the problem and the fix)
CASES = {
    # Types
    "auth switch that is not a boolean": (
        {"server_auth_enabled": "maybe"},
        ["server_auth_enabled", "is not a valid boolean", "Valid booleans include"],
    ),
    "worker list that is a string": (
        {"worker_processes": "etl"},
        ["worker_processes", "dict"],
    ),
    "https without the certificate to serve": (
        GIVEN_TLS,
        ["prefect_tls_source (front_door_certificate_source) is files: set front_door_certificate",
         "and front_door_private_key", "or use prefect_tls_source: private_ca"],
    ),
    "certificate with another key": (
        dict(GIVEN_TLS, front_door_certificate=pem_certificate(KEY, HTTPS_NAME, 90),
             front_door_private_key=pem_key(OTHER_KEY)),
        ["front_door_private_key is not the key of front_door_certificate", "Nothing was changed"],
    ),
    "expired certificate": (
        dict(GIVEN_TLS, front_door_certificate=pem_certificate(KEY, HTTPS_NAME, -1),
             front_door_private_key=pem_key(KEY)),
        ["front_door_certificate expired on"],
    ),
    "certificate for another name": (
        dict(GIVEN_TLS, front_door_certificate=pem_certificate(KEY, "other.example.com", 90),
             front_door_private_key=pem_key(KEY)),
        ["front_door_certificate does not cover prefect.example.com (it covers DNS:other.example.com)"],
    ),
    "heartbeat below Prefect's minimum": (
        {"prefect_flow_heartbeat_seconds": 10},
        ["prefect_flow_heartbeat_seconds must be 30 or more, the least Prefect accepts (got 10)"],
    ),
    "negative drain timeout": (
        {"worker_drain_timeout": -5},
        ["worker_drain_timeout must be 0 or more seconds (got -5)"],
    ),
    "stuck-Pending window too short": (
        {"work_pools_pending_timeout": 5},
        ["work_pools_pending_timeout must be 30 seconds or more (got 5)"],
    ),
    "database TLS without the certificate to serve": (
        {"postgresql_tls_enabled": True, "prefect_tls_source": "files"},
        ["prefect_tls_source (postgresql_tls_certificate_source) is files: set postgresql_tls_certificate",
         "and postgresql_tls_private_key", "or use prefect_tls_source: private_ca"],
    ),
    "server container as root": (
        {"server_container_user": "0:0"},
        ["server_container_user must be a numeric uid:gid other than root", "got '0:0'"],
    ),
    # Ranges
    "port out of range": (
        {"prefect_api_port": 70000},
        ["prefect_api_port", "must be 1-65535"],
    ),
    "no workers in an entry": (
        {"worker_processes": [{"pool": "etl", "count": 0}]},
        ["count", "must be a whole number of workers, 1 or more (got 0)", "remove the entry to run no workers"],
    ),
    "worker poll settings below their minimums": (
        {"worker_query_seconds": 0, "worker_start_timeout": 0},
        ["worker_query_seconds must be at least 1 (got 0).", "worker_start_timeout must be at least 1 (got 0)."],
    ),
    "start timeout of zero": (
        {"server_start_timeout": 0},
        ["server_start_timeout", "more than 0 (got '0')"],
    ),
    # Formats
    "version that is not a version": (
        {"prefect_version": "latest"},
        ["prefect_version must look like 3.9.1", "(got 'latest')"],
    ),
    "auth string without user:": (
        {"server_auth_string": "no-user-part"},
        ["no 'user:' prefix", "set server_auth_user and server_auth_password"],
    ),
    "external URL on 0.0.0.0": (
        {"prefect_external_url": "http://0.0.0.0:4200"},
        ["browsers can reach, never 0.0.0.0", "prefect_external_url"],
    ),
    "memory limit that is not a size": (
        {"server_memory_limit": "lots"},
        ["server_memory_limit a Docker size such as 2g or empty", "(got 'lots')"],
    ),
    "pool name the API rejects": (
        {"worker_processes": [{"pool": "etl/nightly"}]},
        ["the pool name 'etl/nightly' is one the Prefect API rejects", "contains '/'", "it rejects / % & > <"],
    ),
    "unknown worker runtime": (
        {"worker_runtime": "podman"},
        ["worker_runtime", "must be one of: systemd, compose", "podman"],
    ),
    # Missing required values
    "empty database password": (
        {"prefect_database_password": ""},
        ["No database password", "set prefect_database_password"],
    ),
    "empty API password while the API is published": (
        {"prefect_api_auth_password": ""},
        ["basic auth is on", "has no password: set prefect_api_auth_password"],
    ),
    "external database without its address": (
        {"postgresql_mode": "external", "postgresql_admin_password": "test-only"},
        ["postgresql_mode 'external' needs postgresql_admin_host and postgresql_admin_password"],
    ),
    # Contradictory combinations
    "server settings that the role manages": (
        {"postgresql_settings": {"port": 5433}},
        ["postgresql_settings", "leaves listen_addresses, password_encryption and port", "postgresql_port"],
    ),
    "a worker setting that moved to the work_pools role": (
        {"worker_pools": [{"name": "etl"}]},
        ["Settings of the worker role moved to the work_pools role", "rename worker_pools to work_pools_definitions"],
    ),
    "a pool listed twice, of an unknown type": (
        {"work_pools_definitions": [{"name": "etl", "type": "nomad"}, {"name": "etl", "type": "nomad"}]},
        ["work_pools_definitions", "pool 'etl': unknown pool type 'nomad'", "pool 'etl': the pool is listed twice"],
    ),
    "a polled pool defined as another type": (
        {"worker_processes": [{"pool": "etl"}], "work_pools_definitions": [{"name": "etl", "type": "docker"}]},
        ["pool 'etl' is listed with type docker and state present", "give it type process and state present"],
    ),
    "workers newer than the server": (
        {"worker_version": "3.99.0"},
        ["worker_version 3.99.0 is newer than the server's Prefect (3.9.1", "set one prefect_version for both"],
    ),
    # Addresses
    "bind address that is not an address": (
        {"server_bind_address": "0.0.0.0.0"},
        ["server_bind_address must be an IP address of the host", "(got '0.0.0.0.0')"],
    ),
    "database client that is not an address": (
        {"postgresql_hba_clients": ["10.0.0.7", "db.example.com"]},
        ["postgresql_hba_clients must hold IP addresses or CIDR ranges; these are not: db.example.com."],
    ),
    "network that is not a CIDR range": (
        {"prefect_docker_network_subnet": "172.30.42.0/33"},
        ["prefect_docker_network_subnet must be a CIDR range", "(got '172.30.42.0/33')"],
    ),
    # An unreachable external database (loopback: nothing listens on port 1)
    "external database that does not answer": (
        {
            "postgresql_mode": "external",
            "postgresql_admin_host": "127.0.0.1",
            "postgresql_admin_port": 1,
            "postgresql_admin_password": "test-only",
        },
        ["Nothing answers at 127.0.0.1:1", "Set them to the address and port of your PostgreSQL server"],
    ),
}


# A message names the values that are wrong, and only those: text that must not appear.
NOT_NAMED = {
    "a pool listed twice, of an unknown type": ["the Prefect API rejects"],
    "external URL on 0.0.0.0": ["prefect_version must look like", "prefect_api_port"],
    "start timeout of zero": ["server_memory_limit", "server_cpus"],
    "worker poll settings below their minimums": ["worker_prefetch_seconds", "worker_healthcheck_port",
                                                  "worker_pool_polls_per_second"],
    "bind address that is not an address": ["server_port"],
    "server container as root": ["server_tmpfs_size", "server_pids_limit"],
    "certificate with another key": ["expired", "does not cover"],
    "expired certificate": ["is not the key", "does not cover"],
    "certificate for another name": ["is not the key", "expired"],
}


@pytest.fixture(scope="module")
def canary_flow_run(prefect_api):
    """A flow run stored before the bad runs: it must still be there after all of them."""
    flow = prefect_api.post("/api/flows/", {"name": "bad-input-canary"})
    assert flow.status_code in (200, 201), flow.text
    name = f"canary-{uuid.uuid4().hex[:8]}"
    run = prefect_api.post("/api/flow_runs/", {"flow_id": flow.json()["id"], "name": name})
    assert run.status_code in (200, 201), run.text
    return run.json()["id"], name


@pytest.fixture(scope="module")
def worker_group(tmp_path_factory):
    """An inventory that adds the deployed host to prefect_worker."""
    path = tmp_path_factory.mktemp("inventory") / "worker-group.yml"
    path.write_text("prefect_worker:\n  hosts:\n    prefect-aio: {}\n")
    return path


@pytest.fixture(scope="module")
def bad_runs(canary_flow_run, worker_group, molecule_inventory):
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {
            case: pool.submit(ansible_playbook, CONVERGE, extra_vars=extra, inventories=(molecule_inventory, worker_group))
            for case, (extra, _expected) in CASES.items()
        }
        return {case: future.result() for case, future in futures.items()}


@pytest.fixture(scope="module")
def molecule_inventory():
    return os.environ["MOLECULE_INVENTORY_FILE"]


def assert_failed_first_and_kept_the_platform(run, fragments, prefect_api, canary_flow_run, not_named=()):
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-4000:]
    flat = " ".join(output.split())
    missing = [fragment for fragment in fragments if fragment not in flat]
    assert not missing, (missing, output[-4000:])
    # A check task prints "fatal: [host]: FAILED!", an item of a check's loop "failed: [host] (item=...)".
    starts = [flat.find(marker) for marker in ("FAILED!", "failed: [") if marker in flat]
    assert starts, output[-4000:]
    failure = flat[min(starts):]
    named = [fragment for fragment in not_named if fragment in failure]
    assert not named, ("the message names values that are fine", named, failure[:2000])
    # No play that changes a host began, and nothing changed anywhere.
    assert "PLAY [Set up" not in run.stdout, output[-4000:]
    recap = play_recap(run.stdout)
    assert recap and all(counters["changed"] == 0 for counters in recap.values()), recap
    # The deployed platform still serves its API, with its data.
    assert prefect_api.get("/api/ready", auth=False).status_code == 200
    run_id, name = canary_flow_run
    stored = prefect_api.get(f"/api/flow_runs/{run_id}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["name"] == name


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_fails_first_and_keeps_the_platform(case, bad_runs, prefect_api, canary_flow_run):
    assert_failed_first_and_kept_the_platform(
        bad_runs[case], CASES[case][1], prefect_api, canary_flow_run, NOT_NAMED.get(case, ())
    )


def test_unsupported_os_is_refused_before_anything_changes(
    scratch_hosts, molecule_inventory, tmp_path, prefect_api, canary_flow_run
):
    """A worker host whose /etc/os-release says Ubuntu 20.04: Ansible's own fact
    gathering reads that file, as it would on a real Ubuntu 20.04 host."""
    assert "chk-oldos" in scratch_hosts
    os_release = (
        'PRETTY_NAME="Ubuntu 20.04.6 LTS"\nNAME="Ubuntu"\nVERSION_ID="20.04"\n'
        'VERSION="20.04.6 LTS (Focal Fossa)"\nVERSION_CODENAME=focal\nID=ubuntu\nID_LIKE=debian\n'
        "UBUNTU_CODENAME=focal\n"
    )
    inventory = scratch_inventory(tmp_path / "oldos.yml", ["prefect_worker"], ["chk-oldos"], {})
    old_os = testinfra.get_host("docker://chk-oldos")
    old_os.run("rm -f /etc/os-release && printf %s > /etc/os-release", os_release)
    assert "Ubuntu" in old_os.file("/etc/os-release").content_string
    run = ansible_playbook(CONVERGE, inventories=(molecule_inventory, inventory))
    assert_failed_first_and_kept_the_platform(
        run,
        ["Ubuntu 20.04 is not supported", "run it on Debian 12/13 or Ubuntu 22.04/24.04"],
        prefect_api,
        canary_flow_run,
    )
    assert "chk-oldos" in play_recap(run.stdout)
    assert not old_os.file("/opt/prefect-worker").exists
