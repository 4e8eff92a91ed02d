# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by every module that talks to the Prefect REST API."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Prefect server API, as clients see it in E(PREFECT_API_URL).
      - Accepted with or without the trailing C(/api), for example V(http://prefect.example.com:4200)
        or V(https://prefect.example.com/api). Behind a reverse proxy with a path prefix, give the full
        prefix, for example V(https://example.com/prefect/api).
      - Only C(http) and C(https) URLs are accepted. Do not put credentials into the URL, use O(auth_string).
      - The module runs on the target host, so the URL must be reachable from there
        (use C(delegate_to) to check from somewhere else).
    type: str
    required: true
  auth_string:
    description:
      - The Prefect basic authentication string C(user:password), the value the server has in
        E(PREFECT_SERVER_API_AUTH_STRING) and clients in E(PREFECT_API_AUTH_STRING) (Prefect 3.1.8 and later).
      - "Sent as an HTTP C(Authorization: Basic) header on every request."
      - Give the plain value, without quotes around it.
      - Leave unset when the server does not use authentication.
    type: str
  validate_certs:
    description:
      - Whether to validate the TLS certificate of an C(https) O(url).
      - Set to V(false) only for testing, with self-signed certificates prefer O(ca_path).
    type: bool
    default: true
  ca_path:
    description:
      - Path, on the target host, of a PEM file with the CA certificate(s) to validate the server certificate with.
      - Use it when the server certificate is signed by a private CA.
    type: path
  request_timeout:
    description:
      - Timeout in seconds for one HTTP request (connecting and reading the answer).
    type: float
    default: 10
attributes:
  action_group:
    description: Use C(group/prefect_ops.prefect.prefect_api) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - prefect_ops.prefect.prefect_api
notes:
  - The connection options (O(url), O(auth_string) and so on) can be set once for all modules of the collection
    that talk to the Prefect API with C(module_defaults) and the action group C(group/prefect_ops.prefect.prefect_api),
    see the examples.
  - The module uses only the Python standard library and Ansible's own URL handling on the target host.
  - Proxy settings from the environment of the target host (E(https_proxy), E(http_proxy), E(no_proxy)) apply.
"""

    # For the modules that change the server.
    CLIENT_VERSION = r"""
options:
  client_version:
    description:
      - The Prefect release of the clients this module prepares the server for, such as the workers that will poll
        a work pool, for example V(3.9.1).
      - Before it changes anything, the module reads the server's release (C(GET /api/admin/version)) and fails when
        the server is older, since a Prefect server answers clients newer than itself with HTTP 422.
      - Unset, the server's release is not read.
    type: str
    version_added: 0.1.0
"""
