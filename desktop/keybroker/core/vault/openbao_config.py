# SPDX-License-Identifier: Apache-2.0
"""Where a team vault is and how Keybroker logs in to it: the OpenBao backend's settings. Never a secret.

Kept in the settings file (system/settings.py, key `vault`) and shown by `keybroker vault show`; the token,
an AppRole secret id or a userpass password live in the OS vault or the environment, never here
(openbao_auth.py). `addresses` may list every node of a cluster: the backend fails over between them.

A plain `http://` address is accepted for loopback only (DESIGN §4: no value travels in clear to another
host); a remote OpenBao needs `https://`, with `ca_cert` when its certificate is not publicly trusted.
"""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from keybroker.core.errors import InvalidInputError

AuthMethod = Literal["token", "approle", "userpass"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("token", "approle", "userpass")
DEFAULT_MOUNT = "secret"
DEFAULT_TEAMS_PATH = "teams"
#: The longest OpenBao may take to elect a leader before a call gives up (a raft election takes 1-6 s).
DEFAULT_FAILOVER_SECONDS = 10.0
DEFAULT_REQUEST_TIMEOUT = 5.0

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_LOOPBACK_NAMES = frozenset({"localhost"})


def _check_path(value: object, what: str, *, allow_empty: bool = False) -> str:
    """`a/b/c` of safe segments (no leading or trailing slash, no `..`)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"the OpenBao {what} must be text")
    text = value.strip().strip("/")
    if not text and allow_empty:
        return ""
    parts = text.split("/")
    if not text or len(text) > 200 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidInputError(
            f"the OpenBao {what} {value!r} is not a path of plain names",
            hint="use letters, digits and . _ @ - in each part, parts separated by /",
        )
    return text


def check_name(value: object, what: str) -> str:
    """A team name, an install name, a role or user name: letters, digits, `.`, `_`, `-`."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInputError(
            f"the {what} {value!r} is not a plain name", hint="use letters, digits and . _ - (up to 64)"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(value: object) -> str:
    """An OpenBao API address: `https://host[:port]`, or `http://` on loopback only; no path or query."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(
            "the OpenBao address is empty", hint="e.g. --address https://bao.example:8200"
        )
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(
            f"the OpenBao address {value!r} is not an http(s) URL", hint="e.g. https://bao.example:8200"
        )
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInputError(f"the OpenBao address {value!r} must be scheme://host[:port] only")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise InvalidInputError(f"the OpenBao address {value!r} has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidInputError(
            f"refusing plain http to {parts.hostname}: tokens and values would travel in clear",
            hint="use https:// for an OpenBao that is not on this machine",
        )
    return text


def default_prefix() -> str:
    """`keybroker/<user>`: each person's values under their own path."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    cleaned = re.sub(r"[^A-Za-z0-9._@-]", "-", user).lstrip("._-@") or "user"
    return f"keybroker/{cleaned[:64]}"


def install_name(seed: str = "") -> str:
    """A stable name for this install's folder under the prefix (its values, API token and audit head):
    the host name and a short hash of `seed` (the data folder), so two data homes on one host never
    share one."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("._-")[:40] or "host"
    return f"{host}-{hashlib.sha256(seed.encode()).hexdigest()[:6]}" if seed else host


@dataclass(frozen=True, slots=True)
class OpenBaoConfig:
    """Everything the OpenBao backend needs to find its values and log in, except the credential."""

    addresses: tuple[str, ...]
    """API addresses of the cluster's nodes (or one load balancer); tried in order, failing over."""
    mount: str = DEFAULT_MOUNT
    """Where the KV v2 secrets engine is mounted."""
    prefix: str = field(default_factory=default_prefix)
    """The path under the mount that holds this user's values (one KV secret per Keybroker secret)."""
    auth: AuthMethod = "token"
    auth_mount: str = ""
    """Where the auth method is mounted (default: its own name, `approle` or `userpass`)."""
    role_id: str = ""
    """AppRole: the role id (an identifier, like a user name; the secret id is a credential)."""
    username: str = ""
    """userpass: the user name (the password is a credential)."""
    teams: tuple[str, ...] = ()
    """Teams whose read-only secrets Keybroker lists (`<teams_path>/<team>/<KEY>`)."""
    teams_path: str = DEFAULT_TEAMS_PATH
    install: str = field(default_factory=install_name)
    """This install's folder under the prefix: its values, API token and audit head (openbao_layout.py)."""
    ca_cert: str = ""
    """A CA bundle for an https address whose certificate is not publicly trusted."""
    failover_seconds: float = DEFAULT_FAILOVER_SECONDS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def __post_init__(self) -> None:
        if not self.addresses:
            raise InvalidInputError(
                "the OpenBao backend needs an address", hint="--address https://host:8200"
            )
        object.__setattr__(self, "addresses", tuple(dict.fromkeys(check_address(a) for a in self.addresses)))
        object.__setattr__(self, "mount", _check_path(self.mount, "mount"))
        object.__setattr__(self, "prefix", _check_path(self.prefix, "prefix"))
        object.__setattr__(self, "teams_path", _check_path(self.teams_path, "teams path"))
        if self.auth not in AUTH_METHODS:
            raise InvalidInputError(
                f"unknown OpenBao auth method {self.auth!r}", hint=f"use one of {', '.join(AUTH_METHODS)}"
            )
        object.__setattr__(self, "auth_mount", _check_path(self.auth_mount, "auth mount", allow_empty=True))
        if self.auth == "approle":
            check_name(self.role_id, "AppRole role id") if self.role_id else _missing("--role-id", "approle")
        if self.auth == "userpass":
            check_name(self.username, "user name") if self.username else _missing("--username", "userpass")
        object.__setattr__(self, "teams", tuple(dict.fromkeys(check_name(t, "team") for t in self.teams)))
        check_name(self.install, "install name")
        for what, seconds in (("failover", self.failover_seconds), ("request timeout", self.request_timeout)):
            if not isinstance(seconds, int | float) or not 0 < seconds <= 300:
                raise InvalidInputError(f"the OpenBao {what} must be between 0 and 300 seconds")
        if self.prefix == self.teams_path or self.prefix.startswith(self.teams_path + "/"):
            raise InvalidInputError("the prefix must not be inside the read-only teams path")

    @property
    def address(self) -> str:
        """The first address: what `vault show` names and what stored credentials are kept for."""
        return self.addresses[0]

    @property
    def login_mount(self) -> str:
        """The auth method's mount path (AppRole and userpass)."""
        return self.auth_mount or self.auth

    def with_changes(self, **changes: Any) -> OpenBaoConfig:
        """A checked copy with `changes` applied."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The settings file's `vault.openbao` object."""
        return {
            "addresses": list(self.addresses),
            "mount": self.mount,
            "prefix": self.prefix,
            "auth": self.auth,
            "auth_mount": self.auth_mount,
            "role_id": self.role_id,
            "username": self.username,
            "teams": list(self.teams),
            "teams_path": self.teams_path,
            "install": self.install,
            "ca_cert": self.ca_cert,
            "failover_seconds": self.failover_seconds,
            "request_timeout": self.request_timeout,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenBaoConfig:
        """Read the settings file's object back; `InvalidInputError` when a value is bad."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("the OpenBao settings must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("addresses", "teams"):
            if name in values:
                if not isinstance(values[name], list | tuple):
                    raise InvalidInputError(f"the OpenBao setting {name!r} must be a list")
                values[name] = tuple(values[name])
        return cls(**values)


def _missing(flag: str, method: str) -> None:
    raise InvalidInputError(f"the {method} auth method needs {flag}")


def config_from_env(
    environ: Mapping[str, str], saved: OpenBaoConfig | None, *, install: str
) -> OpenBaoConfig | None:
    """The saved configuration, or one from `BAO_ADDR`/`VAULT_ADDR` (comma-separated nodes) when none is
    saved; `install` names this install's folder then."""
    if saved is not None:
        return saved
    address = environ.get("BAO_ADDR") or environ.get("VAULT_ADDR")
    if not address:
        return None
    return OpenBaoConfig(addresses=tuple(a for a in address.split(",") if a.strip()), install=install)
