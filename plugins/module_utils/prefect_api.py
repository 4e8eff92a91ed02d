# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A small client for the Prefect REST API, shared by the modules of this collection.

It runs on target hosts, so it needs nothing but the Python standard library and
ansible.module_utils.urls. It sends and receives JSON and turns every failure into one
of the PrefectApiError subclasses below, so that modules can tell a user what is wrong.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import ssl
import urllib.error
import urllib.parse

from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url

DEFAULT_REQUEST_TIMEOUT = 10.0
USER_AGENT = 'ansible-prefect_ops.prefect'


def prefect_api_argument_spec():
    """Argument spec of the connection options, documented in the prefect_ops.prefect.prefect_api doc fragment."""
    return dict(
        url=dict(type='str', required=True),
        auth_string=dict(type='str', no_log=True),
        validate_certs=dict(type='bool', default=True),
        ca_path=dict(type='path'),
        request_timeout=dict(type='float', default=DEFAULT_REQUEST_TIMEOUT),
    )


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class PrefectApiError(Exception):
    """Base class of every error the client raises.

    ``kind`` is a short machine readable classification, ``status`` the HTTP status code
    when the server answered, ``detail`` the server's own explanation when it gave one.
    """

    kind = 'error'

    def __init__(self, message, method=None, url=None, status=None, detail=None, body=None):
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.status = status
        self.detail = detail
        self.body = body

    def __str__(self):
        return self.message


class PrefectConnectionError(PrefectApiError):
    """No HTTP answer: connection refused or reset, name not resolved, network unreachable."""

    kind = 'connection'

    def __init__(self, message, reason=None, **kwargs):
        super().__init__(message, **kwargs)
        self.reason = reason

    @property
    def refused(self):
        return isinstance(self.reason, ConnectionRefusedError)


class PrefectTimeoutError(PrefectConnectionError):
    """The server did not answer within the request timeout."""

    kind = 'timeout'


class PrefectTLSError(PrefectConnectionError):
    """TLS handshake or certificate validation failed."""

    kind = 'tls'


class PrefectHTTPError(PrefectApiError):
    """The server answered with an HTTP status >= 400 (or one the caller did not expect)."""

    kind = 'http'


class PrefectAuthError(PrefectHTTPError):
    """HTTP 401 or 403: authentication is missing or wrong."""

    kind = 'auth'


class PrefectNotFoundError(PrefectHTTPError):
    """HTTP 404."""

    kind = 'not_found'


