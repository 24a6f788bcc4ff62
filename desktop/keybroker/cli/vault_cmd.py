# SPDX-License-Identifier: Apache-2.0
"""`keybroker vault ...`: show, use, login, logout, sync: which vault holds the values, and a team vault.

`vault use` switches the backend (the OS vault, or OpenBao) and offers to copy the values across; the
switch itself is in vault_switch_cmd.py. `vault show` prints where the values are and who Keybroker is
there (identity, token expiry), never a token. `vault login` takes the OpenBao token (or AppRole secret
id, or userpass password) once, checks it and keeps it in the OS vault.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from keybroker.cli.output import info, print_json

if TYPE_CHECKING:
    from keybroker.cli.context import CommandContext
    from keybroker.core.vault.vault import Vault

COMMANDS = {
    "vault": "which vault holds the values: show it, switch it (OS vault or OpenBao), log in to OpenBao",
}

_SECRET_LABEL = {
    "token": "the OpenBao token",
    "approle": "the AppRole secret id",
    "userpass": "the userpass password",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `vault` and its subcommands."""
    from keybroker.cli.vault_switch_cmd import add_use_parser

    p = sub.add_parser("vault", help=COMMANDS["vault"])
    vs = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = vs.add_parser("show", help="the backend, address, mount, prefix, identity and token expiry")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    add_use_parser(vs)

    s = vs.add_parser(
        "login",
        help="type the OpenBao token (AppRole secret id, userpass password) once; kept in the OS vault",
    )
    s.set_defaults(func=cmd_login)

    s = vs.add_parser("logout", help="forget the OpenBao credentials kept in the OS vault")
    s.set_defaults(func=cmd_logout)

    s = vs.add_parser("sync", help="list the team vault's team secrets again")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sync)


def cmd_show(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Where the values are; exit 4 when the vault does not answer or refuses the token."""
    from keybroker.core.errors import KeybrokerError, VaultError, VaultLocked
    from keybroker.core.vault.extras import vault_details
    from keybroker.system.vault_choice import open_chosen_vault, vault_choice

    choice = vault_choice(ctx.environ, ctx.paths)
    report: dict[str, Any] = {
        "backend": choice.mode,
        "chosen by": "KEYBROKER_VAULT" if choice.from_env else "settings",
    }
    if choice.openbao is not None:
        config = choice.openbao
        report.update(
            address=", ".join(config.addresses), mount=config.mount, prefix=config.prefix, auth=config.auth
        )
    problem: KeybrokerError | None = None
    try:
        vault = open_chosen_vault(ctx.environ, ctx.paths)
    except KeybrokerError as exc:
        problem = exc
    else:
        try:
            report.update(vault_details(vault))
            status = vault.probe()
            report["state"] = status.state
            if not status.ok:
                problem = VaultError(status.message)
        except KeybrokerError as exc:
            problem = exc
        finally:
            vault.close()
    if problem is not None:
        report["state"] = report.get("state") or (
            "locked" if isinstance(problem, VaultLocked) else "unavailable"
        )
        report["problem"] = problem.message
        report["hint"] = problem.hint
    if args.json:
        print_json(report)
    else:
        for key, value in report.items():
            if value not in (None, ""):
                sys.stdout.write(f"{key + ':':17} {value}\n")
    return problem.exit_code if problem is not None else 0


def _openbao_vault(ctx: CommandContext) -> Vault:
    from keybroker.core.errors import UsageError
    from keybroker.system.vault_choice import open_chosen_vault, vault_choice

    if vault_choice(ctx.environ, ctx.paths).mode != "openbao":
        raise UsageError(
            "the values are not in a team vault",
            hint="switch with `keybroker vault use openbao --address URL`",
        )
    return open_chosen_vault(ctx.environ, ctx.paths)


def login(vault: Vault) -> None:
    """Ask for the credential of the vault's auth method, check it with OpenBao, keep it in the OS vault."""
    from keybroker.cli.value_input import read_value
    from keybroker.core.vault.openbao import OpenBaoBackend

    backend = vault.backend
    assert isinstance(backend, OpenBaoBackend)
    secret = read_value(_SECRET_LABEL[backend.config.auth])
    info_ = vault.call_backend("log in to OpenBao", None, lambda b: backend.auth.remember(secret.reveal()))
    who = info_.display_name or "-"
    info(
        f"logged in to {backend.config.address} as {who} ({', '.join(info_.policies) or 'no policies'}); "
        "kept in the OS vault"
    )


def cmd_login(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Type the credential once; it is checked, then kept in the OS vault."""
    vault = _openbao_vault(ctx)
    try:
        login(vault)
    finally:
        vault.close()
    return 0


def cmd_logout(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Forget the credentials kept for this OpenBao."""
    from keybroker.core.vault.openbao import OpenBaoBackend

    vault = _openbao_vault(ctx)
    try:
        backend = vault.backend
        assert isinstance(backend, OpenBaoBackend)
        vault.call_backend("forget the OpenBao credentials", None, lambda b: backend.auth.forget())
    finally:
        vault.close()
    info("the OpenBao credentials kept in the OS vault are gone (BAO_TOKEN and ~/.vault-token are untouched)")
    return 0


def cmd_sync(args: argparse.Namespace, ctx: CommandContext) -> int:
    """List the team secrets again."""
    result = ctx.admin().sync_teams()
    if args.json:
        print_json(result.to_json())
        return 0
    for entry in result.added:
        info(f"added team secret {entry}")
    for entry in result.removed:
        info(f"removed team secret {entry} (no longer in the team vault)")
    for problem in result.problems:
        info(f"warning: {problem}")
    if not (result.added or result.removed or result.problems):
        info("team secrets are up to date")
    return 0
