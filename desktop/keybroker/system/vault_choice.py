# SPDX-License-Identifier: Apache-2.0
"""Which vault holds the values: `KEYBROKER_VAULT` if set, else the settings file's `vault` (Settings →
General, `keybroker vault use`), else the OS vault. Opening it is core/vault/vault.py's `open_vault`.

With OpenBao chosen by the environment alone (`KEYBROKER_VAULT=openbao` and `BAO_ADDR`), this install's
own entries are named after the host and the data folder, so they stay the same from run to run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keybroker.system import settings as settings_file
from keybroker.system.paths import Paths

if TYPE_CHECKING:
    from keybroker.core.vault.openbao_config import OpenBaoConfig
    from keybroker.core.vault.vault import Vault


@dataclass(frozen=True, slots=True)
class VaultChoice:
    """The mode `open_vault` takes (`system`, `memory`, `openbao`) and, for OpenBao, its configuration."""

    mode: str
    openbao: OpenBaoConfig | None = None
    from_env: bool = False
    """True when `KEYBROKER_VAULT` chose it (the settings file then does not count)."""


def saved_openbao(paths: Paths) -> OpenBaoConfig | None:
    """The OpenBao configuration in the settings file, or None."""
    vault = settings_file.load(paths.settings_file).vault
    data = vault.get("openbao")
    if not isinstance(data, Mapping) or not data:
        return None
    from keybroker.core.vault.openbao_config import OpenBaoConfig

    return OpenBaoConfig.from_json(data)


def vault_choice(environ: Mapping[str, str], paths: Paths) -> VaultChoice:
    """What `open_chosen_vault` opens (module docstring)."""
    forced = (environ.get("KEYBROKER_VAULT") or "").strip().lower()
    saved = settings_file.load(paths.settings_file).vault
    mode = forced or str(saved.get("backend") or "system")
    if mode != "openbao":
        return VaultChoice(mode, None, bool(forced))
    from keybroker.core.vault.openbao_config import config_from_env, install_name

    config = config_from_env(environ, saved_openbao(paths), install=install_name(str(paths.data_dir)))
    return VaultChoice(mode, config, bool(forced))


def open_chosen_vault(environ: Mapping[str, str], paths: Paths) -> Vault:
    """The vault `vault_choice` names, opened."""
    from keybroker.core.vault.vault import open_vault

    choice = vault_choice(environ, paths)
    return open_vault(choice.mode, environ=environ, openbao=choice.openbao)


def save_choice(paths: Paths, mode: str, openbao: OpenBaoConfig | None = None) -> None:
    """Write the choice to the settings file (the OpenBao part is kept when switching back, so switching
    again needs no retyping)."""
    current = settings_file.load(paths.settings_file)
    vault = dict(current.vault)
    vault["backend"] = mode
    if openbao is not None:
        vault["openbao"] = openbao.to_json()
    settings_file.save(current.with_changes(vault=vault), paths.settings_file)