class PrefectResponseError(PrefectApiError):
    """The server answered, but not with the JSON the caller expected."""

    kind = 'invalid_response'


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def normalize_api_url(url):
    """Return the API base URL, ending in ``/api`` and without a trailing slash.

    ``http://host:4200``, ``http://host:4200/``, ``http://host:4200/api`` and
    ``http://host:4200/api/`` all give ``http://host:4200/api``.
    Raises ValueError with a user-facing message for URLs the client cannot use.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError('url must be the base URL of the Prefect API, for example http://prefect.example.com:4200/api')
    url = url.strip()
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ('http', 'https'):
        raise ValueError(
            'url %r is not an http:// or https:// URL; give the base URL of the Prefect API, '
            'for example http://prefect.example.com:4200/api' % url)
    if not parsed.hostname:
        raise ValueError('url %r has no host name' % url)
    if parsed.username is not None or parsed.password is not None:
        raise ValueError(
            'url must not contain credentials (user:password@host); '
            'remove them from the url and set auth_string to "user:password" instead')
    if parsed.query or parsed.fragment:
        raise ValueError('url %r must not contain a query string or a fragment' % url)
    path = re.sub('/{2,}', '/', parsed.path).rstrip('/')
    if not path.endswith('/api'):
        path += '/api'
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, '', ''))


def quote_path_segment(value):
    """Quote one path segment, for example a work pool name, for use in a request path.

    The segments "." and ".." are quoted too (%2E), so that no client or proxy on the way resolves
    them as relative paths: a work pool may be called "..".
    """
    quoted = urllib.parse.quote(to_text(value), safe='')
    if quoted in ('.', '..'):
        quoted = quoted.replace('.', '%2E')
    return quoted


def basic_auth_header(auth_string):
    """The Authorization header value Prefect clients send for PREFECT_API_AUTH_STRING."""
    return 'Basic ' + to_native(base64.b64encode(to_text(auth_string).encode('utf-8')))


def _format_validation_errors(errors):
    """FastAPI/pydantic validation errors ([{"loc": [...], "msg": ...}, ...]) as one line."""
    parts = []
    for item in errors:
        if isinstance(item, dict) and 'msg' in item:
            loc = '.'.join(to_text(p) for p in item.get('loc', []) if p != 'body')
            parts.append('%s: %s' % (loc, item['msg']) if loc else to_text(item['msg']))
        else:
            parts.append(to_text(item))
    return '; '.join(parts)


def _extract_detail(body):
    """The server's explanation in an error answer, else the start of the raw body.

    FastAPI puts it into "detail" (a string, or a list of validation errors), Prefect's own
    handlers into "exception_message" (validation errors then in "exception_detail"),
    /api/ready into "message".
    """
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.strip()
        return text[:500] if text else None
    if not isinstance(data, dict):
        return body.strip()[:500]
    if 'detail' in data:
        detail = data['detail']
        return _format_validation_errors(detail) if isinstance(detail, list) else to_text(detail)
    if 'exception_message' in data:
        detail = to_text(data['exception_message'])
        if isinstance(data.get('exception_detail'), list) and data['exception_detail']:
            detail += ' ' + _format_validation_errors(data['exception_detail'])
        return detail
    if 'message' in data:
        return to_text(data['message'])
    return body.strip()[:500]


class PrefectResponse:
    """An HTTP answer: status code, headers (a dict with lower-case names) and decoded body text."""

    def __init__(self, method, url, status, headers, body):
        self.method = method
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        """The decoded JSON body; None for an empty body. Raises PrefectResponseError when it is not JSON."""
        if self.body is None or not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            snippet = self.body.strip()[:200]
            raise PrefectResponseError(
                '%s %s answered HTTP %s with a body that is not JSON (%s): %r. '
                'Is url the Prefect API?' % (self.method, self.url, self.status, to_native(exc), snippet),
                method=self.method, url=self.url, status=self.status, body=self.body)


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------

class PrefectApiClient:
    """Talks JSON to the Prefect REST API below ``api_url``.

    For example::

        client = PrefectApiClient('http://127.0.0.1:4200', auth_string='admin:secret')
        client.get('/health')                                   # -> True
        pool = client.get_or_none('/work_pools/' + quote_path_segment('default'))
        client.post('/work_pools/', {'name': 'default', 'type': 'process'})
        client.patch('/work_pools/default', {'concurrency_limit': 5})
        client.delete('/work_pools/default')
    """

    def __init__(self, url, auth_string=None, validate_certs=True, ca_path=None,
                 request_timeout=DEFAULT_REQUEST_TIMEOUT, use_proxy=True, user_agent=USER_AGENT):
        self.api_url = normalize_api_url(url)
        self.auth_string = auth_string or None
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.request_timeout = float(request_timeout)
        self.use_proxy = use_proxy
        self.user_agent = user_agent

    @classmethod
    def from_module(cls, module, user_agent=None):
        """Build a client from the options of prefect_api_argument_spec(); fails the module on a bad url."""
        params = module.params
        try:
            return cls(
                params['url'],
                auth_string=params.get('auth_string'),
                validate_certs=params.get('validate_certs', True),
                ca_path=params.get('ca_path'),
                request_timeout=params.get('request_timeout') or DEFAULT_REQUEST_TIMEOUT,
                user_agent=user_agent or '%s/%s' % (USER_AGENT, module._name),
            )
        except ValueError as exc:
            module.fail_json(msg=to_native(exc))

    def url_for(self, path, params=None):
        """Absolute URL of ``path`` (relative to the API base, with or without leading slash)."""
        url = self.api_url + '/' + path.lstrip('/') if path else self.api_url
        if params:
            url += '?' + urllib.parse.urlencode(params, doseq=True)
        return url

    def _display_path(self, url):
        return urllib.parse.urlsplit(url).path or '/'

    def request(self, method, path, data=None, params=None, headers=None, timeout=None, expected_status=None):
        """Send one request and return a PrefectResponse.

        ``data`` is encoded as JSON when it is not None. ``expected_status`` is a status code or a
        collection of them; when unset, every 2xx answer is accepted. Any other answer raises a
        PrefectHTTPError (PrefectAuthError for 401/403, PrefectNotFoundError for 404).
        Without an HTTP answer a PrefectConnectionError (PrefectTimeoutError, PrefectTLSError) is raised.
        """
        method = method.upper()
        url = self.url_for(path, params)
        display = '%s %s' % (method, self._display_path(url))
        req_headers = {
            'Accept': 'application/json',
        }
        body = None
        if data is not None:
            body = json.dumps(data).encode('utf-8')
            req_headers['Content-Type'] = 'application/json'
        if self.auth_string:
            req_headers['Authorization'] = basic_auth_header(self.auth_string)
        if headers:
            req_headers.update(headers)
        if timeout is None:
            timeout = self.request_timeout

        status = None
        resp_headers = {}
        try:
            resp = open_url(
                url, data=body, headers=req_headers, method=method,
                use_proxy=self.use_proxy, timeout=timeout,
                validate_certs=self.validate_certs, ca_path=self.ca_path,
                http_agent=self.user_agent, follow_redirects='urllib2',
                use_netrc=False,
            )
            try:
                status = resp.status
                resp_headers = dict((k.lower(), v) for k, v in resp.headers.items())
                raw = resp.read()
            finally:
                resp.close()
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                raw = exc.read()
            except Exception:  # pylint: disable=broad-except
                raw = b''
            try:
                resp_headers = dict((k.lower(), v) for k, v in exc.headers.items()) if exc.headers else {}
            except Exception:  # pylint: disable=broad-except
                resp_headers = {}
        except Exception as exc:  # pylint: disable=broad-except
            raise self._classify_transport_error(exc, method, url, display, timeout) from exc

        text = to_text(raw or b'', errors='surrogate_or_replace')
        response = PrefectResponse(method, url, status, resp_headers, text)

        if expected_status is None:
            ok = 200 <= status < 300
        elif isinstance(expected_status, int):
            ok = status == expected_status
        else:
            ok = status in expected_status
        if not ok:
            raise self._http_error(response, display)
        return response

    def _http_error(self, response, display):
        status = response.status
        detail = _extract_detail(response.body)
        reason = http.client.responses.get(status, '')
        message = '%s answered HTTP %s%s' % (display, status, (' ' + reason) if reason else '')
        if detail and detail.lower() != reason.lower():
            message += ': %s' % detail
        kwargs = dict(method=response.method, url=response.url, status=status, detail=detail, body=response.body)
        if status in (401, 403):
            if self.auth_string:
                message += ' (the auth_string was rejected)'
            else:
                message += ' (no auth_string was given)'
            return PrefectAuthError(message, **kwargs)
        if status == 404:
            return PrefectNotFoundError(message, **kwargs)
        return PrefectHTTPError(message, **kwargs)

    def _classify_transport_error(self, exc, method, url, display, timeout):
        reason = exc
        if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
            reason = exc.reason
        host = urllib.parse.urlsplit(url).netloc
        kwargs = dict(method=method, url=url, reason=reason)
        if isinstance(reason, (socket.timeout, TimeoutError)) or 'timed out' in to_native(reason):
            return PrefectTimeoutError(
                '%s: no answer from %s within %s s (request_timeout)' % (display, host, _fmt_seconds(timeout)), **kwargs)
        if isinstance(reason, ssl.SSLError) or isinstance(exc, ssl.SSLError) or type(exc).__name__ in (
                'SSLValidationError', 'NoSSLError'):
            return PrefectTLSError(
                '%s: TLS error talking to %s: %s. If the server certificate is signed by a private CA, set ca_path '
                'to that CA certificate; validate_certs=false turns validation off (testing only)'
                % (display, host, to_native(reason)), **kwargs)
        if isinstance(reason, ConnectionRefusedError):
            return PrefectConnectionError('%s: connection refused by %s' % (display, host), **kwargs)
        if isinstance(reason, socket.gaierror):
            return PrefectConnectionError(
                '%s: cannot resolve host name of %s: %s' % (display, host, to_native(reason)), **kwargs)
        if isinstance(reason, (ConnectionError, http.client.HTTPException, OSError)):
            return PrefectConnectionError(
                '%s: connection to %s failed: %s' % (display, host, to_native(reason) or type(reason).__name__),
                **kwargs)
        return PrefectConnectionError(
            '%s: request to %s failed: %s: %s' % (display, host, type(exc).__name__, to_native(exc)), **kwargs)

    # JSON conveniences: they return the decoded body (None when empty).

    def get(self, path, params=None, **kwargs):
        return self.request('GET', path, params=params, **kwargs).json()

    def post(self, path, data=None, params=None, **kwargs):
        return self.request('POST', path, data=data, params=params, **kwargs).json()

    def patch(self, path, data=None, params=None, **kwargs):
        return self.request('PATCH', path, data=data, params=params, **kwargs).json()

    def put(self, path, data=None, params=None, **kwargs):
        return self.request('PUT', path, data=data, params=params, **kwargs).json()

    def delete(self, path, params=None, **kwargs):
        return self.request('DELETE', path, params=params, **kwargs).json()

    def get_or_none(self, path, params=None, **kwargs):
        """GET that returns None instead of raising on 404, for 'does it exist?' lookups."""
        try:
            return self.get(path, params=params, **kwargs)
        except PrefectNotFoundError:
            return None


def _fmt_seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.') if isinstance(value, float) else str(value)
