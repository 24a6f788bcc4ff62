"""The Secret Service vault backend, over one kept-open D-Bus connection per thread.

keyring.backends.SecretService.Keyring opens a new D-Bus connection (and a new Diffie-Hellman session for
every read) on each get/set/delete and closes it right after. That connect-call-disconnect churn trips a
race in gnome-keyring-daemon which then aborts the whole daemon ("gkd_secret_service_get_pkcs11_session:
assertion 'client' failed", then GLib's invoke_get_property_in_idle_cb assertion; SIGABRT), taking every
application's keyring down with it. We hit it within minutes of steady vault traffic on Debian 12
(gnome-keyring 42), and it is reported upstream by other per-call clients (e.g. jkoestinger/omarchy-vpn#42).
Keeping the connection and the session open avoids it, and costs far fewer round trips per call.

Items are stored exactly as keyring stores them (attributes `service`/`username`/`application`, the same
label), so entries written by either backend are read by both. Vault calls run on one worker thread, so
normally one connection is open; a replaced (stuck) worker keeps its own, never shared. A connection that
failed is dropped and the next call reconnects (the daemon may have been restarted by D-Bus activation).

The class implements the vault's backend protocol (vault_backend.py) on `secretstorage` directly rather
than subclassing keyring's backend: importing keyring costs ~50 ms (jaraco.*, importlib metadata), a third
of the start-up budget of `secrets show --reveal` (DESIGN §7), and nothing of it is used here.
"""

from __future__ import annotations

import threading
from contextlib import closing
from dataclasses import dataclass

import secretstorage
from jeepney.io.blocking import DBusConnection
from secretstorage.collection import Collection
from secretstorage.dhcrypto import Session
from secretstorage.exceptions import ItemNotFoundException, SecretStorageException
from secretstorage.item import Item
from secretstorage.util import open_session

from keybroker import APP_ID
from keybroker.core.vault.backend import BackendLocked, BackendUnavailable, EntryNotFound

#: The D-Bus alias of the collection new items go to when no `preferred_collection` is set.
DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"


@dataclass
class _Link:
    """One thread's connection, session and collection."""

    thread: threading.Thread
    connection: DBusConnection
    session: Session | None = None
    collection: Collection | None = None


