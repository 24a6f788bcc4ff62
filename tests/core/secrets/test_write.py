"""`write_secret`: the one crash-safe write order, awaited by the broker (a value typed into a prompt)
and run blocking by `SecretStore.set`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from keybroker.core.errors import CatalogError, VaultError, VaultLocked, VaultUnavailable
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.core.secrets.recovery import repair
from keybroker.core.secrets.value_io import AsyncValueIO, run_blocking
from keybroker.core.secrets.write import write_secret
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card

AGENT_URL = "http://127.0.0.1:9001"


class RecordingIO:
    """A `ValueIO` over the memory vault that records its calls and fails on request."""

    def __init__(
        self,
        services: Services,
        *,
        fail_write: bool = False,
        fail_discard: bool = False,
        failure: type[VaultError] = VaultError,
    ) -> None:
        self.inner = AsyncValueIO(services.vault)
        self.fail_write = fail_write
        self.fail_discard = fail_discard
        self.failure = failure
        self.hold: asyncio.Event | None = None
        self.calls: list[tuple[str, str]] = []
        self.unsettled_during_write: int | None = None
        self.services = services

    async def read(self, account: str) -> SecretValue | None:
        self.calls.append(("read", account))
        return await self.inner.read(account)

    async def write(self, account: str, value: SecretValue) -> None:
        self.calls.append(("write", account))
        self.unsettled_during_write = len(self.services.catalog.unsettled_secrets())
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_write:
            raise self.failure("the vault failed the write")
        await self.inner.write(account, value)

    async def discard(self, account: str) -> None:
        self.calls.append(("discard", account))
        if self.fail_discard:
            raise self.failure("the vault failed the delete")
        await self.inner.discard(account)


def _decisions(services: Services) -> list[AuditDecision]:
    return [e.decision for e in services.audit.events()]


@pytest.mark.asyncio
async def test_create_writes_pending_then_vault_then_ready(services: Services) -> None:
    io = RecordingIO(services)
    result = await write_secret(
        services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
    )
    assert result.created and io.unsettled_during_write == 1  # the row was pending during the write
    assert services.catalog.unsettled_secrets() == []
    assert services.vault.get(result.record.secret_id) == SecretValue("v1")
    assert services.catalog.list_grants() == []  # shared: no owner grant
    assert _decisions(services) == [AuditDecision.CREATED]


@pytest.mark.asyncio
@pytest.mark.parametrize("owner_grant", [True, False])
async def test_the_owner_grant_only_when_asked(
    services: Services, cards: CardServer, owner_grant: bool
) -> None:
    cards.cards[AGENT_URL] = make_card()
    services.agents.add(AGENT_URL, slug="demo")
    io = RecordingIO(services)
    created = await write_secret(
        services.catalog,
        services.audit,
        io,
        "github",
        SecretValue("v1"),
        owner="demo",
        owner_grant=owner_grant,
        detail="typed into prompt pr_1",
    )
    grants = services.catalog.list_grants(agent="demo")
    assert [g.scope for g in grants] == ([GrantScope.ALWAYS] if owner_grant else [])
    event = services.audit.events()[-1]
    assert event.scope == ("always" if owner_grant else None)
    assert event.detail == "typed into prompt pr_1"
    assert created.record.name == "GitHub token"  # the card's demand name


@pytest.mark.asyncio
async def test_replace_keeps_the_id_and_the_name_and_tells_the_cache_around_the_write(
    services: Services,
) -> None:
    first = services.secrets.set("TOKEN", SecretValue("v1"), name="My token").record
    changed: list[str] = []
    io = RecordingIO(services)
    result = await write_secret(
        services.catalog,
        services.audit,
        io,
        "TOKEN",
        SecretValue("v2"),
        owner=None,
        owner_grant=False,
        on_value_changed=changed.append,
        detail="typed into prompt pr_2",
    )
    assert not result.created and result.record.secret_id == first.secret_id
    assert result.record.name == "My token"
    assert changed == [first.secret_id, first.secret_id]
    assert services.vault.get(first.secret_id) == SecretValue("v2")
    assert services.audit.events()[-1].detail == "value replaced: typed into prompt pr_2"


@pytest.mark.asyncio
async def test_a_failed_write_leaves_nothing_behind(services: Services) -> None:
    io = RecordingIO(services, fail_write=True)
    with pytest.raises(VaultError):
        await write_secret(
            services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
        )
    assert [c[0] for c in io.calls] == ["write", "discard"]
    assert services.catalog.unsettled_secrets() == [] and services.catalog.list_secrets() == []
    assert _decisions(services) == []
    # Nothing blocks the next try.
    again = await write_secret(
        services.catalog,
        services.audit,
        RecordingIO(services),
        "TOKEN",
        SecretValue("v2"),
        owner=None,
        owner_grant=True,
    )
    assert again.created


@pytest.mark.asyncio
async def test_a_failed_write_whose_value_cannot_be_deleted_stays_pending_for_recovery(
    services: Services,
) -> None:
    io = RecordingIO(services, fail_write=True, fail_discard=True)
    with pytest.raises(VaultError):
        await write_secret(
            services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
        )
    [row] = services.catalog.unsettled_secrets()
    assert row.state == "pending" and row.record.key == "TOKEN"
    repaired = repair(services.catalog, services.vault, services.audit)
    assert len(repaired) == 1 and "never reached the vault" in repaired[0]
    assert services.catalog.unsettled_secrets() == []


@pytest.mark.asyncio
async def test_a_write_cancelled_midway_is_undone(services: Services) -> None:
    io = RecordingIO(services)
    io.hold = asyncio.Event()
    task = asyncio.create_task(
        write_secret(
            services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
        )
    )
    while not io.calls:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [c[0] for c in io.calls] == ["write", "discard"]
    assert services.catalog.unsettled_secrets() == [] and services.catalog.list_secrets() == []


def test_the_blocking_store_runs_the_same_order_without_a_loop(services: Services) -> None:
    # SecretStore.set is write_secret over the blocking vault: a failing vault write is undone the same way.
    original = services.vault.set

    def failing(account: str, value: object) -> None:
        raise VaultError("the vault is locked")

    services.vault.set = failing  # type: ignore[method-assign,assignment]
    try:
        with pytest.raises(VaultError):
            services.secrets.set("TOKEN", SecretValue("v1"))
    finally:
        services.vault.set = original  # type: ignore[method-assign]
    assert services.catalog.unsettled_secrets() == [] and services.catalog.list_secrets() == []
    assert services.secrets.set("TOKEN", SecretValue("v2")).created


@pytest.mark.asyncio
async def test_the_blocking_store_also_works_inside_a_running_loop(services: Services) -> None:
    assert services.secrets.set("TOKEN", SecretValue("v1")).created  # no asyncio.run: no nested-loop error


def test_a_coroutine_that_suspends_cannot_be_run_blocking() -> None:
    async def suspends() -> int:
        await asyncio.sleep(0)
        return 1

    coroutine: Coroutine[Any, Any, int] = suspends()
    with pytest.raises(RuntimeError, match="suspended"):
        run_blocking(coroutine)


@pytest.mark.asyncio
@pytest.mark.parametrize("failure", [VaultLocked, VaultUnavailable])
async def test_a_write_the_vault_refused_leaves_no_pending_row(
    services: Services, failure: type[VaultError]
) -> None:
    # A locked vault stored nothing: a pending row left behind would make every later command (which
    # repairs at start) fail against the same locked vault.
    io = RecordingIO(services, fail_write=True, fail_discard=True, failure=failure)
    with pytest.raises(failure):
        await write_secret(
            services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
        )
    assert [c[0] for c in io.calls] == ["write"]  # the refusing vault is not asked (or prompted) again
    assert services.catalog.unsettled_secrets() == [] and services.catalog.list_secrets() == []
    assert _decisions(services) == []


class DiskFull:
    """Makes one catalog or audit call fail as a full disk does, `times` times."""

    def __init__(self, times: int = 1) -> None:
        self.times = times

    def __call__(self, *args: object, **kwargs: object) -> None:
        if self.times > 0:
            self.times -= 1
            raise CatalogError("the catalog cannot be written: database or disk is full", hint="free space")


@pytest.mark.asyncio
@pytest.mark.parametrize("failing", ["update_secret", "append"])
async def test_a_replace_that_cannot_be_recorded_puts_the_old_value_back(
    services: Services, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    first = services.secrets.set("TOKEN", SecretValue("old"), name="Mine").record
    target = services.catalog if failing == "update_secret" else services.audit
    monkeypatch.setattr(target, failing, DiskFull())
    changed: list[str] = []
    with pytest.raises(CatalogError) as info:
        await write_secret(
            services.catalog,
            services.audit,
            RecordingIO(services),
            "TOKEN",
            SecretValue("new"),
            owner=None,
            owner_grant=True,
            name="Other",
            on_value_changed=changed.append,
        )
    assert "nothing was changed" in (info.value.hint or "")
    assert services.vault.get(first.secret_id) == SecretValue("old")
    assert services.catalog.get_secret(first.secret_id) == first  # name and time as before
    assert _decisions(services) == [AuditDecision.CREATED]
    assert changed[-1] == first.secret_id  # the cache hears of the value put back


@pytest.mark.asyncio
async def test_a_replace_whose_old_value_cannot_be_put_back_says_the_new_one_is_in_the_vault(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = services.secrets.set("TOKEN", SecretValue("old")).record
    monkeypatch.setattr(services.catalog, "update_secret", DiskFull())
    io = RecordingIO(services)
    original_write = io.inner.write
    writes = 0

    async def second_write_fails(account: str, value: SecretValue) -> None:
        nonlocal writes
        writes += 1
        if writes > 1:
            raise VaultLocked("the vault is locked")
        await original_write(account, value)

    monkeypatch.setattr(io.inner, "write", second_write_fails)
    with pytest.raises(CatalogError) as info:
        await write_secret(
            services.catalog,
            services.audit,
            io,
            "TOKEN",
            SecretValue("canary-new-value"),
            owner=None,
            owner_grant=True,
        )
    text = f"{info.value.message} {info.value.hint}"
    assert "IS in the vault but was not recorded" in text and "secrets set" in text
    assert "nothing was changed" not in text
    assert "canary" not in text  # names, never the value
    assert services.vault.get(first.secret_id) == SecretValue("canary-new-value")


@pytest.mark.asyncio
async def test_a_create_that_cannot_be_audited_is_taken_back(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.audit, "append", DiskFull())
    io = RecordingIO(services)
    with pytest.raises(CatalogError) as info:
        await write_secret(
            services.catalog, services.audit, io, "TOKEN", SecretValue("v1"), owner=None, owner_grant=True
        )
    assert "nothing was stored" in (info.value.hint or "")
    [(_, account)] = [c for c in io.calls if c[0] == "write"]
    assert services.vault.get(account) is None
    assert services.catalog.list_secrets() == [] and services.catalog.unsettled_secrets() == []
