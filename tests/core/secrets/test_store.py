"""Secrets as the user manages them: ids, owners, owner grants, ambiguity, audit."""

from __future__ import annotations

import pytest

from keybroker.core.errors import (
    AmbiguousSecretError,
    CatalogError,
    InvalidInputError,
    UnknownAgentError,
    UnknownSecretError,
    VaultError,
    VaultLocked,
    VaultUnavailable,
)
from keybroker.core.models import AuditDecision, GrantScope, SecretValue
from keybroker.wiring.services import Services
from tests.core.conftest import CardServer, make_card


@pytest.fixture
def with_agent(services: Services, cards: CardServer) -> Services:
    cards.cards["http://127.0.0.1:9001"] = make_card("Demo")
    services.agents.add("http://127.0.0.1:9001", slug="demo")
    return services


def test_set_then_replace_keeps_the_secret_id(services: Services) -> None:
    first = services.secrets.set("API_KEY", SecretValue("one"))
    assert first.created
    second = services.secrets.set("API_KEY", SecretValue("two"), description="new")
    assert not second.created
    assert second.record.secret_id == first.record.secret_id
    assert second.record.description == "new"
    assert services.vault.get(first.record.secret_id) == SecretValue("two")
    decisions = [e.decision for e in services.audit.events()]
    assert decisions == [AuditDecision.CREATED, AuditDecision.UPDATED]


def test_value_stored_for_an_agent_carries_an_always_grant(with_agent: Services) -> None:
    svc = with_agent
    rec = svc.secrets.set("github", SecretValue("ghp_x"), owner="demo").record
    assert rec.name == "GitHub token"  # the demand's name from the card
    grants = svc.catalog.list_grants(agent="demo")
    assert [(g.scope, g.secret_id) for g in grants] == [(GrantScope.ALWAYS, rec.secret_id)]
    assert grants[0].card_fingerprint == svc.catalog.get_agent("demo").fingerprint
    svc.secrets.set("github", SecretValue("ghp_y"), owner="demo")
    assert len(svc.catalog.list_grants(agent="demo")) == 1


def test_shared_value_gets_no_grant(services: Services) -> None:
    services.secrets.set("github", SecretValue("x"))
    assert services.catalog.list_grants() == []


def test_unknown_owner_exits_3(services: Services) -> None:
    with pytest.raises(UnknownAgentError) as err:
        services.secrets.set("k", SecretValue("v"), owner="ghost")
    assert err.value.exit_code == 3
    assert services.catalog.list_secrets() == []


def test_resolve_rules(with_agent: Services) -> None:
    svc = with_agent
    shared = svc.secrets.set("github", SecretValue("a")).record
    assert svc.secrets.resolve("github") == shared
    own = svc.secrets.set("github", SecretValue("b"), owner="demo").record
    with pytest.raises(AmbiguousSecretError) as err:
        svc.secrets.resolve("github")
    assert err.value.exit_code == 2
    assert "demo" in str(err.value) and "shared" in str(err.value)
    assert svc.secrets.resolve("github", None) == shared
    assert svc.secrets.resolve("github", "demo") == own
    assert svc.secrets.resolve(own.secret_id) == own
    with pytest.raises(UnknownSecretError):
        svc.secrets.resolve("nothing")
    with pytest.raises(UnknownAgentError):
        svc.secrets.resolve("github", "ghost")


def test_owned_secret_outlives_its_agent_and_can_still_be_removed(with_agent: Services) -> None:
    svc = with_agent
    own = svc.secrets.set("github", SecretValue("b"), owner="demo").record
    svc.agents.remove("demo")
    assert svc.secrets.resolve("github", "demo") == own
    svc.secrets.remove(own)
    assert svc.vault.get(own.secret_id) is None


def test_remove_deletes_value_record_and_grants(with_agent: Services) -> None:
    svc = with_agent
    rec = svc.secrets.set("github", SecretValue("b"), owner="demo").record
    svc.secrets.remove(rec)
    assert svc.catalog.list_secrets() == []
    assert svc.catalog.list_grants() == []
    assert svc.vault.get(rec.secret_id) is None
    assert svc.audit.events()[-1].decision is AuditDecision.DELETED


