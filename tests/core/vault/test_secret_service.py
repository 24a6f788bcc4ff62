"""SecretServiceKeyring (our own Secret Service backend) passes the vault backend contract on the rig.

The vault-level contract on the real Secret Service, and compatibility with keyring's own backend, are in
tests/vault/test_secret_service.py; here: the backend by itself, and what it raises.
"""

from __future__ import annotations

from contextlib import closing

import pytest

from keybroker import APP_ID
from keybroker.core.vault.backend import BackendUnavailable, VaultBackend
from tests.core.vault.backend_contract import VaultBackendContract
from tests.vault import secret_service as rig

_PROBLEM = rig.rig_problem()
pytestmark = [pytest.mark.secret_service, pytest.mark.skipif(_PROBLEM is not None, reason=_PROBLEM or "")]


def _backend() -> VaultBackend:
    from keybroker.core.vault.secret_service import SecretServiceKeyring

    SecretServiceKeyring.check_viable()
    return SecretServiceKeyring()


class TestSecretServiceKeyringContract(VaultBackendContract):
    """The contract suite against gnome-keyring on the rig's private bus."""

    def make_backend(self) -> VaultBackend:
        return _backend()


def test_items_carry_keyrings_attributes_and_our_app_id() -> None:
    from keybroker.core.vault.secret_service import SecretServiceKeyring

    backend = SecretServiceKeyring()
    service = "keybroker-test-attributes"
    try:
        backend.set_password(service, "a", "v")
        assert rig.accounts(service) == {"a": b"v"}
        import secretstorage

        with closing(secretstorage.dbus_init()) as connection:
            items = list(secretstorage.search_items(connection, {"service": service, "username": "a"}))
            assert [item.get_attributes()["application"] for item in items] == [APP_ID]
            assert items[0].get_label() == f"Password for 'a' on '{service}'"
    finally:
        rig.delete_all(service)
        backend.close()


def test_no_bus_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from keybroker.core.vault.secret_service import SecretServiceKeyring

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    with pytest.raises(RuntimeError, match="DBUS_SESSION_BUS_ADDRESS"):
        SecretServiceKeyring.check_viable()
    with pytest.raises(BackendUnavailable):
        SecretServiceKeyring().get_password("keybroker-test", "a")


def test_lock_state_is_asked_of_ours_and_of_keyrings_own_backend() -> None:
    from keyring.backends import SecretService

    from keybroker.core.vault.choice import secret_service_locked
    from keybroker.core.vault.secret_service import SecretServiceKeyring

    ours = SecretServiceKeyring()
    try:
        assert secret_service_locked(ours) is False  # the rig's collection is unlocked
    finally:
        ours.close()
    assert secret_service_locked(SecretService.Keyring()) is False  # found without importing keyring
