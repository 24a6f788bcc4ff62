# SPDX-License-Identifier: Apache-2.0
"""Client certificates for mutual TLS: read once at import, kept in the vault, loaded from memory.

- `read_certificate(cert, key=None, p12=None, password=None)`: PEM (certificate chain and a
  separate or included private key) or PKCS#12; the key must belong to the first certificate. The
  answer is PEM text (the key unencrypted PKCS#8: the vault is what protects it) plus the subject
  and end of validity for the Sign-ins tab. Errors say what is wrong, never quoting key material.
- `client_context(material)`: an `ssl.SSLContext` that presents the certificate and trusts the
  pinned CA (else certifi's authorities, like every other https agent: tls.py). Python's ssl loads a
  key only from a path, so the PEM goes through an anonymous in-memory file (`memfd_create`,
  Linux) or a FIFO in a private directory (other POSIX systems): it never reaches the disk.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from keybroker.core.errors import InvalidInputError, UsageError
from keybroker.core.models import SecretValue

__all__ = ["CertificateMaterial", "client_context", "read_certificate"]

MAX_FILE_BYTES = 32 * 1024


@dataclass(frozen=True, repr=False)
class CertificateMaterial:
    """A client certificate chain, its private key and an optional pinned CA, as PEM."""

    cert_pem: str
    key_pem: SecretValue
    ca_pem: str | None
    subject: str
    not_after: float

    def __repr__(self) -> str:
        return f"CertificateMaterial(subject={self.subject!r}, not_after={self.not_after})"


def _pem_certs(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidInputError(f"the {what} is not a PEM certificate") from None
    if not certs:
        raise InvalidInputError(f"the {what} holds no certificate")
    return certs


def _pem_key(data: bytes, password: bytes | None) -> object:
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise UsageError("the private key is encrypted: give its password") from None
    except ValueError:
        raise InvalidInputError(
            "the private key is not a PEM private key (or the password is wrong)"
        ) from None


def read_certificate(
    cert: bytes | None,
    *,
    key: bytes | None = None,
    p12: bytes | None = None,
    password: bytes | None = None,
    ca: bytes | None = None,
) -> CertificateMaterial:
    """Read and check a client certificate (module docstring)."""
    for data in (cert, key, p12, ca):
        if data is not None and len(data) > MAX_FILE_BYTES:
            raise InvalidInputError(f"a certificate or key file is larger than {MAX_FILE_BYTES // 1024} KiB")
    if p12 is not None:
        try:
            private, leaf, extra = pkcs12.load_key_and_certificates(p12, password)
        except ValueError:
            raise InvalidInputError("the PKCS#12 file cannot be read (or the password is wrong)") from None
        if private is None or leaf is None:
            raise InvalidInputError("the PKCS#12 file holds no private key and certificate")
        chain = [leaf, *extra]
        if cert is not None:
            chain = [*chain, *_pem_certs(cert, "certificate file")]
        private_key: object = private
    else:
        if cert is None:
            raise UsageError("give the certificate (PEM) and its key, or a PKCS#12 file")
        chain = _pem_certs(cert, "certificate file")
        private_key = _pem_key(key if key is not None else cert, password)
    public = getattr(private_key, "public_key", None)
    if public is None:
        raise InvalidInputError("the private key is not usable for TLS")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if public().public_bytes(*spki) != chain[0].public_key().public_bytes(*spki):
        raise InvalidInputError("the private key does not belong to the certificate")
    key_pem = private_key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    ca_pem = None
    if ca is not None:
        ca_pem = "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in _pem_certs(ca, "CA file")
        )
    return CertificateMaterial(
        cert_pem="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain),
        key_pem=SecretValue(key_pem),
        ca_pem=ca_pem,
        subject=chain[0].subject.rfc4514_string(),
        not_after=chain[0].not_valid_after_utc.timestamp(),
    )


@contextlib.contextmanager
def _memory_file(text: str) -> Iterator[str]:
    """A path whose contents are `text`, readable once, never written to a disk."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None:
        fd = memfd("keybroker-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, text.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="keybroker-tls-") as private:  # mode 0700
        fifo = Path(private) / "pem"
        os.mkfifo(fifo, 0o600)

        def feed() -> None:
            with open(fifo, "w") as pipe:  # blocks until ssl opens the other end
                pipe.write(text)

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            yield str(fifo)
        finally:
            writer.join(5.0)


def client_context(cert_pem: str, key_pem: SecretValue, ca_pem: str | None) -> ssl.SSLContext:
    """A context presenting the certificate; trusting `ca_pem` alone when pinned (module docstring)."""
    if ca_pem:
        context = ssl.create_default_context(cadata=ca_pem)
    else:
        import certifi

        context = ssl.create_default_context(cafile=certifi.where())
    with _memory_file(cert_pem + key_pem.reveal()) as path:
        try:
            context.load_cert_chain(path)
        except ssl.SSLError:
            raise InvalidInputError("the stored client certificate and key cannot be loaded") from None
    return context
