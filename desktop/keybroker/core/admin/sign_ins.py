# SPDX-License-Identifier: Apache-2.0
"""The Sign-ins tab's port: `auth client/login/logout/cert` as blocking calls (issue 13).

`SignInAdmin` is what the settings window asks of sign-ins; core/auth/sign_in_admin.py implements it
over `SignIns` (the wire layer, which the window may not import), and the runtime hands one out
(`Runtime.sign_in_admin`). `CertificateFiles` is what the Import certificate dialog names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from keybroker.core.catalog.signins import SignInRecord
from keybroker.core.errors import InvalidInputError
from keybroker.core.models import SecretValue

__all__ = ["CertificateFiles", "SignInAdmin", "read_optional_file"]


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """A PEM certificate (its key in `key` or the same file), or a PKCS#12 file; an optional CA to pin."""

    cert: Path | None = None
    key: Path | None = None
    p12: Path | None = None
    #: the PKCS#12 or key password (to the reader only, never kept)
    password: SecretValue | None = None
    ca: Path | None = None


def read_optional_file(path: Path | None) -> bytes | None:
    """The bytes of one of those files (None for none); one that cannot be read is bad input, saying why."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None


class SignInAdmin(Protocol):
    """Each call blocks until done (run it on a worker); errors are `KeybrokerError`s saying the fix."""

    def records(self) -> list[SignInRecord]:
        """Every sign-in row (never a value)."""
        ...

    def set_client(
        self, slug: str, scheme: str, client_id: str, secret: SecretValue | None, redirect_uri: str | None
    ) -> SignInRecord:
        """`auth client`: a secret makes the client confidential, None public."""
        ...

    def login(self, slug: str, scheme: str) -> SignInRecord:
        """`auth login`: the best flow the card and server offer (the browser or a device code)."""
        ...

    def cancel_login(self) -> None:
        """End a running `login` (from any thread): it raises `SignInDenied`; nothing is stored."""
        ...

    def logout(self, slug: str, scheme: str) -> str | None:
        """`auth logout`: revoke where offered, forget; why it was not revoked, or None."""
        ...

    def import_certificate(self, slug: str, scheme: str, files: CertificateFiles) -> SignInRecord:
        """`auth cert`: read and check the files, keep the certificate and key in the vault."""
        ...
