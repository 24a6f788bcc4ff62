"""Helpers for tests that run against the private Secret Service the test rig starts (gnome-keyring).

Only for use under `KEYBROKER_TEST_SECRET_SERVICE=1`, inside `dbus-run-session` with a temporary HOME:
`rig_problem()` says why a test must not run here (so it can skip instead of touching a real keyring).
"""

from __future__ import annotations

import os
from contextlib import closing
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jeepney.io.blocking import DBusConnection

# secretstorage and jeepney exist on Linux only: imported where used, so collecting this on macOS or
# Windows still works (and the tests skip there).

RIG_VARIABLE = "KEYBROKER_TEST_SECRET_SERVICE"
PASSWORD_VARIABLE = "KEYRING_PASS"
_SERVICE_PATH = "/org/freedesktop/secrets"
_BUS_NAME = "org.freedesktop.secrets"
_GNOME_INTERNAL = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"


def rig_problem() -> str | None:
    """Why the real-Secret-Service tests must not run in this environment, or None."""
    if os.environ.get(RIG_VARIABLE) != "1":
        return (
            f"needs the private Secret Service of the test rig ({RIG_VARIABLE}=1 under dbus-run-session, "
            "see `make test`); never runs against your own keyring"
        )
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no D-Bus session bus: start the tests inside dbus-run-session"
    import pwd

    home = os.path.realpath(os.environ.get("HOME", ""))
    if home == os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir):
        return (
            "HOME is your real home directory: refusing to touch your own keyring (the rig uses a temp HOME)"
        )
    return None


def _default_collection_path(connection: DBusConnection) -> str:
    from jeepney import DBusAddress, new_method_call

    service = DBusAddress(_SERVICE_PATH, bus_name=_BUS_NAME, interface="org.freedesktop.Secret.Service")
    reply = connection.send_and_get_reply(new_method_call(service, "ReadAlias", "s", ("default",)))
    path = reply.body[0]
    assert isinstance(path, str) and path != "/", "the Secret Service has no default collection"
    return path


def is_locked() -> bool:
    """Whether the default collection is locked."""
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        return bool(secretstorage.Collection(connection).is_locked())


def lock() -> None:
    """Lock the default collection (org.freedesktop.Secret.Service.Lock)."""
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        secretstorage.Collection(connection).lock()


def unlock(password: str) -> None:
    """Unlock the default collection without a prompt, through gnome-keyring's internal interface."""
    import secretstorage
    from jeepney import DBusAddress, new_method_call
    from secretstorage.util import format_secret, open_session

    with closing(secretstorage.dbus_init()) as connection:
        path = _default_collection_path(connection)
        session = open_session(connection)
        secret = format_secret(session, password.encode(), "text/plain")
        internal = DBusAddress(_SERVICE_PATH, bus_name=_BUS_NAME, interface=_GNOME_INTERNAL)
        reply = connection.send_and_get_reply(
            new_method_call(internal, "UnlockWithMasterPassword", "o(oayays)", (path, secret))
        )
        if reply.header.message_type.name == "error":
            raise RuntimeError(f"UnlockWithMasterPassword failed: {reply.body}")
    if is_locked():
        raise RuntimeError("the default collection is still locked (wrong KEYRING_PASS?)")


def accounts(service: str) -> dict[str, bytes]:
    """Every entry stored for `service`: account -> raw secret (only for checks on test data)."""
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        found: dict[str, bytes] = {}
        for item in secretstorage.Collection(connection).search_items({"service": service}):
            found[item.get_attributes()["username"]] = item.get_secret()
        return found


def delete_all(service: str) -> None:
    """Remove every entry of `service` (test cleanup)."""
    import secretstorage

    with closing(secretstorage.dbus_init()) as connection:
        for item in list(secretstorage.Collection(connection).search_items({"service": service})):
            item.delete()
