# SPDX-License-Identifier: Apache-2.0
"""The team vault backend: values in OpenBao's KV v2 engine (HashiCorp Vault's open-source fork).

Longer than 300 lines because a write's check-and-set and a read's staleness during a failover are one
protocol with the vault's three calls, stated together here (HTTP, login and layout are modules apart).

One KV secret per entry, laid out by openbao_layout.py; HTTP, failover and login are openbao_http.py's
and openbao_auth.py's. What this adds to the vault's three calls:

- **check-and-set on every write**: a write carries the version this client last read of that entry
  (the vault reads an entry right before it writes it), so of two clients writing the same entry at once,
  one wins and the other gets `BackendConflict`; nothing is overwritten unseen. A write retried after a
  lost answer (a leader killed mid-request) finds its own value in place and succeeds without a second
  version.
- **versions**: `versions()` and `get_version()` read KV v2's history (restoring is a new write of an
  old value, done above the vault so it is audited like any change).
- **team secrets**: `team_entries(team)` lists `<teams_path>/<team>/`; those entries are read-only here
  (policies stay in OpenBao: what a token may read, OpenBao decides).
- **a permission denial shows as one**: a 403 is told apart from a refused token by asking OpenBao
  whether the token still works (`BackendPermissionDenied` vs `BackendAuthRequired`).

Deleting an entry deletes its KV metadata (every version): `secrets rm` and `purge` leave nothing behind.
Nothing here logs, raises or reprs a value or a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from keybroker.core.vault import format as fmt
from keybroker.core.vault.backend import (
    BackendAuthRequired,
    BackendConflict,
    BackendError,
    BackendPermissionDenied,
    EntryNotFound,
    TeamEntry,
    ValueVersion,
)
from keybroker.core.vault.openbao_auth import BaoAuth
from keybroker.core.vault.openbao_config import OpenBaoConfig
from keybroker.core.vault.openbao_credentials import Credentials
from keybroker.core.vault.openbao_http import BaoHttp, Reply
from keybroker.core.vault.openbao_layout import KvPath, Layout
from keybroker.core.vault.openbao_time import parse_time

#: The field of a KV secret that holds the value (team secrets: `bao kv put teams/T/KEY value=...`).
VALUE_FIELD = "value"
#: Where an entry that is not a plain value (never written by Keybroker today) keeps its text.
RAW_FIELD = "keybroker_entry"
_CAS_MISMATCH = "check-and-set parameter did not match"
READ_ONLY_HINT = "team secrets are changed in OpenBao by whoever manages the team's path"
#: The longest wait between two `keep_alive` calls, whatever the token's period.
KEEP_ALIVE_MAX_SECONDS = 300.0


class OpenBaoBackend:
    """Values in OpenBao KV v2 (see the module docstring). Thread-safe."""

    display_name = "OpenBao"

    def __init__(
        self,
        config: OpenBaoConfig,
        *,
        environ: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
        http: BaoHttp | None = None,
    ) -> None:
        self.config = config
        self.http = http or BaoHttp(
            config.addresses,
            ca_file=config.ca_cert,
            timeout=config.request_timeout,
            failover_seconds=config.failover_seconds,
        )
        self.auth = BaoAuth(config, self.http, environ=environ, credentials=credentials)
        self.layout = Layout(config.mount, config.prefix, config.install, config.teams_path, config.teams)
        self._seen: dict[str, int] = {}
        self._seen_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenBaoBackend({self.config.address}, mount={self.config.mount!r})"

    @property
    def description(self) -> str:
        """One line for the tray, `doctor` and logs."""
        more = f" (+{len(self.config.addresses) - 1} more nodes)" if len(self.config.addresses) > 1 else ""
        return (
            f"team vault: OpenBao at {self.config.address}{more}, KV v2 at {self.config.mount}/, "
            f"values under {self.config.prefix}/{self.config.install}/"
        )

    # The vault's three calls ----------------------------------------------------------------------

    def get_password(self, service: str, username: str) -> str | None:
        """The entry's value, or None (never written, deleted, or its latest version deleted)."""
        kv = self.layout.entry(service, username)
        text, _ = self._read(kv)
        return text

    def set_password(self, service: str, username: str, password: str) -> None:
        """Write a new version, check-and-set against the version this client last read."""
        kv = self._writable(service, username)
        with self._seen_lock:
            expected = self._seen.get(kv.path)
        if expected is None:
            expected = self._current_version(kv)
        deadline = time.monotonic() + self.config.failover_seconds
        while True:
            reply = self._call("POST", self.layout.data_url(kv.path), kv, _write_body(password, expected))
            if reply.status == 200:
                self._saw(kv, int(reply.body["data"]["version"]))
                return
            if not (reply.status == 400 and _CAS_MISMATCH in reply.errors):
                raise _unexpected(reply, "write", kv)
            current, version = self._read(kv, at_least=expected + 1)
            if current == password:
                return  # ours: a retry after a lost answer, or the same value written by someone else
            if version == expected and time.monotonic() < deadline:
                # The active node still holds the version this write expects: the refusal was a
                # standby's, checking against its lagging copy. Write again, through the active node.
                self.http.forget_leader()
                time.sleep(0.05)
                continue
            if current is not None or version == expected:
                raise BackendConflict(
                    f"{kv.path} was changed by another client (now version {version}; "
                    f"this write expected version {expected})"
                )
            expected = version  # the latest version was deleted meanwhile: nothing to overwrite unseen

    def delete_password(self, service: str, username: str) -> None:
        """Delete the entry and all its versions; `EntryNotFound` when it held no value."""
        kv = self._writable(service, username)
        meta = self._metadata(kv)
        if meta is None:
            raise EntryNotFound("no such entry")
        reply = self._call("DELETE", self.layout.metadata_url(kv.path), kv)
        if reply.status not in (200, 204):
            raise _unexpected(reply, "delete", kv)
        with self._seen_lock:
            self._seen.pop(kv.path, None)
        if not any(not v.deleted and not v.destroyed for v in _versions(meta)):
            raise EntryNotFound("no such entry (only deleted versions were left; they are gone now)")

    # Versions, listings, details (vault/extras.py) ----------------------------------------------------

    def versions(self, service: str, username: str) -> list[ValueVersion]:
        """Every version KV v2 keeps of the entry, oldest first ([] when there is none)."""
        meta = self._metadata(self.layout.entry(service, username))
        return _versions(meta) if meta is not None else []

    def get_version(self, service: str, username: str, version: int) -> str | None:
        """The entry's value at `version`, or None when that version is deleted, destroyed or absent."""
        kv = self.layout.entry(service, username)
        reply = self._call("GET", self.layout.data_url(kv.path, version), kv)
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise _unexpected(reply, "read a version of", kv)
        data = (reply.body.get("data") or {}).get("data")
        return _entry_text(data, kv) if data is not None else None

    def accounts(self, service: str) -> list[str]:
        """Every account this backend holds for `service` (for `purge` and `doctor`)."""
        return self.layout.accounts_in(self._list(self.layout.folder(service)))

    def team_entries(self, team: str) -> list[TeamEntry]:
        """The secrets of `team` this token may list (`BackendPermissionDenied` when it may not)."""
        return self.layout.team_entries(team, self._list(self.layout.team_folder(team)))

    def keep_alive(self) -> float | None:
        """Renew the token when due while nothing else is asked of OpenBao (an app idles for hours
        between releases); `BackendAuthRequired` when it is refused or has run out. Returns the seconds
        until the next call is due (a quarter of the token's period, so a renewal is never missed),
        None when the token never expires."""
        self.auth.token()
        info = self.auth.info()
        if info.expires is None:
            return None
        return min(max(info.period / 4, 1.0), KEEP_ALIVE_MAX_SECONDS)

    def details(self) -> dict[str, str]:
        """What `keybroker vault show` prints: where, which identity, when the token expires; no token."""
        info = self.auth.info()
        return {
            "backend": "openbao",
            "address": ", ".join(self.config.addresses),
            "active node": self.http.preferred,
            "mount": self.config.mount,
            "prefix": self.config.prefix,
            "install": self.config.install,
            "teams": ", ".join(f"{self.config.teams_path}/{t}/" for t in self.config.teams) or "-",
            "auth": self.config.auth,
            "identity": info.display_name or "-",
            "policies": ", ".join(info.policies) or "-",
            "token from": info.source,
            "token expires": _when(info.expires),
            "token renewable": "yes" if info.renewable else "no",
        }

    def release_thread(self) -> None:
        """A vault worker thread ends: close its connections (OpenBao's and the OS vault's)."""
        self.http.release_thread()
        self.auth.release_thread()

    def close(self) -> None:
        """Close every connection."""
        self.http.close()
        self.auth.close()

    # Internals --------------------------------------------------------------------------------------

    def _writable(self, service: str, username: str) -> KvPath:
        kv = self.layout.entry(service, username)
        if kv.read_only:
            raise BackendPermissionDenied(
                f"{kv.path} is a team secret, read-only in Keybroker", hint=READ_ONLY_HINT
            )
        return kv

    def _saw(self, kv: KvPath, version: int) -> None:
        with self._seen_lock:
            self._seen[kv.path] = version

    def _call(self, method: str, url: str, kv: KvPath | None, body: Mapping[str, Any] | None = None) -> Reply:
        """One request with the current token; a 403 is a policy denial or a refused token (retried once
        after a fresh login where the auth method can)."""
        for _ in range(2):
            token = self.auth.token()
            reply = self.http.request(method, url, token=token, body=body)
            if reply.status != 403:
                return reply
            if self.auth.token_works(token):
                where = kv.path if kv is not None else url
                raise BackendPermissionDenied(f"OpenBao's policy denies {method} on {where}")
            self.auth.refused(token)
        raise BackendAuthRequired("OpenBao refused the new token too")

    def _read(self, kv: KvPath, *, at_least: int = 0) -> tuple[str | None, int]:
        """(value, version) of the latest version; (None, version or 0) when it holds no value.

        A standby serves reads from its own copy, which lags the leader for a moment, and during an
        election for as long as it lasts: an answer older than a version this client already saw is
        stale, so it asks again (the active node first), within the failover budget. An older version
        from the active node itself is the truth (the entry was deleted and written anew meanwhile).
        `at_least`: a version the entry is known to have reached (a check-and-set write was refused on
        the one before it)."""
        deadline = time.monotonic() + self.config.failover_seconds
        while True:
            reply = self._call("GET", self.layout.data_url(kv.path), kv)
            data = reply.body.get("data") if isinstance(reply.body.get("data"), dict) else None
            meta = (data or {}).get("metadata") or {}
            version = int(meta.get("version") or 0)
            if reply.status not in (200, 404) or (reply.status == 200 and data is None):
                raise _unexpected(reply, "read", kv)
            with self._seen_lock:
                seen = max(self._seen.get(kv.path, 0), at_least)
            if version >= seen or time.monotonic() >= deadline or self.http.is_active(reply.address):
                break
            self.http.forget_leader()
            time.sleep(0.05)
        self._saw(kv, version)
        if reply.status == 404 or data is None:
            return None, version
        fields = data.get("data")
        return (_entry_text(fields, kv) if fields is not None else None), version

    def _metadata(self, kv: KvPath) -> Mapping[str, Any] | None:
        reply = self._call("GET", self.layout.metadata_url(kv.path), kv)
        if reply.status == 404:
            return None
        if reply.status != 200 or not isinstance(reply.body.get("data"), dict):
            raise _unexpected(reply, "read the versions of", kv)
        meta: Mapping[str, Any] = reply.body["data"]
        return meta

    def _current_version(self, kv: KvPath) -> int:
        meta = self._metadata(kv)
        return int(meta.get("current_version") or 0) if meta is not None else 0

    def _list(self, folder: str) -> list[str]:
        reply = self._call("LIST", self.layout.metadata_url(folder, folder=True), KvPath(folder + "/"))
        if reply.status == 404:
            return []
        keys = (reply.body.get("data") or {}).get("keys") if reply.status == 200 else None
        if not isinstance(keys, list):
            raise _unexpected(reply, "list", KvPath(folder + "/"))
        return [str(k) for k in keys]


