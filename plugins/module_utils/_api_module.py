# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The part every module that talks to the Prefect API shares.

PrefectApiModule builds the AnsibleModule with the connection options of the prefect_api doc
fragment, checks the timing options, builds the client, and turns client errors into messages
that say what to do. A module subclasses it, adds its own options and implements run().
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.prefect_ops.prefect.plugins.module_utils._versions import older_than
from ansible_collections.prefect_ops.prefect.plugins.module_utils.prefect_api import (
    PrefectApiClient,
    PrefectApiError,
    PrefectAuthError,
    PrefectConnectionError,
    PrefectHTTPError,
    PrefectResponseError,
    PrefectTLSError,
    prefect_api_argument_spec,
)


def auth_hint(auth_string):
    """What to set after the API answered 401/403, depending on whether credentials were sent."""
    if auth_string:
        return ('Set auth_string to exactly the value of PREFECT_SERVER_API_AUTH_STRING on the server '
                '("user:password", without quotes around it).')
    return ('The server has basic auth on (PREFECT_SERVER_API_AUTH_STRING): set auth_string to its '
            '"user:password".')


class PrefectApiModule:
    """Base class of the collection's API modules.

    ``argument_spec`` holds the module's own options; ``positive`` and ``non_negative`` name
    its number options that must be > 0 and >= 0 (request_timeout is always checked). A module
    that changes the server sets ``gates_client_version``: it then takes the client_version
    option of the prefect_api.client_version doc fragment, checked before run() changes anything.
    """

    positive = ()
    non_negative = ()
    gates_client_version = False

    def __init__(self, argument_spec, **module_kwargs):
        spec = prefect_api_argument_spec()
        if self.gates_client_version:
            spec['client_version'] = dict(type='str')
        spec.update(argument_spec)
        module_kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **module_kwargs)
        self.params = self.module.params
        self.result = {}
        self._check_numbers()
        self.check_params()
        self.client = PrefectApiClient.from_module(self.module)
        self.result['url'] = self.client.api_url
        if self.gates_client_version and self.params['client_version']:
            self.check_server_not_older(self.params['client_version'])

    def _check_numbers(self):
        for name, strict in [('request_timeout', True)] + [(n, True) for n in self.positive] + [
                (n, False) for n in self.non_negative]:
            value = self.params[name]
            if value is not None and (value < 0 or (strict and value == 0)):
                self.module.fail_json(msg='%s must be %s 0, got %s' % (
                    name, 'greater than' if strict else 'at least', value))

    def check_params(self):
        """The module's own checks of its options, before a client is built (fail with module.fail_json)."""

    def check_server_not_older(self, client_version):
        """Fails unless the server's Prefect release is at least ``client_version``: a server answers
        clients newer than itself with HTTP 422."""
        try:
            answer = self.client.get('/admin/version')
        except PrefectApiError as exc:
            self.fail_api(exc, 'read its Prefect version')
        server_version = answer if isinstance(answer, str) else None
        self.result['server_version'] = server_version
        older = older_than(server_version or '', client_version)
        if older is None:
            self.fail('Cannot compare the Prefect version of the server at %s (%r) with client_version %r: give '
                      'client_version as a release number such as 3.9.1.' % (self.client.api_url, answer, client_version))
        if older:
            self.fail('The Prefect server at %s runs %s, older than its clients (client_version %s), and a server '
                      'answers clients newer than itself with HTTP 422. Nothing was changed: upgrade the server first, '
                      'or pin the clients to Prefect %s.'
                      % (self.client.api_url, server_version, client_version, server_version))

    def fail(self, msg, **extra):
        result = dict(self.result)
        result.update(extra)
        self.module.fail_json(msg=msg, **result)

    def fail_api(self, exc, doing):
        """Fail with what went wrong while trying ``doing`` (for example "read work pool 'etl'") and what to do."""
        url = self.client.api_url
        if isinstance(exc, PrefectAuthError):
            self.fail('The Prefect API at %s did not let the module %s: %s. %s' % (
                url, doing, exc, auth_hint(self.client.auth_string)))
        if isinstance(exc, PrefectTLSError):
            self.fail('Cannot talk TLS to the Prefect API at %s to %s: %s.' % (url, doing, exc))
        if isinstance(exc, PrefectConnectionError):
            hint = ''
            if exc.refused:
                hint = ' Nothing listens there: check that the Prefect server runs and that url has the right port.'
            self.fail('Cannot reach the Prefect API at %s to %s: %s.%s' % (url, doing, exc, hint))
        if isinstance(exc, PrefectResponseError):
            self.fail('The server at %s does not answer like a Prefect API: %s' % (url, exc))
        if isinstance(exc, PrefectHTTPError) and exc.status == 422:
            self.fail('The Prefect API at %s refused to %s, it found the request invalid: %s' % (
                url, doing, exc.detail or exc))
        self.fail('Failed to %s through the Prefect API at %s: %s' % (doing, url, exc))

    def work_pool_missing(self, exc):
        """After a 404 (PrefectNotFoundError): True when the API said the work pool does not exist
        ('Work pool "NAME" not found.'). A 404 for the route itself ("Not Found") means url is not
        the Prefect API: the module fails."""
        if exc.detail and 'work pool' in exc.detail.lower():
            return True
        self.fail('The server at %s does not answer like a Prefect API: %s. Check that url is the base URL of '
                  'the Prefect API (the one that ends in /api).' % (self.client.api_url, exc))
        return False

    def run(self):
        raise NotImplementedError

    def exit_with_change(self, what, action, verb, fields, state):
        """Exit with the message every managing module gives: "<what> would be <verb>" in check
        mode, "<what> <verb>", with the fields an update changed, "<what> unchanged", or, for
        state=absent with nothing to delete, "<what> is absent"."""
        changed = action != 'none'
        if not changed:
            verb = 'unchanged' if state == 'present' else 'is absent'
        msg = '%s %s%s' % (what, 'would be ' if changed and self.module.check_mode else '', verb)
        if changed and action == 'updated':
            msg += ': ' + ', '.join(fields)
        self.exit(msg)

    def exit(self, msg, **extra):
        result = dict(self.result)
        result.update(extra)
        self.module.exit_json(msg=msg, **result)
