# SPDX-License-Identifier: Apache-2.0
"""What only some vault backends can do: versions, team secrets, details (listing is `Vault.accounts`).

Each function asks the backend for an optional member (backend.py lists them) and runs it through the
vault's worker like any call, so timeouts and error mapping are the vault's. A backend without the
member (the OS vaults keep no versions) gives `NoVersionsError` (a usage error) naming what would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from keybroker.core.errors import NoVersionsError, VaultError
from keybroker.core.models import SecretValue
from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import TeamEntry, ValueVersion
from keybroker.core.vault.vault import Vault

log = logging.getLogger("keybroker.vault")

NO_VERSIONS_HINT = "versions are kept by a team vault: see `keybroker vault use openbao --help`"


def keeps_versions(vault: Vault) -> bool:
    """Whether the vault's backend keeps earlier versions of a value."""
    return callable(getattr(vault.backend, "versions", None))


def _require(vault: Vault, member: str, what: str) -> None:
    if not callable(getattr(vault.backend, member, None)):
        raise NoVersionsError(f"{vault.describe()} keeps no {what}", hint=NO_VERSIONS_HINT)


def value_history(vault: Vault, account: str) -> list[ValueVersion]:
    """Every version the vault keeps of the value at `account`, oldest first."""
    _require(vault, "versions", "versions of a value")
    versions: list[ValueVersion] = vault.call_backend(
        "read the versions of",
        account,
        lambda b: b.versions(vault.service, account),  # type: ignore[attr-defined]
    )
    return versions


def value_at(vault: Vault, account: str, version: int) -> SecretValue | None:
    """The value at `account` as it was in `version`; None when that version is deleted or absent."""
    _require(vault, "get_version", "versions of a value")
    raw: str | None = vault.call_backend(
        f"read version {version} of",
        account,
        lambda b: b.get_version(vault.service, account, version),  # type: ignore[attr-defined]
    )
    if raw is None:
        return None
    entry = fmt.parse_entry(raw, account)
    if not isinstance(entry, fmt.Inline):
        raise VaultError(f"version {version} of {account!r} is stored in chunks; it cannot be read back")
    return SecretValue(entry.value)


def keep_alive(vault: Vault) -> float | None:
    """Keep the backend's login alive while nothing else uses it (OpenBao: renew the token when due);
    the seconds until the next call is due, or None when the backend has nothing to keep alive."""
    if not callable(getattr(vault.backend, "keep_alive", None)):
        return None
    delay: float | None = vault.call_backend(
        "keep the login alive",
        None,
        lambda b: b.keep_alive(),  # type: ignore[attr-defined]
    )
    return delay


@dataclass(frozen=True, slots=True)
class TeamListing:
    """The team secrets a vault listed, and the teams it could not list (why, in a sentence each)."""

    entries: tuple[TeamEntry, ...] = ()
    problems: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    """The teams that were listed (their records may be settled; the others are left as they were)."""
    configured: tuple[str, ...] = ()
    """Every team the vault is set up for (a team not here has no secrets any more)."""


def team_listing(vault: Vault) -> TeamListing:
    """Every team secret the vault holds for the configured teams (none for a backend without teams)."""
    teams: tuple[str, ...] = tuple(getattr(getattr(vault.backend, "config", None), "teams", ()) or ())
    if not teams or not callable(getattr(vault.backend, "team_entries", None)):
        return TeamListing()
    entries: list[TeamEntry] = []
    problems: list[str] = []
    listed: list[str] = []
    for team in teams:
        try:
            found: list[TeamEntry] = vault.call_backend(
                f"list the secrets of team {team!r}",
                None,
                lambda b, team=team: b.team_entries(team),  # type: ignore[misc]
            )
        except VaultError as exc:
            log.warning("could not list team %s: %s", team, exc.message)
            problems.append(exc.message)
            continue
        entries.extend(found)
        listed.append(team)
    return TeamListing(tuple(entries), tuple(problems), tuple(listed), teams)


def vault_details(vault: Vault) -> dict[str, str]:
    """What `keybroker vault show` prints: the backend's own details, else its name and state."""
    details = getattr(vault.backend, "details", None)
    if callable(details):
        found: dict[str, str] = vault.call_backend("describe the vault", None, lambda b: details())
        return found
    return {"backend": "memory" if vault.is_memory else "system", "vault": vault.describe()}