class SecretServiceKeyring:
    """The Secret Service (gnome-keyring, KeePassXC, KWallet) with kept-open connections."""

    display_name = "SecretService"
    #: The `application` attribute of the items it creates (keyring's backend writes its own app id).
    appid = APP_ID
    #: A collection's D-Bus path; None: the default collection (keyring's `preferred_collection`).
    preferred_collection: str | None = None

    @classmethod
    def check_viable(cls) -> None:
        """Raise RuntimeError when no Secret Service is reachable here (keyring's viability check)."""
        try:
            with closing(secretstorage.dbus_init()) as connection:
                if not secretstorage.check_service_availability(connection):
                    raise RuntimeError(
                        "The Secret Service daemon is neither running nor activatable through D-Bus"
                    )
        except SecretStorageException as exc:
            raise RuntimeError(f"Unable to initialize SecretService: {exc}") from exc

    def __init__(self) -> None:
        self._links: dict[int, _Link] = {}
        self._links_lock = threading.Lock()

    # Connections ---------------------------------------------------------------------------------

    def _link(self) -> _Link:
        current = threading.current_thread()
        with self._links_lock:
            link = self._links.get(current.ident or 0)
            if link is not None and link.thread is current:
                return link
            # A new thread, or a dead thread's ident reused: close what finished threads left behind.
            for ident, old in list(self._links.items()):
                if not old.thread.is_alive() or (old.thread is not current and ident == current.ident):
                    del self._links[ident]
                    old.connection.close()
        try:
            connection = secretstorage.dbus_init()
        except SecretStorageException as exc:
            raise BackendUnavailable(f"Failed to connect to the Secret Service: {exc}") from exc
        link = _Link(current, connection)
        with self._links_lock:
            self._links[current.ident or 0] = link
        return link

    def _drop(self, link: _Link) -> None:
        with self._links_lock:
            if self._links.get(link.thread.ident or 0) is link:
                del self._links[link.thread.ident or 0]
        link.connection.close()

    def release_thread(self) -> None:
        """Close the calling thread's connection, if it has one (called as a vault worker thread ends)."""
        with self._links_lock:
            link = self._links.get(threading.get_ident())
            if link is None or link.thread is not threading.current_thread():
                return
            del self._links[threading.get_ident()]
        link.connection.close()

    def close(self) -> None:
        """Close every connection (a later call opens a new one)."""
        with self._links_lock:
            links = list(self._links.values())
            self._links.clear()
        for link in links:
            link.connection.close()

    def _collection(self, link: _Link) -> Collection:
        """The preferred collection on this thread's connection, unlocked (the OS may prompt)."""
        if link.session is None:
            link.session = open_session(link.connection)
        if link.collection is None:
            path = self.preferred_collection
            try:
                if path:
                    link.collection = Collection(link.connection, path, link.session)
                else:
                    link.collection = secretstorage.get_default_collection(link.connection, link.session)
            except SecretStorageException as exc:
                raise BackendUnavailable(f"Failed to create the collection: {exc}.") from exc
            # get_default_collection drops the session it is given (secretstorage 3.5): without it every
            # read would open a new Diffie-Hellman session.
            link.collection.session = link.session
        collection = link.collection
        if collection.is_locked():
            collection.unlock()
            if collection.is_locked():  # the user dismissed the prompt, or none could be shown
                raise BackendLocked("Failed to unlock the collection!")
        return collection

    def _items(self, link: _Link, service: str, username: str) -> list[Item]:
        collection = self._collection(link)
        return list(collection.search_items(_attributes(service, username)))

    def _unlocked(self, item: Item) -> Item:
        if item.is_locked():
            item.unlock()
            if item.is_locked():
                raise BackendLocked("Failed to unlock the item!")
        return item

    # Vault backend API (vault_backend.py) --------------------------------------------------------

    def get_password(self, service: str, username: str) -> str | None:
        """The first matching item's secret, or None."""
        link = self._link()
        try:
            for item in self._items(link, service, username):
                return self._unlocked(item).get_secret().decode("utf-8")
            return None
        except (BackendLocked, BackendUnavailable):
            raise
        except Exception:
            self._drop(link)
            raise

    def set_password(self, service: str, username: str, password: str) -> None:
        """Create or replace the item (same attributes and label as keyring's backend)."""
        link = self._link()
        try:
            collection = self._collection(link)
            attributes = {**_attributes(service, username), "application": self.appid}
            label = f"Password for '{username}' on '{service}'"
            collection.create_item(label, attributes, password.encode("utf-8"), replace=True)
        except (BackendLocked, BackendUnavailable):
            raise
        except Exception:
            self._drop(link)
            raise

    def delete_password(self, service: str, username: str) -> None:
        """Delete the first matching item; EntryNotFound when there is none."""
        link = self._link()
        try:
            for item in self._items(link, service, username):
                item.delete()
                return
        except (BackendLocked, BackendUnavailable):
            raise
        except Exception:
            self._drop(link)
            raise
        raise EntryNotFound("No such password!")

    def accounts(self, service: str) -> list[str]:
        """Every account stored for `service` in the collection values go to, found by its attributes."""
        link = self._link()
        try:
            found = {
                item.get_attributes().get("username", "")
                for item in self._collection(link).search_items({"service": service})
            }
        except (BackendLocked, BackendUnavailable):
            raise
        except Exception:
            self._drop(link)
            raise
        return sorted(found - {""})

    def collection_locked(self) -> bool:
        """Whether the preferred collection is locked, asked without a prompt (True if there is none)."""
        link = self._link()
        try:
            if link.collection is not None:
                return bool(link.collection.is_locked())
            path = self.preferred_collection or DEFAULT_COLLECTION
            return bool(Collection(link.connection, path).is_locked())
        except ItemNotFoundException:
            return True
        except Exception:
            self._drop(link)
            raise


def _attributes(service: str, username: str) -> dict[str, str]:
    """The lookup attributes of an entry: keyring's default scheme, so either backend finds the other's."""
    return {"username": username, "service": service}
