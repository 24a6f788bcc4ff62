# SPDX-License-Identifier: Apache-2.0
"""User settings: a small JSON file in the config dir (`Paths.settings_file`). Never a secret.

The file is read forgivingly and written carefully:
- a missing file means the defaults; a corrupt file or a bad value means the default for what is bad,
  with a logged warning (never an exception: a hand-edited file must not stop the app from starting);
- keys this version does not know are kept as read and written back, so an older and a newer
  Keybroker can share one file;
- writes are atomic (a temp file in the same dir, fsync, rename) and private (file 0600, dir 0700).

`bridge_port` is also read by `core/instance.configured_port`, so the CLI finds the port the app will
use; keep that key name.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from keybroker.core.errors import InvalidInputError

log = logging.getLogger("keybroker.settings")

DEFAULT_PORT = 7411
#: The longest idle time before an automatic lock: a day. 0 means never.
MAX_IDLE_LOCK_MINUTES = 24 * 60
#: Ports below this need privileges on most systems; the bridge is a user process.
MIN_PORT = 1024
MAX_PORT = 65535


def check_port(value: object) -> int:
    """A bridge port: an int in 1024-65535; `InvalidInputError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"the bridge port must be a whole number, not {type(value).__name__}")
    if not MIN_PORT <= value <= MAX_PORT:
        raise InvalidInputError(
            f"the bridge port must be between {MIN_PORT} and {MAX_PORT}, not {value}",
            hint="ports below 1024 need administrator rights",
        )
    return value


def check_idle_minutes(value: object) -> int:
    """Minutes of inactivity before a lock: an int in 0 (never) to 1440."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"idle lock minutes must be a whole number, not {type(value).__name__}")
    if not 0 <= value <= MAX_IDLE_LOCK_MINUTES:
        raise InvalidInputError(
            f"idle lock minutes must be between 0 (never) and {MAX_IDLE_LOCK_MINUTES}, not {value}"
        )
    return value


VAULT_BACKENDS = ("system", "openbao")


def check_vault(value: object) -> Mapping[str, Any]:
    """`{"backend": "system" | "openbao", "openbao": {...}}`; the OpenBao part is checked when chosen.

    Never a token: the OpenBao object holds addresses, paths and names only (openbao_config.py)."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"the vault setting must be an object, not {type(value).__name__}")
    backend = value.get("backend", "system")
    if backend not in VAULT_BACKENDS:
        raise InvalidInputError(f"unknown vault backend {backend!r}", hint="use 'system' or 'openbao'")
    if backend == "openbao":
        from keybroker.core.vault.openbao_config import OpenBaoConfig  # only where it is chosen

        OpenBaoConfig.from_json(value.get("openbao") or {})
    return dict(value)


_CHECKS = {"bridge_port": check_port, "idle_lock_minutes": check_idle_minutes, "vault": check_vault}


@dataclass(frozen=True, slots=True)
class Settings:
    """What the General tab edits. Frozen: change with `dataclasses.replace` and `save`."""

    bridge_port: int = DEFAULT_PORT
    """The port the bridge binds on 127.0.0.1 at the next start (`KEYBROKER_PORT` overrides it)."""

    idle_lock_minutes: int = 0
    """Lock (end every grant short of *always*) after this many idle minutes; 0 never locks."""

    vault: Mapping[str, Any] = field(default_factory=lambda: {"backend": "system"}, compare=False)
    """Which vault holds the values at the next start (`KEYBROKER_VAULT` overrides it); with OpenBao,
    where it is and how to log in (system/vault_choice.py reads it)."""

    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """Keys this version does not know, kept as read so they are written back unchanged."""

    def __post_init__(self) -> None:
        check_port(self.bridge_port)
        check_idle_minutes(self.idle_lock_minutes)
        check_vault(self.vault)
        for key in self.extra:
            if key in _CHECKS:
                raise InvalidInputError(f"{key!r} is a known setting, not an extra one")

    def to_json(self) -> dict[str, Any]:
        """The file's content: known keys and the kept unknown ones."""
        data: dict[str, Any] = dict(self.extra)
        data["bridge_port"] = self.bridge_port
        data["idle_lock_minutes"] = self.idle_lock_minutes
        if dict(self.vault) != {"backend": "system"}:
            data["vault"] = dict(self.vault)
        return data

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with `changes` applied and checked (`InvalidInputError` on a bad value)."""
        unknown = set(changes) - set(_CHECKS)
        if unknown:
            raise InvalidInputError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


def from_json(data: object, *, source: str = "settings") -> Settings:
    """Settings from parsed JSON; bad values become defaults with a warning, unknown keys are kept."""
    if not isinstance(data, dict):
        log.warning("%s: expected a JSON object, found %s; using the defaults", source, type(data).__name__)
        return Settings()
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        check = _CHECKS.get(key)
        if check is None:
            extra[str(key)] = value
            continue
        try:
            known[key] = check(value)
        except InvalidInputError as exc:
            default = next(f.default for f in fields(Settings) if f.name == key)
            # The message names the key and the bad value's type or range; settings hold no secrets.
            log.warning("%s: %s; using the default (%s)", source, exc, default)
    return Settings(**known, extra=extra)


def load(path: Path) -> Settings:
    """Read `path`; never raises for a missing, unreadable or corrupt file (defaults, and a warning)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read the settings file %s (%s); using the defaults", path, exc)
        return Settings()
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        log.warning("the settings file %s is not valid JSON (%s); using the defaults", path, detail)
        return Settings()
    return from_json(data, source=str(path))


def save(settings: Settings, path: Path) -> None:
    """Write `settings` to `path` atomically, file 0600 in a 0700 dir."""
    try:
        text = json.dumps(settings.to_json(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"settings must be plain JSON values: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        if os.name == "posix":
            tmp.chmod(0o600)  # O_CREAT's mode is filtered by the umask; be exact
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def update(path: Path, **changes: Any) -> Settings:
    """Load, change, check and save in one step; returns the saved settings."""
    new = load(path).with_changes(**changes)
    save(new, path)
    return new


def _reject_constant(name: str) -> float:
    """JSON has no NaN or Infinity; Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not valid JSON")
