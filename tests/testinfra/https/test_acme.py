"""ACME: the front door of https-acme gets its certificate from pebble (Let's Encrypt's
test server, on that host) and renews it without failing a request of a client that
polls the API meanwhile."""

import socket
import ssl
import time

import pytest
import requests

from conftest import Polling

testinfra_hosts = ["https-acme"]

ACME_URL = "https://localhost:14444"


@pytest.fixture(scope="module")
def pebble_roots(host, tmp_path_factory):
    """Pebble's root CA (made anew whenever pebble starts), read from its management API,
    with which a client verifies what the front door got."""
    root = host.check_output(
        "python3 -c %s",
        "import ssl,urllib.request;"
        "print(urllib.request.urlopen('https://127.0.0.1:15000/roots/0',"
        "context=ssl._create_unverified_context()).read().decode())",
    )
    path = tmp_path_factory.mktemp("pebble") / "roots.pem"
    path.write_text(root + "\n")
    return path


def served_certificate(roots):
    """(serial, issuer) of the certificate the front door serves, verified against roots."""
    context = ssl.create_default_context(cafile=str(roots))
    with socket.create_connection(("localhost", 14444), timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            certificate = tls.getpeercert()
    issuer = dict(rdn[0] for rdn in certificate["issuer"])["commonName"]
    return certificate["serialNumber"], issuer


def test_the_certificate_comes_from_the_acme_server(pebble_roots):
    _serial, issuer = served_certificate(pebble_roots)
    assert issuer.startswith("Pebble Intermediate CA"), issuer
    # And the API behind it answers through it.
    assert requests.get(ACME_URL + "/api/health", verify=str(pebble_roots), timeout=15).json() is True


def test_a_renewal_fails_no_request_of_a_polling_client(pebble_roots):
    first_serial, _issuer = served_certificate(pebble_roots)
    with Polling(ACME_URL + "/api/health", str(pebble_roots)) as polling:
        # Pebble's certificates live 120 s; Caddy renews with a third left, checking every 10 s.
        deadline = time.monotonic() + 150
        serial = first_serial
        while serial == first_serial and time.monotonic() < deadline:
            time.sleep(2)
            serial, _issuer = served_certificate(pebble_roots)
        # Keep polling a while on the new certificate.
        time.sleep(5)
    assert serial != first_serial, "the front door did not renew its certificate within 150 s"
    assert polling.ok > 100, polling.ok
    assert not polling.failed, polling.failed[:10]