def _write_body(text: str, cas: int) -> dict[str, Any]:
    if text.startswith(fmt.INLINE_TAG):
        fields = {VALUE_FIELD: text[len(fmt.INLINE_TAG) :]}
    else:
        fields = {RAW_FIELD: text}
    return {"data": fields, "options": {"cas": cas}}


def _entry_text(fields: object, kv: KvPath) -> str:
    """The vault's entry text (format.py) for a KV secret's fields."""
    if not isinstance(fields, dict):
        raise BackendError(f"{kv.path} does not hold key/value data")
    raw, value = fields.get(RAW_FIELD), fields.get(VALUE_FIELD)
    if isinstance(raw, str):
        return raw
    if isinstance(value, str):
        return fmt.INLINE_TAG + value
    strings = [v for v in fields.values() if isinstance(v, str)]
    if kv.read_only and len(fields) == 1 and len(strings) == 1:
        return fmt.INLINE_TAG + strings[0]  # a team secret kept under another single field name
    names = ", ".join(sorted(str(k) for k in fields)) or "none"
    raise BackendError(
        f"{kv.path} has no `{VALUE_FIELD}` field (fields: {names})",
        hint=f"keep the value in a field named `{VALUE_FIELD}` (bao kv put ... {VALUE_FIELD}=...)",
    )


def _versions(meta: Mapping[str, Any]) -> list[ValueVersion]:
    current = int(meta.get("current_version") or 0)
    out = []
    for number, item in (meta.get("versions") or {}).items():
        if not isinstance(item, dict):
            continue
        version = int(number)
        out.append(
            ValueVersion(
                version=version,
                created=parse_time(item.get("created_time")) or 0.0,
                deleted=parse_time(item.get("deletion_time")) is not None,
                destroyed=bool(item.get("destroyed")),
                current=version == current,
            )
        )
    return sorted(out, key=lambda v: v.version)


def _unexpected(reply: Reply, action: str, kv: KvPath) -> BackendError:
    detail = reply.errors or "no error text"
    return BackendError(f"OpenBao could not {action} {kv.path}: HTTP {reply.status} ({detail})")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    import datetime

    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
