# SPDX-License-Identifier: Apache-2.0
"""One sign-in's values, as its vault entry holds them: a JSON object inside a `SecretValue`.

Members, each optional: `access_token`, `refresh_token`, `id_token`, `expires_at` (epoch seconds),
`client_secret` (a confidential client's), and for mutual TLS `cert_pem`, `key_pem` (the private key,
PEM, unencrypted: the vault is what protects it) and `ca_pem` (the agent's pinned CA). `repr` shows
which members are held, never a value; `to_value()` is the only way the JSON is built.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from keybroker.core.errors import VaultError
from keybroker.core.models import SecretValue

__all__ = ["TokenSet"]

_FIELDS = ("access_token", "refresh_token", "id_token", "client_secret", "cert_pem", "key_pem", "ca_pem")


@dataclass(frozen=True, repr=False)
class TokenSet:
    """The values of one sign-in (module docstring)."""

    access_token: SecretValue | None = None
    refresh_token: SecretValue | None = None
    id_token: SecretValue | None = None
    client_secret: SecretValue | None = None
    cert_pem: SecretValue | None = None
    key_pem: SecretValue | None = None
    ca_pem: SecretValue | None = None
    expires_at: float | None = None

    def __repr__(self) -> str:
        held = [name for name in _FIELDS if getattr(self, name) is not None]
        return f"TokenSet(held={held}, expires_at={self.expires_at})"

    def replace(self, **changes: Any) -> TokenSet:
        """A copy with `changes`."""
        return dataclasses.replace(self, **changes)

    def without_tokens(self) -> TokenSet:
        """What a sign-out keeps: the client's secret and the certificate."""
        return self.replace(access_token=None, refresh_token=None, id_token=None, expires_at=None)

    @property
    def empty(self) -> bool:
        """True when nothing is held."""
        return all(getattr(self, name) is None for name in _FIELDS)

    def to_value(self) -> SecretValue:
        """The vault value."""
        data: dict[str, Any] = {n: v.reveal() for n in _FIELDS if (v := getattr(self, n)) is not None}
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at
        return SecretValue(json.dumps(data, separators=(",", ":"), sort_keys=True))

    @classmethod
    def from_value(cls, value: SecretValue | None, account: str) -> TokenSet:
        """Read a vault value back; an entry that is not ours says so (naming the account only)."""
        if value is None:
            return cls()
        try:
            data = json.loads(value.reveal())
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise VaultError(f"the vault entry {account!r} does not hold a Keybroker sign-in")
        items: dict[str, Any] = {
            n: SecretValue(v) for n in _FIELDS if isinstance(v := data.get(n), str) and v
        }
        expires = data.get("expires_at")
        return cls(**items, expires_at=float(expires) if isinstance(expires, int | float) else None)
