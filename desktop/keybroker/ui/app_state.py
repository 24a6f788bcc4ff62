# SPDX-License-Identifier: Apache-2.0
"""The app's state as the tray shows it: one value, its icon, its status line and tooltip. No Qt here."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from keybroker.ui.icon_art import IconState


class AppState(enum.StrEnum):
    """What the app is doing; `AppEvents.state_changed` carries these values."""

    STARTING = "starting"
    READY = "ready"
    LOCKED = "locked"
    PAUSED = "paused"
    VAULT_UNAVAILABLE = "vault-unavailable"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the tray's icon, tooltip and status line say."""

    state: AppState
    url: str | None = None
    pending: int = 0
    problem: str | None = None
    """Why the vault is unavailable or the bridge stopped, with the fix."""
    vault: str | None = None
    """The vault's one-line description."""
    session_only: bool = False
    vault_trouble: str | None = None
    """While serving: why values not yet in memory cannot be released (the team vault refused the
    token, or cannot be reached), with the fix; values already granted and in memory still are."""
    refusing: tuple[str, ...] = ()
    """Model providers that refused their key since it last worked (issue 14)."""


def icon_state(state: AppState, pending: int, *, vault_trouble: bool = False) -> IconState:
    """The icon: a broken vault or a stopped bridge outrank a waiting request, which outranks trouble
    with the vault while serving (shown as the vault's icon), which outranks a lock."""
    if state is AppState.VAULT_UNAVAILABLE:
        return IconState.VAULT_UNAVAILABLE
    if state in (AppState.STOPPED, AppState.PAUSED, AppState.STARTING):
        return IconState.STOPPED
    if pending > 0:
        return IconState.WAITING
    if vault_trouble:
        return IconState.VAULT_UNAVAILABLE
    if state is AppState.LOCKED:
        return IconState.LOCKED
    return IconState.READY


def _requests(pending: int) -> str:
    return "1 request waiting" if pending == 1 else f"{pending} requests waiting"


def status_line(status: Status) -> str:
    """The first, disabled line of the tray menu."""
    state = status.state
    if state is AppState.STARTING:
        return "Keybroker is starting…"
    if state is AppState.VAULT_UNAVAILABLE:
        return "Vault unavailable: nothing can be stored or released"
    if state is AppState.STOPPED:
        return "Bridge stopped: agents cannot be reached"
    if state is AppState.PAUSED:
        return "Bridge paused"
    if status.pending:
        return _requests(status.pending)
    if status.vault_trouble:
        return "Vault trouble: only values already in memory are released"
    where = f" on {status.url}" if status.url else ""
    if state is AppState.LOCKED:
        return f"Locked: every request asks{where}"
    return f"Ready{where}"


#: `(keybroker.core.vault.secret_service.SecretServiceKeyring)`: a class path says nothing to a user.
_CLASS_PATH = re.compile(r"\s*\((?:[A-Za-z_][A-Za-z0-9_]*\.)+[A-Za-z_][A-Za-z0-9_]*\)")


def vault_text(description: str | None) -> str:
    """`vault.describe()` for people: no Python class paths, capitalised."""
    if not description:
        return ""
    text = _CLASS_PATH.sub("", description).strip()
    return text[:1].upper() + text[1:]


def tooltip(status: Status) -> str:
    """The tray tooltip: state, where the bridge listens, and the vault."""
    lines = [f"Keybroker: {status_line(status)}"]
    if status.problem:
        lines.append(status.problem)
    if status.vault_trouble and status.state in (AppState.READY, AppState.LOCKED):
        lines.append(status.vault_trouble)
    if status.url and status.state not in (AppState.STOPPED, AppState.PAUSED):
        lines.append(f"Bridge: {status.url}")
    if status.vault:
        lines.append(vault_text(status.vault))
    for provider in status.refusing:
        lines.append(f"Model provider {provider} refuses its key: update it in Settings → Models")
    return "\n".join(lines)
