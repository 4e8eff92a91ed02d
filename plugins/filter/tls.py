# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

"""The front door's certificates: the names they cover, how Caddy addresses a site, and
what is wrong with a certificate and key given as files."""

from __future__ import annotations

import ipaddress


def _address(name):
    try:
        return ipaddress.ip_address(str(name).strip('[]'))
    except ValueError:
        return None


def subject_alt_names(names):
    """Subject alternative names for host names and addresses: ['DNS:a.example', 'IP:10.0.0.5']."""
    alt_names = []
    for name in names or []:
        address = _address(name)
        entry = 'IP:%s' % address.compressed if address else 'DNS:%s' % str(name).lower()
        if entry not in alt_names:
            alt_names.append(entry)
    return alt_names


def site_addresses(names, port):
    """Caddy's site addresses for the names on a port: 'a.example:443, [::1]:443'."""
    addresses = []
    for name in names or []:
        address = _address(name)
        host = '[%s]' % address.compressed if address and address.version == 6 else str(name)
        addresses.append('%s:%s' % (host, port))
    return ', '.join(addresses)


def _covers(alt_name, name):
    """Whether one subject alternative name ('DNS:*.example.com', 'IP:10.0.0.5') covers a name."""
    kind, _sep, value = alt_name.partition(':')
    address = _address(name)
    if kind == 'IP':
        return address is not None and _address(value) == address
    if kind != 'DNS' or address is not None:
        return False
    value, name = value.lower(), str(name).lower()
    if value.startswith('*.'):
        head, _dot, rest = name.partition('.')
        return bool(head) and rest == value[2:]
    return value == name


def certificate_problems(certificate_info, private_key_info, names,
                         certificate_variable='front_door_certificate', key_variable='front_door_private_key'):
    """What is wrong with a certificate (community.crypto.x509_certificate_info's result) and
    its key (openssl_privatekey_info's result) for serving ``names``: one message each,
    naming the variables they were given in."""
    problems = []
    if certificate_info.get('public_key') != private_key_info.get('public_key'):
        problems.append('%s is not the key of %s' % (key_variable, certificate_variable))
    if certificate_info.get('expired'):
        problems.append('%s expired on %s' % (certificate_variable, certificate_info.get('not_after')))
    alt_names = certificate_info.get('subject_alt_name') or []
    uncovered = [name for name in names or [] if not any(_covers(alt, name) for alt in alt_names)]
    if uncovered:
        problems.append('%s does not cover %s (it covers %s)'
                        % (certificate_variable, ', '.join(uncovered), ', '.join(alt_names) or 'no name'))
    return problems


class FilterModule:
    def filters(self):
        return {
            'subject_alt_names': subject_alt_names,
            'site_addresses': site_addresses,
            'certificate_problems': certificate_problems,
        }
