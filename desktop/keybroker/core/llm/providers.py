# SPDX-License-Identifier: Apache-2.0
"""The user's model providers: records in the catalog, keys in the vault (never in a settings file).

Write order: the key goes into the vault first, then the row; removal drops the row first, then the
key. A crash in between leaves at most a vault entry no row names, which `doctor` finds as a
leftover (core/secrets/leftovers.py). Every change is audited (`created`, `updated`, `deleted`, with
the key `model-provider:<name>`), never a value.
"""

from __future__ import annotations

import re
import secrets as _random
from dataclasses import replace
from urllib.parse import urlsplit

from keybroker.core.audit.log import AuditLog
from keybroker.core.broker.transport import insecure_transport_reason
from keybroker.core.catalog.catalog import Catalog
from keybroker.core.errors import InvalidInputError, NotFoundError
from keybroker.core.llm.presets import preset
from keybroker.core.llm.records import PROVIDER_ROWS, Provider
from keybroker.core.models import AuditDecision, SecretValue
from keybroker.core.ports import SyncVault

__all__ = ["MAX_MODELS", "ProviderBook", "UnknownProviderError", "audit_key", "check_base_url"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Models kept per provider (an aggregator lists a few hundred).
MAX_MODELS = 2000
_MODEL_ID = 256


class UnknownProviderError(NotFoundError):
    """No provider by that name (exit 3)."""


def audit_key(name: str) -> str:
    """How the audit names a provider."""
    return f"model-provider:{name}"


def check_name(name: str) -> str:
    """A provider name: 1-64 of letters, digits, `.`, `_`, `-`, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"provider name {name!r} is not valid",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def check_base_url(url: str, *, with_key: bool) -> str:
    """An http(s) base URL without credentials, query or fragment; no trailing slash.

    A key never travels in clear: with one, the URL must be https or a loopback address (DESIGN §4).
    """
    text = url.strip().rstrip("/") if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInputError(f"{url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"{url!r} is not an http(s) URL",
            hint="e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1",
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInputError("the base URL must not carry credentials, a query or a fragment")
    if with_key:
        problem = insecure_transport_reason(text)
        if problem is not None:
            raise InvalidInputError(
                f"the key would travel in clear to {parts.hostname}", hint="use https, or --no-key"
            )
    return text


class ProviderBook:
    """Adds, lists, changes and removes providers (module docstring)."""

    def __init__(self, catalog: Catalog, vault: SyncVault, audit: AuditLog) -> None:
        self._catalog = catalog
        self._vault = vault
        self._audit = audit
        #: `find`'s answers (the gateway asks on every request); every write here empties it.
        self._found: dict[str, Provider | None] = {}

    def all(self) -> list[Provider]:
        """Every provider, by name."""
        rows = self._catalog.query(f"SELECT {PROVIDER_ROWS.columns} FROM model_providers ORDER BY name")
        return [PROVIDER_ROWS.record(r) for r in rows]

    def find(self, name: str) -> Provider | None:
        """The provider called `name`, or None."""
        if name in self._found:
            return self._found[name]
        rows = self._catalog.query(
            f"SELECT {PROVIDER_ROWS.columns} FROM model_providers WHERE name = ?", (name,)
        )
        found = PROVIDER_ROWS.record(rows[0]) if rows else None
        self._found[name] = found
        return found

    def get(self, name: str) -> Provider:
        """The provider called `name`; `UnknownProviderError` (exit 3) otherwise."""
        found = self.find(name)
        if found is None:
            raise UnknownProviderError(
                f"no model provider named {name!r}", hint="see `keybroker models list`"
            )
        return found

    def add(
        self,
        name: str,
        base_url: str | None,
        key: SecretValue | None,
        *,
        preset_name: str = "",
        handover: bool = False,
        caller: str | None = None,
    ) -> Provider:
        """Add (or replace) a provider; `base_url` None takes the preset's. The key goes to the vault."""
        check_name(name)
        chosen = preset(preset_name)
        if key is not None and not key.reveal().strip():
            raise InvalidInputError("the key is empty", hint="give the key on stdin, or use --no-key")
        url = check_base_url(base_url or chosen.base_url, with_key=key is not None)
        now = self._catalog.clock.now()
        old = self.find(name)
        account = None
        if key is not None:
            account = old.key_account if old is not None and old.key_account else _new_account()
            self._vault.set(account, key)
        provider = Provider(
            name=name,
            base_url=url,
            preset=chosen.name if preset_name else (old.preset if old else "custom"),
            key_account=account,
            handover=handover,
            models=old.models if old is not None and old.base_url == url else (),
            models_checked=old.models_checked if old is not None and old.base_url == url else None,
            status=None,
            created=old.created if old is not None else now,
            updated=now,
        )
        self._save(provider)
        if old is not None and old.key_account and account != old.key_account:
            self._vault.delete(old.key_account)
        self._audit.append(
            AuditDecision.UPDATED if old is not None else AuditDecision.CREATED,
            key=audit_key(name),
            caller=caller,
            detail=f"model provider {url} ({'a key in the vault' if key else 'no key'}"
            f"{', handing the key over allowed' if handover else ''})",
        )
        return provider

    def remove(self, name: str, *, caller: str | None = None) -> Provider:
        """Drop the provider, its grants and its key (audited)."""
        provider = self.get(name)
        self._found = {}
        with self._catalog.transaction() as conn:
            conn.execute("DELETE FROM model_providers WHERE name = ?", (name,))
            conn.execute("DELETE FROM model_grants WHERE provider = ?", (name,))
        if provider.key_account:
            self._vault.delete(provider.key_account)
        self._audit.append(AuditDecision.DELETED, key=audit_key(name), caller=caller, detail="model provider")
        return provider

    def key(self, provider: Provider) -> SecretValue | None:
        """The provider's key from the vault (None for a provider without one)."""
        return self._vault.get(provider.key_account) if provider.key_account else None

    def set_models(self, name: str, models: list[str]) -> Provider:
        """Record the models `GET /models` listed (deduplicated, bounded)."""
        clean: list[str] = []
        for model in models:
            if isinstance(model, str) and 0 < len(model) <= _MODEL_ID and model not in clean:
                clean.append(model)
        provider = replace(
            self.get(name),
            models=tuple(clean[:MAX_MODELS]),
            models_checked=self._catalog.clock.now(),
            status=None,
        )
        self._save(provider)
        return provider

    def set_status(self, name: str, status: str | None) -> Provider | None:
        """Remember why the provider failed (None: it works again); None when it is gone."""
        found = self.find(name)
        if found is None or found.status == status:
            return found
        provider = replace(found, status=status)
        self._save(provider)
        return provider

    def _save(self, provider: Provider) -> None:
        sql = (
            f"INSERT OR REPLACE INTO model_providers ({PROVIDER_ROWS.columns}) "
            f"VALUES ({PROVIDER_ROWS.placeholders})"
        )
        self._found = {}
        with self._catalog.transaction() as conn:
            conn.execute(sql, PROVIDER_ROWS.row(provider))


def _new_account() -> str:
    return "mp_" + _random.token_hex(8)
