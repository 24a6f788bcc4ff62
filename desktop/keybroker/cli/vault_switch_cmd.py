# SPDX-License-Identifier: Apache-2.0
"""`keybroker vault use system|openbao ...`: switch the vault that holds the values.

Steps, each one undone if a later one fails, so a switch is whole or nothing:
1. the new vault is opened and must answer (for OpenBao: reachable, unsealed, a token it accepts; on a
   terminal the token, AppRole secret id or password is asked for once and kept in the OS vault);
2. the values are copied across and read back (`--copy`, or a yes on a terminal; `--no-copy` leaves them
   behind, listed without a value), with this install's API token and audit head;
3. the switch is audited, its head written to the new vault;
4. the choice is saved to the settings file;
5. with `--remove-old` only, the copied values are deleted from the vault that was left, each checked gone.
A running instance holds its vault: quit it first.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from keybroker.cli.output import info

if TYPE_CHECKING:
    from keybroker.cli.context import CommandContext
    from keybroker.core.vault.openbao_config import OpenBaoConfig
    from keybroker.core.vault.vault import Vault
    from keybroker.system.paths import Paths


def add_use_parser(vs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `vault use`."""
    s = vs.add_parser("use", help="switch the vault that holds the values (copied across, verified)")
    s.add_argument(
        "backend", choices=("system", "openbao"), help="system: the OS vault; openbao: a team vault"
    )
    o = s.add_argument_group("OpenBao (defaults: what was used last, else those shown)")
    o.add_argument("--address", action="append", metavar="URL", help="API address; repeat for each node")
    o.add_argument("--mount", help="where KV v2 is mounted (secret)")
    o.add_argument("--prefix", help="the path of your values under the mount (keybroker/<user>)")
    o.add_argument("--auth", choices=("token", "approle", "userpass"), help="how to log in (token)")
    o.add_argument("--auth-mount", help="the auth method's mount path (its name)")
    o.add_argument("--role-id", help="AppRole role id (the secret id is asked for, never an argument)")
    o.add_argument("--username", help="userpass user name (the password is asked for)")
    o.add_argument("--team", action="append", metavar="NAME", help="a team whose read-only secrets to list")
    o.add_argument("--no-teams", action="store_true", help="list no team's secrets")
    o.add_argument("--teams-path", help="where the teams' folders are under the mount (teams)")
    o.add_argument("--ca-cert", help="a CA bundle for an https address not publicly trusted")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--copy", action="store_true", default=None, help="copy the values across (verified)")
    g.add_argument("--no-copy", dest="copy", action="store_false", help="leave the values behind")
    s.add_argument(
        "--remove-old",
        action="store_true",
        help="after a verified copy, delete the values from the old vault",
    )
    s.set_defaults(func=cmd_use)


def openbao_config(args: argparse.Namespace, saved: OpenBaoConfig | None, paths: Paths) -> OpenBaoConfig:
    """The OpenBao configuration the arguments give, over the one used last."""
    from keybroker.core.errors import UsageError
    from keybroker.core.vault.openbao_config import OpenBaoConfig, default_prefix, install_name

    addresses = tuple(args.address or ()) or (saved.addresses if saved else ())
    if not addresses:
        raise UsageError("OpenBao needs an address", hint="--address https://bao.example:8200")
    teams = () if args.no_teams else tuple(args.team) if args.team else (saved.teams if saved else ())

    def pick(value: str | None, field: str, default: str) -> str:
        return value if value is not None else str(getattr(saved, field)) if saved else default

    return OpenBaoConfig(
        addresses=addresses,
        mount=pick(args.mount, "mount", "secret"),
        prefix=pick(args.prefix, "prefix", default_prefix()),
        auth=pick(args.auth, "auth", "token"),  # type: ignore[arg-type]
        auth_mount=pick(args.auth_mount, "auth_mount", ""),
        role_id=pick(args.role_id, "role_id", ""),
        username=pick(args.username, "username", ""),
        teams=teams,
        teams_path=pick(args.teams_path, "teams_path", "teams"),
        install=saved.install if saved else install_name(str(paths.data_dir)),
        ca_cert=pick(args.ca_cert, "ca_cert", ""),
    )


