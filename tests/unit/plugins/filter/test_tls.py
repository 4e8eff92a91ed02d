# Copyright (c) prefect_ops maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

from ansible_collections.prefect_ops.prefect.plugins.filter import tls


def test_subject_alt_names_tell_names_from_addresses():
    assert tls.subject_alt_names(['Prefect.Example.com', '10.0.0.5', '::1', 'prefect.example.com']) == [
        'DNS:prefect.example.com', 'IP:10.0.0.5', 'IP:::1']


def test_site_addresses_bracket_ipv6():
    assert tls.site_addresses(['localhost', '10.0.0.5', '::1'], 8443) == 'localhost:8443, 10.0.0.5:8443, [::1]:8443'


KEY = {'public_key': 'PUBLIC-A'}


def info(**extra):
    return dict({'public_key': 'PUBLIC-A', 'expired': False, 'not_after': '20300101000000Z',
                 'subject_alt_name': ['DNS:prefect.example.com', 'DNS:*.apps.example.com', 'IP:10.0.0.5']}, **extra)


def test_a_good_certificate_has_no_problem():
    assert tls.certificate_problems(info(), KEY, ['prefect.example.com', 'x.apps.example.com', '10.0.0.5']) == []


def test_each_problem_is_named_once():
    assert tls.certificate_problems(info(), {'public_key': 'OTHER'}, ['prefect.example.com']) == [
        'front_door_private_key is not the key of front_door_certificate']
    assert tls.certificate_problems(info(expired=True), KEY, ['prefect.example.com']) == [
        'front_door_certificate expired on 20300101000000Z']
    problems = tls.certificate_problems(info(), KEY, ['other.example.com', 'a.b.apps.example.com', '10.0.0.6'])
    assert problems == ['front_door_certificate does not cover other.example.com, a.b.apps.example.com, 10.0.0.6 '
                        '(it covers DNS:prefect.example.com, DNS:*.apps.example.com, IP:10.0.0.5)']


def test_the_problems_name_the_variables_the_files_were_given_in():
    problems = tls.certificate_problems(info(expired=True), {'public_key': 'OTHER'}, ['prefect.example.com'],
                                        'postgresql_tls_certificate', 'postgresql_tls_private_key')
    assert problems == ['postgresql_tls_private_key is not the key of postgresql_tls_certificate',
                        'postgresql_tls_certificate expired on 20300101000000Z']
