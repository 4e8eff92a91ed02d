"""HTTPS by default: the front door in front of the server, with the private CA the roles
made, seen from the controller as a user's browser or client would see it."""

import base64
import json
import os
import socket
import ssl
import stat
import subprocess
import time
import warnings

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from conftest import (
    REPO,
    Polling,
    ansible_playbook,
    api_responses,
    generated_secrets_dir,
    keep_artifact,
    private_ca_certificate,
)

testinfra_hosts = ["https-aio"]

HTTPS_URL = "https://localhost:14443"
HTTP_URL = "http://localhost:14480"


def test_tls_verifies_against_the_private_ca_and_only_against_it(prefect_api):
    response = prefect_api.get("/api/health", auth=False)
    assert response.status_code == 200 and response.json() is True
    # A client that does not trust the private CA is refused the connection.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(HTTPS_URL + "/api/health", timeout=15)


def test_plain_http_is_redirected_to_https():
    response = requests.get(HTTP_URL + "/api/health?x=1", allow_redirects=False, timeout=15)
    assert response.status_code in (301, 308), response.status_code
    assert response.headers["Location"] == HTTPS_URL + "/api/health?x=1"


def handshake(version):
    """A TLS handshake with the front door at exactly this protocol version; returns the
    version agreed, or the error the server answered with."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(private_ca_certificate()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    # This client allows old protocols, so that a refusal is the server's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("localhost", 14443), timeout=15) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.version()
        except ssl.SSLError as error:
            return error.reason


def test_tls_1_2_and_1_3_are_accepted_and_1_1_refused():
    assert handshake(ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    refused = handshake(ssl.TLSVersion.TLSv1_1)
    # The server's alert, not a client that cannot speak TLS 1.1.
    assert refused == "TLSV1_ALERT_PROTOCOL_VERSION", refused


def test_the_api_needs_the_login_through_the_front_door(prefect_api):
    assert prefect_api.post("/api/flows/filter", auth=False).status_code == 401
    assert prefect_api.post("/api/flows/filter").status_code == 200


def test_browsers_are_told_to_use_only_https(prefect_api):
    response = prefect_api.get("/", auth=False)
    assert response.status_code == 200 and "<!DOCTYPE html>" in response.text
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    settings = prefect_api.get("/ui-settings", auth=False).json()
    assert settings["api_url"] == HTTPS_URL + "/api"


def test_the_server_is_published_on_loopback_only(host):
    ports = host.check_output("docker ps --filter label=com.docker.compose.service=server --format '{{.Ports}}'")
    assert ports == "127.0.0.1:4200->4200/tcp", ports
    listening = host.check_output("ss -Htln")
    assert "127.0.0.1:4200" in listening
    assert "0.0.0.0:4200" not in listening and "*:4200" not in listening


def test_a_flow_run_completes_on_the_worker_through_https(host, prefect_api):
    # The worker verifies the front door's certificate with the private CA the role put there.
    environment = host.check_output("systemctl show --property=Environment 'prefect-worker-*'")
    assert "PREFECT_API_URL=" + HTTPS_URL + "/api" in environment
    assert "PREFECT_API_SSL_CERT_FILE=/etc/prefect-ops/api-ca.pem" in environment
    assert host.file("/etc/prefect-ops/api-ca.pem").content_string == private_ca_certificate().read_text()
    deployment_id = prefect_api.create_deployment("https-hello", "https", "https_hello.py:https_hello")
    response = prefect_api.post(f"/api/deployments/{deployment_id}/create_flow_run", {"parameters": {"number": 21}})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    run = prefect_api.wait_for_runs([run_id], timeout=240)[run_id]
    assert run["state"]["type"] == "COMPLETED", run["state"]


def test_a_prefect_client_on_the_controller_verifies_the_server_with_the_ca(prefect_api, tmp_path):
    # The pinned Prefect client, with PREFECT_API_SSL_CERT_FILE set to the private CA.
    run = prefect_api.run_flow("hello.py", tmp_path, "21")
    assert run["type"] == "COMPLETED" and run["result"] == 42


def test_a_client_gets_a_flow_runs_events_over_the_websocket_through_the_front_door(prefect_api, tmp_path):
    # /api/events/out is a WebSocket: the pinned client subscribes through the front door,
    # runs a flow, and must receive that run's state events as they happen.
    received = prefect_api.run_flow("watch_events.py", tmp_path)
    assert received["events"][-1] == "prefect.flow-run.Completed", received
    assert "prefect.flow-run.Running" in received["events"], received


def test_private_keys_are_for_their_owners_only(host):
    ca_dir = generated_secrets_dir() / "ca"
    for key in ca_dir.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    key = host.file("/etc/caddy/prefect-tls/private-key.pem")
    assert (key.user, key.group, key.mode) == ("root", "caddy", 0o640)
    tls_dir = host.file("/etc/caddy/prefect-tls")
    assert (tls_dir.user, tls_dir.group, tls_dir.mode) == ("root", "caddy", 0o750)
    # Only root and Caddy (its group) read it: not the workers' user, not nobody.
    for user in ("nobody", "prefect-worker"):
        assert host.run("runuser -u %s -- cat /etc/caddy/prefect-tls/private-key.pem", user).rc != 0, user


def test_the_certificate_covers_the_url_and_comes_from_the_private_ca(host):
    details = json.loads(host.check_output(
        "python3 -c %s",
        "import json,ssl;print(json.dumps(ssl._ssl._test_decode_cert('/etc/caddy/prefect-tls/certificate.pem')))",
    ))
    assert ("DNS", "localhost") in [tuple(name) for name in details["subjectAltName"]]
    assert [["commonName", "prefect_ops private CA"]] in [list(map(list, rdn)) for rdn in details["issuer"]]


def private_fragments(pem):
    """What of a PEM private key must never show: its secret number (hex, base64) and each
    line of its PEM body that is not also part of its public key (an EC key's PEM carries
    its public point, which x509_certificate_info rightly prints)."""
    key = serialization.load_pem_private_key(pem, password=None)
    value = key.private_numbers().private_value
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    public = "".join(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode().splitlines()[1:-1])
    lines = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    return [raw.hex(), ":".join(f"{byte:02x}" for byte in raw), base64.b64encode(raw).decode()] + [
        line for line in lines if line not in public]


def test_a_verbose_rerun_prints_no_private_key_and_no_password(host, tmp_path):
    secrets = [
        (generated_secrets_dir() / "api_auth_password").read_text().strip(),
        (generated_secrets_dir() / "database_password").read_text().strip(),
    ]
    for key in (generated_secrets_dir() / "ca").glob("*.key"):
        secrets += private_fragments(key.read_bytes())
    run = subprocess.run(
        ["ansible-playbook", "-vvv", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         "-e", f"@{REPO}/tests/testbed/vars.yml", str(REPO / "molecule" / "https" / "converge.yml")],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"),
        capture_output=True, text=True, timeout=900, check=False,
    )
    output = run.stdout + run.stderr
    (tmp_path / "verbose-run.log").write_text(output)
    assert run.returncode == 0, output[-5000:]
    assert "changed=0" in output.split("PLAY RECAP")[-1], output[-3000:]
    leaked = [secret[:6] + "..." for secret in secrets if secret in output]
    assert not leaked, f"the -vvv output holds secrets starting with {leaked}"


def test_the_ui_logs_in_and_lists_a_flow_run_in_a_real_browser(browser, prefect_api, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    run = prefect_api.run_flow("hello.py", tmp_path, "8")
    name = prefect_api.get(f"/api/flow_runs/{run['id']}").json()["name"]
    wait = WebDriverWait(browser, 60)
    try:
        # A trusted certificate: an untrusted one would stop at Chromium's warning page.
        browser.get(HTTPS_URL + "/runs")
        login = wait.until(seen.visibility_of_element_located((By.CSS_SELECTOR, "input[type=password]")))
        # Before the login, the UI's queries were refused (401): that is what sent it here.
        assert {status for status, _url in api_responses(browser)} == {401}
        login.send_keys(":".join(prefect_api.auth))
        browser.find_element(By.XPATH, "//button[normalize-space()='Login']").click()
        wait.until(seen.url_contains("/runs"))
        wait.until(seen.visibility_of_element_located((By.XPATH, f"//*[normalize-space()='{name}']")))
    finally:
        browser.save_screenshot(str(keep_artifact("https", "ui-runs.png")))
    assert browser.current_url.startswith(HTTPS_URL + "/runs")
    # After it, every API call of the page went through the front door with the login.
    responses = api_responses(browser)
    assert responses and all(status < 400 for status, _url in responses), responses


def served_serial():
    """Serial of the certificate the front door serves, verified with the private CA."""
    context = ssl.create_default_context(cafile=str(private_ca_certificate()))
    with socket.create_connection(("localhost", 14443), timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert()["serialNumber"]


def test_a_new_certificate_reloads_the_front_door_without_failing_a_request():
    # A name added to the front door: the private CA issues a new certificate, and Caddy
    # reloads with it while clients keep polling. (Last in this module: the -vvv re-run
    # above checks the converged state with the scenario's own names.)
    before = served_serial()
    with Polling(HTTPS_URL + "/api/health", str(private_ca_certificate())) as polling:
        run = ansible_playbook(
            "molecule/https/converge.yml", "--limit", "https-aio:localhost",
            extra_vars={"front_door_server_names": ["localhost", "prefect.test"]},
            inventories=(os.environ["MOLECULE_INVENTORY_FILE"],),
        )
        time.sleep(3)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "RUNNING HANDLER [prefect_ops.prefect.front_door : Reload the front door]" in run.stdout
    assert served_serial() != before
    assert polling.ok > 100, polling.ok
    assert not polling.failed, polling.failed[:10]