def _ready(new: Vault) -> None:
    """The new vault answers; an OpenBao that wants a log-in gets one on a terminal."""
    from keybroker.core.errors import VaultAuthRequired
    from keybroker.core.vault.extras import vault_details

    try:
        vault_details(new)
    except VaultAuthRequired as exc:
        if not sys.stdin.isatty():
            exc.add_hint("or run `keybroker vault use` on a terminal to type it once")
            raise
        info(f"{exc.message}; log in now (kept in the OS vault):")
        from keybroker.cli.vault_cmd import login

        login(new)
    status = new.probe()
    if not status.ok:
        from keybroker.core.errors import VaultUnavailable

        raise VaultUnavailable(f"the new vault cannot be used: {status.message}")


def _want_copy(args: argparse.Namespace, count: int, old: Vault, new: Vault) -> bool:
    from keybroker.core.errors import UsageError

    if args.copy is not None or count == 0:
        return bool(args.copy) if args.copy is not None else True
    question = f"Copy {count} value(s) from {old.describe()} to {new.describe()}? [Y/n] "
    if not sys.stdin.isatty():
        raise UsageError(
            f"{count} value(s) are in {old.describe()}",
            hint="say --copy (verified) or --no-copy (left behind)",
        )
    return input(question).strip().lower() in ("", "y", "yes")


def cmd_use(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Switch (see the module docstring)."""
    from keybroker.core.audit.head import VaultHeadStore
    from keybroker.core.audit.log import AuditLog
    from keybroker.core.errors import UsageError
    from keybroker.core.models import AuditDecision
    from keybroker.core.secrets.store import SecretStore
    from keybroker.core.secrets.vault_switch import (
        INSTALL_ACCOUNTS,
        accounts_to_move,
        copy_values,
        remove_old,
    )
    from keybroker.core.vault.vault import open_vault
    from keybroker.system.vault_choice import save_choice, saved_openbao, vault_choice

    ctx.refuse_while_running("cannot switch the vault")
    if ctx.environ.get("KEYBROKER_VAULT"):
        raise UsageError(
            "KEYBROKER_VAULT is set: it overrides the vault chosen here", hint="unset it, then switch again"
        )
    paths = ctx.paths
    current = vault_choice(ctx.environ, paths)
    target = openbao_config(args, saved_openbao(paths), paths) if args.backend == "openbao" else None
    if args.backend == current.mode and (target is None or target == current.openbao):
        info(f"already in use: {args.backend}")
        return 0
    svc = ctx.services(need_persistent_vault=True)
    old = svc.vault
    new = open_vault(args.backend, environ=ctx.environ, openbao=target)
    try:
        _ready(new)
        accounts = accounts_to_move(svc.catalog)
        values = [a for a in accounts if a not in INSTALL_ACCOUNTS]
        copy = _want_copy(args, len(values), old, new)
        result = copy_values(old, new, accounts if copy else list(INSTALL_ACCOUNTS))
        try:
            moved = len([a for a in result.copied if a not in INSTALL_ACCOUNTS])
            detail = f"from {old.describe()} to {new.describe()}: {moved} value(s) copied"
            AuditLog(svc.catalog, VaultHeadStore(new)).append(
                AuditDecision.VAULT_CHANGED, caller=ctx.caller, detail=detail
            )
            save_choice(paths, args.backend, target)
        except BaseException:
            result.undo(new)
            raise
        info(f"the values are now in {new.describe()} ({moved} copied and verified)")
        if result.missing:
            info(
                f"warning: {len(result.missing)} secret(s) had no value to copy: {', '.join(result.missing)}"
            )
        if copy is False and values:
            info(f"{len(values)} value(s) were left in {old.describe()}: set them again to use them here")
        synced = SecretStore(svc.catalog, new, AuditLog(svc.catalog, VaultHeadStore(new))).sync_teams(
            caller=ctx.caller
        )
        for problem in synced.problems:
            info(f"warning: {problem}")
        if args.remove_old and copy:
            left = remove_old(old, result.copied)
            if left:
                info(f"could not remove {len(left)} value(s) from {old.describe()}: {', '.join(left)}")
                return 4
            info(f"removed the {len(result.copied)} copied entries from {old.describe()}")
    finally:
        new.close()
    return 0
