# SPDX-License-Identifier: Apache-2.0
"""client_cert.py: PEM and PKCS#12 imports (trustme's CA), bad input refused naming no key material,
and the TLS context loading the key from memory."""

from __future__ import annotations

import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from keybroker.core.auth.client_cert import client_context, read_certificate
from keybroker.core.errors import InvalidInputError, UsageError


def p12_of(leaf: trustme.LeafCert, password: bytes) -> bytes:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    return pkcs12.serialize_key_and_certificates(
        b"kb",
        key,
        cert,
        None,
        serialization.BestAvailableEncryption(password),  # type: ignore[arg-type]
    )


def test_pem_and_pkcs12_give_the_same_certificate_and_a_context_presenting_it() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example.test")
    pem = read_certificate(
        leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes(), ca=ca.cert_pem.bytes()
    )
    p12 = read_certificate(None, p12=p12_of(leaf, b"pw-1"), password=b"pw-1", ca=ca.cert_pem.bytes())
    assert pem.subject == p12.subject and pem.not_after == p12.not_after
    assert pem.key_pem.reveal() == p12.key_pem.reveal()
    assert pem.ca_pem is not None and "BEGIN CERTIFICATE" in pem.ca_pem
    assert "PRIVATE KEY" not in repr(pem)
    context = client_context(pem.cert_pem, pem.key_pem, pem.ca_pem)
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED


def test_bad_input_is_refused_without_quoting_key_material() -> None:
    ca = trustme.CA()
    leaf, other = ca.issue_cert("a.example.test"), ca.issue_cert("b.example.test")
    key_line = leaf.private_key_pem.bytes().decode().splitlines()[1]
    cases = [
        lambda: read_certificate(leaf.cert_chain_pems[0].bytes(), key=other.private_key_pem.bytes()),
        lambda: read_certificate(None, p12=p12_of(leaf, b"right"), password=b"wrong"),
        lambda: read_certificate(b"not a certificate", key=leaf.private_key_pem.bytes()),
        lambda: read_certificate(leaf.cert_chain_pems[0].bytes(), key=b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
    ]
    for case in cases:
        with pytest.raises(InvalidInputError) as caught:
            case()
        assert key_line not in str(caught.value)
    with pytest.raises(UsageError):
        read_certificate(None)
