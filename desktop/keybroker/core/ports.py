# SPDX-License-Identifier: Apache-2.0
"""The domain's ports: every Protocol the core calls and never implements, in one place.

The UI, the terminal, the wire (core/a2a), the wiring and tests supply them:

- `Clock`: wall-clock time (tests inject a fake one);
- `Notifier`, `Prompter`: tell and ask the user (tray or terminal);
- `SyncVault`, `AsyncVault`: the values, blocking or awaited (core/vault/vault.py's `Vault` fits both);
- `CardFetcher`: reads an agent's card for the registry (core/a2a/card_fetch.py), so the domain never
  speaks HTTP or A2A;
- `Stores`: the data home's objects, opened together (wiring/services.py's `Services` fits).

The bridge has ports of its own, toward the broker (core/bridge/ports.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from keybroker.core.audit.log import AuditLog
    from keybroker.core.broker.grant_book import GrantBook
    from keybroker.core.broker.prompts import PromptAnswer, PromptRequest
    from keybroker.core.catalog.catalog import Catalog
    from keybroker.core.models import SecretDemand, SecretValue, SecurityScheme
    from keybroker.core.vault.vault import Vault

__all__ = [
    "AsyncVault",
    "CardFetcher",
    "CardSummary",
    "Clock",
    "FetchedCardLike",
    "Notifier",
    "ProbeResultLike",
    "Prompter",
    "ProviderClient",
    "Stores",
    "SyncVault",
    "SystemClock",
]


class Clock(Protocol):
    """Wall-clock seconds since the epoch. Tests inject a fake one."""

    def now(self) -> float:
        """The current time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """`time.time()`."""
        return time.time()


class Notifier(Protocol):
    """Tells the user something without asking (tray balloon, terminal line)."""

    def notify(self, title: str, body: str) -> None:
        """Show a short notice; never blocks."""
        ...


class Prompter(Protocol):
    """Asks the user; the app's dialog, the terminal and tests implement it (core/broker/prompts.py).

    `ask` may take as long as the user does: the broker cancels it at the deadline (close the dialog on
    `CancelledError`). Raising declines the request, like a "deny".
    """

    async def ask(self, request: PromptRequest) -> PromptAnswer:
        """Show `request` and return the user's answer."""
        ...


class SyncVault(Protocol):
    """Values by account, blocking (the CLI, the audit head, the API token)."""

    def get(self, account: str) -> SecretValue | None: ...
    def set(self, account: str, value: SecretValue) -> None: ...
    def delete(self, account: str) -> bool: ...


class AsyncVault(Protocol):
    """Values by account, awaited: the event loop never blocks on the vault (the broker, the app)."""

    async def aget(self, account: str) -> SecretValue | None: ...
    async def aset(self, account: str, value: SecretValue) -> None: ...
    async def adelete(self, account: str) -> bool: ...


class CardSummary(Protocol):
    """What the registry keeps of a parsed agent card (core/a2a/card.py's `ParsedCard` fits)."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def protocol_versions(self) -> tuple[str, ...]: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def demands(self) -> tuple[SecretDemand, ...]: ...
    @property
    def schemes(self) -> tuple[SecurityScheme, ...]: ...
    @property
    def security(self) -> tuple[tuple[str, ...], ...]: ...
    @property
    def streaming(self) -> bool: ...


class FetchedCardLike(Protocol):
    """A card as fetched: where from, the JSON as served, its summary (card_fetch.py's `FetchedCard`)."""

    @property
    def base_url(self) -> str: ...
    @property
    def card_url(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def parsed(self) -> CardSummary: ...


#: `fetch(url)`: the card at an agent's base or card URL; raises the core's errors (unreachable,
#: invalid card, invalid URL).
CardFetcher = Callable[[str], FetchedCardLike]


class ProbeResultLike(Protocol):
    """What a provider's tiny test call showed (core/a2a/model_provider.py's `ProbeResult`)."""

    @property
    def status(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def reply(self) -> str: ...


class ProviderClient(Protocol):
    """Talks to an OpenAI-compatible model provider for the user (issue 14; core/a2a/model_provider.py).

    Raises the core's errors: `BridgeError` (unreachable, an error answer), `PolicyDenied` (key refused).
    """

    def list_models(self, name: str, base_url: str, key: SecretValue | None) -> list[str]: ...
    def try_model(
        self, name: str, base_url: str, key: SecretValue | None, model: str, kind: str
    ) -> ProbeResultLike: ...


class Stores(Protocol):
    """The data home's objects, opened together (wiring/services.py's `Services` fits)."""

    @property
    def vault(self) -> Vault: ...
    @property
    def catalog(self) -> Catalog: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def grants(self) -> GrantBook: ...
