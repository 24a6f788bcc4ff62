# SPDX-License-Identifier: Apache-2.0
"""Sign-ins for agents' OAuth 2 / OpenID Connect / mutual TLS card schemes: what is not a secret.

One row per (agent, scheme): the client it uses (id, public or confidential, registered by us through
RFC 7591 or set by the user), the flow and issuer of the last sign-in, the scopes granted, when the
access token expires, whether a refresh token is held, who signed in, and the client certificate's
subject and end of validity. Tokens, refresh tokens, client secrets and private keys are never here:
they live in the vault entry named by `account` (core/auth/token_set.py says its shape).
"""

from __future__ import annotations

import dataclasses
import secrets as _random
from dataclasses import dataclass

from keybroker.core.catalog.db import Database
from keybroker.core.catalog.rows import BOOL, Rows

__all__ = ["SIGNIN_ROWS", "SignInBook", "SignInRecord", "new_account"]


def new_account() -> str:
    """A fresh vault account for one sign-in's values (never reused after a sign-out)."""
    return f"signin-{_random.token_hex(12)}"


@dataclass(frozen=True, slots=True)
class SignInRecord:
    """One agent scheme's sign-in, without any value (see the module docstring)."""

    agent: str
    scheme: str
    account: str
    flow: str | None = None  # client | code | device (the last sign-in's)
    issuer: str | None = None
    client_id: str | None = None
    public: bool = True
    registered: bool = False  # the client was registered by Keybroker (RFC 7591)
    redirect_uri: str | None = None  # the loopback redirect the client was registered with
    scopes: str = ""  # granted, space-separated
    subject: str | None = None  # who signed in (ID token or access token `sub`)
    expires: float | None = None  # the access token's end (epoch seconds)
    refresh_held: bool = False
    signed_in: float | None = None
    cert_subject: str | None = None
    cert_not_after: float | None = None
    updated: float = 0.0

    @property
    def signed_in_now(self) -> bool:
        """True when tokens are held (an access token or a refresh token)."""
        return self.signed_in is not None

    def to_json(self) -> dict[str, object]:
        """What `auth list --json` and `GET /api/v1/auth` show: never a value."""
        return {
            "agent": self.agent,
            "scheme": self.scheme,
            "flow": self.flow,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client": None if self.client_id is None else ("public" if self.public else "confidential"),
            "registered": self.registered,
            "signed_in": self.signed_in_now,
            "subject": self.subject,
            "scopes": self.scopes.split(),
            "expires": self.expires,
            "refresh_token": self.refresh_held,
            "certificate": self.cert_subject,
            "certificate_not_after": self.cert_not_after,
        }

    def replace(self, **changes: object) -> SignInRecord:
        """A copy with `changes`."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


SIGNIN_ROWS: Rows[SignInRecord] = Rows(
    SignInRecord, {"public": BOOL, "registered": BOOL, "refresh_held": BOOL}
)


class SignInBook:
    """The `signins` table's operations."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def find(self, agent: str, scheme: str) -> SignInRecord | None:
        """The row of `agent`'s `scheme`, or None."""
        rows = self._db.query(
            f"SELECT {SIGNIN_ROWS.columns} FROM signins WHERE agent = ? AND scheme = ?", (agent, scheme)
        )
        return SIGNIN_ROWS.record(list(rows[0])) if rows else None

    def list(self, agent: str | None = None) -> list[SignInRecord]:
        """Every row (of one agent), by agent and scheme."""
        where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
        rows = self._db.query(
            f"SELECT {SIGNIN_ROWS.columns} FROM signins {where} ORDER BY agent, scheme", params
        )
        return [SIGNIN_ROWS.record(list(r)) for r in rows]

    def put(self, record: SignInRecord) -> SignInRecord:
        """Insert or replace `record`, stamped with the catalog clock's `updated`."""
        stamped = record.replace(updated=max(self._db.clock.now(), record.updated + 1e-6))
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO signins ({SIGNIN_ROWS.columns}) VALUES ({SIGNIN_ROWS.placeholders})",
                SIGNIN_ROWS.row(stamped),
            )
        return stamped

    def delete(self, agent: str, scheme: str) -> bool:
        """Drop the row; True when there was one."""
        with self._db.transaction() as conn:
            cursor = conn.execute("DELETE FROM signins WHERE agent = ? AND scheme = ?", (agent, scheme))
            return int(cursor.rowcount) > 0
