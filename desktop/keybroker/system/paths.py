"""Where Keybroker keeps things (INTERFACES.md, "Identity and places")."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "keybroker"


@dataclass(frozen=True, slots=True)
class Paths:
    """The four places: data (catalog), config (settings, api-token), logs, runtime (instance.json)."""

    data_dir: Path
    config_dir: Path
    log_dir: Path
    runtime_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        """Platform defaults, or everything under `KEYBROKER_HOME` when it is set (tests)."""
        env = os.environ if environ is None else environ
        home = env.get("KEYBROKER_HOME")
        if home:
            root = Path(home).expanduser()
            return cls(root / "data", root / "config", root / "logs", root / "runtime")
        runtime_base = env.get("XDG_RUNTIME_DIR")
        if runtime_base:
            runtime = Path(runtime_base) / APP_NAME
        else:
            # Linux without XDG_RUNTIME_DIR (a root shell, a container): platformdirs falls back to
            # /tmp/runtime-<uid> and warns on stderr, once per CLI command; the fallback is fine here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runtime = Path(platformdirs.user_runtime_dir(APP_NAME))
        return cls(
            Path(platformdirs.user_data_dir(APP_NAME)),
            Path(platformdirs.user_config_dir(APP_NAME)),
            Path(platformdirs.user_log_dir(APP_NAME)),
            runtime,
        )

    @property
    def catalog_db(self) -> Path:
        """The SQLite catalog (agents, secret records, grants, audit)."""
        return self.data_dir / "catalog.db"

    @property
    def token_file(self) -> Path:
        """The per-install API token, 0600, for the CLI."""
        return self.config_dir / "api-token"

    @property
    def settings_file(self) -> Path:
        """User settings (no secrets)."""
        return self.config_dir / "settings.json"

    @property
    def instance_file(self) -> Path:
        """Written by a running app or `serve`, removed on exit."""
        return self.runtime_dir / "instance.json"

    def ensure(self) -> None:
        """Create the dirs with private modes (0700)."""
        for d in (self.data_dir, self.config_dir, self.log_dir, self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            d.chmod(0o700)