def test_reveal_is_audited_and_never_logs_the_value(services: Services) -> None:
    rec = services.secrets.set("k", SecretValue("canary-value-123")).record
    assert services.secrets.reveal(rec, caller="test").reveal() == "canary-value-123"
    last = services.audit.events()[-1]
    assert last.decision is AuditDecision.REVEALED and last.caller == "test"
    assert "canary-value-123" not in repr(services.audit.events())


def test_update_metadata_and_value(services: Services) -> None:
    rec = services.secrets.set("k", SecretValue("v1")).record
    new = services.secrets.update(rec, name="Nice name", value=SecretValue("v2"))
    assert new.name == "Nice name"
    assert services.vault.get(rec.secret_id) == SecretValue("v2")
    assert services.audit.events()[-1].detail == "changed: name, value"


@pytest.mark.parametrize("key", ["", "x" * 129, "bad\nkey", "tab\tkey"])
def test_bad_keys_are_refused(services: Services, key: str) -> None:
    with pytest.raises(InvalidInputError):
        services.secrets.set(key, SecretValue("v"))
    assert services.catalog.list_secrets() == []


def test_oversized_value_is_refused_and_nothing_stored(services: Services) -> None:
    with pytest.raises(InvalidInputError, match="64 KiB"):
        services.secrets.set("k", SecretValue("é" * 40_000))
    assert services.catalog.list_secrets() == []


def test_unusual_keys_are_fine(services: Services) -> None:
    for key in ("SLACK_API_KEY", "my key with spaces", "ключ", "a/b:c@d", "x" * 128):
        services.secrets.set(key, SecretValue("v"))
    assert len(services.catalog.list_secrets()) == 5


@pytest.mark.parametrize("failure", [VaultLocked, VaultUnavailable])
def test_a_delete_the_vault_refused_leaves_the_secret_as_it_was(
    with_agent: Services, monkeypatch: pytest.MonkeyPatch, failure: type[VaultError]
) -> None:
    svc = with_agent
    rec = svc.secrets.set("github", SecretValue("b"), owner="demo").record

    def refused(account: str) -> bool:
        raise failure("the vault is locked")

    monkeypatch.setattr(svc.vault, "delete", refused)
    with pytest.raises(failure):
        svc.secrets.remove(rec)
    # "could not delete" is true: still listed, still granted, nothing for recovery to finish later.
    assert svc.catalog.list_secrets() == [rec]
    assert svc.catalog.unsettled_secrets() == []
    assert len(svc.catalog.list_grants(secret_id=rec.secret_id)) == 1
    assert svc.audit.events()[-1].decision is not AuditDecision.DELETED


def test_a_value_update_that_cannot_be_recorded_puts_the_old_value_back(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = services.secrets.set("k", SecretValue("v1")).record

    def disk_full(*args: object, **kwargs: object) -> None:
        raise CatalogError("database or disk is full", hint="free some disk space and try again")

    monkeypatch.setattr(services.catalog, "update_secret", disk_full)
    with pytest.raises(CatalogError) as info:
        services.secrets.update(rec, value=SecretValue("v2"))
    assert "nothing was changed" in (info.value.hint or "")
    assert services.vault.get(rec.secret_id) == SecretValue("v1")
    assert [e.decision for e in services.audit.events()] == [AuditDecision.CREATED]


def test_a_metadata_update_that_cannot_be_audited_is_undone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = services.secrets.set("k", SecretValue("v1"), name="Old").record

    def locked(*args: object, **kwargs: object) -> None:
        raise VaultLocked("the vault is locked; could not store 'keybroker.audit-head'")

    monkeypatch.setattr(services.audit, "append", locked)
    with pytest.raises(VaultLocked):
        services.secrets.update(rec, name="renamed")
    assert services.catalog.get_secret(rec.secret_id) == rec
