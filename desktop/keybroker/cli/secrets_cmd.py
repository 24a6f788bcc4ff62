"""`keybroker secrets ...`: set, list, show, update, rm, history, restore."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from keybroker.cli.output import cell, info, print_json, table, when

if TYPE_CHECKING:  # the core loads in the command that runs, not while the parser is built
    from keybroker.cli.context import CommandContext
    from keybroker.core.admin import SecretRef
    from keybroker.core.models import SecretRecord
    from keybroker.core.secrets.store import Owner


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "secrets": "manage stored secrets (values live in the OS vault)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `secrets` and its subcommands."""
    p = sub.add_parser("secrets", help=COMMANDS["secrets"])
    ss = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = ss.add_parser("set", help="create or replace a value (read from stdin or a hidden prompt)")
    s.add_argument("key")
    _owner_args(s)
    s.add_argument("--scheme", help="bind the value to this security scheme of the agent's card")
    s.add_argument("--name", help="display name")
    s.add_argument("--description", help="what the value is for")
    s.set_defaults(func=cmd_set)

    s = ss.add_parser("list", help="list secrets (never values)")
    _owner_args(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = ss.add_parser("show", help="a secret's metadata; its value with --reveal")
    s.add_argument("key", help="the key, or a secret_id")
    _owner_args(s, team=True)
    s.add_argument("--scheme")
    s.add_argument("--reveal", action="store_true", help="print the value alone on stdout (audited)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = ss.add_parser("update", help="change a secret's name, description or value")
    s.add_argument("key", help="the key, or a secret_id")
    _owner_args(s)
    s.add_argument("--scheme")
    s.add_argument("--name")
    s.add_argument("--description")
    s.add_argument("--value", action="store_true", help="read a new value like `set` does")
    s.set_defaults(func=cmd_update)

    s = ss.add_parser("rm", help="delete a secret and its grants (asks first on a terminal)")
    s.add_argument("key", help="the key, or a secret_id")
    _owner_args(s)
    s.add_argument("--scheme")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_rm)

    s = ss.add_parser("history", help="the versions a team vault keeps of a secret's value (never values)")
    s.add_argument("key", help="the key, or a secret_id")
    _owner_args(s, team=True)
    s.add_argument("--scheme")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_history)

    s = ss.add_parser("restore", help="make an earlier version the current value (team vault; audited)")
    s.add_argument("key", help="the key, or a secret_id")
    s.add_argument("version", type=int, help="a version number from `secrets history`")
    _owner_args(s)
    s.add_argument("--scheme")
    s.set_defaults(func=cmd_restore)


def _owner_args(p: argparse.ArgumentParser, *, team: bool = False) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--agent", metavar="SLUG", help="the secret belongs to this agent")
    g.add_argument("--shared", action="store_true", help="the secret is shared by every agent")
    if team:
        g.add_argument("--team", metavar="NAME", help="a team's read-only secret from the team vault")


def _owner(args: argparse.Namespace) -> Owner:
    from keybroker.core.secrets.store import UNSPECIFIED

    if args.agent:
        return str(args.agent)
    if args.shared:
        return None
    return UNSPECIFIED


def _ref(args: argparse.Namespace) -> SecretRef:
    from keybroker.core.admin import SecretRef

    return SecretRef.of(args.key, _owner(args), args.scheme, getattr(args, "team", None))


def _label(r: SecretRecord) -> str:
    """The owner column: the agent, `(shared)`, or `(team NAME)` for a team vault's read-only secret."""
    if r.team is not None:
        return f"(team {r.team})"
    return r.owner if r.owner is not None else "(shared)"


def _whose(r: SecretRecord) -> str:
    """In a sentence: `shared` or `agent demo`."""
    if r.team is not None:
        return f"team {r.team}"
    return f"agent {r.owner}" if r.owner is not None else "shared"


def cmd_set(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Create or replace."""
    from keybroker.cli.value_input import read_value

    owner = args.agent if args.agent else None
    whose = f"for agent {owner}" if owner else "as a shared secret"
    admin = ctx.admin(need_persistent_vault=True)
    if owner is not None:
        admin.agent(owner)  # an unknown slug exits 3 before asking for a value
    result = admin.set_secret(
        args.key,
        read_value(args.key),
        owner=owner,
        scheme=args.scheme,
        name=args.name,
        description=args.description,
    )
    verb = "stored" if result.created else "replaced"
    where = " in the running instance" if ctx.api() is not None else ""
    info(f"{verb} {args.key} {whose} ({result.record.secret_id}){where}")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    """List records (a team vault's team secrets listed again first)."""
    from keybroker.core.errors import VaultError

    admin = ctx.admin()
    try:
        synced = admin.sync_teams()
    except VaultError as exc:  # the catalog still answers: say why the team secrets may be stale
        info(f"warning: team secrets not refreshed: {exc.message}")
    else:
        for problem in synced.problems:
            info(f"warning: {problem}")
    records = admin.secrets(_owner(args))
    if args.json:
        print_json([r.to_json() for r in records])
        return 0
    if not records:
        info("no secrets stored yet; add one with `keybroker secrets set KEY`")
        return 0
    table(
        ["key", "owner", "scheme", "name", "updated", "last used", "uses", "secret_id"],
        [
            [
                r.key,
                _label(r),
                r.scheme or "",
                r.name,
                when(r.updated),
                when(r.last_used),
                str(r.use_count),
                r.secret_id,
            ]
            for r in records
        ],
    )
    return 0


def cmd_show(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Metadata, or the value with --reveal."""
    if args.reveal:  # always from the vault here, never over HTTP (INTERFACES.md)
        value = ctx.local_admin(need_persistent_vault=True).reveal(_ref(args))
        sys.stdout.write(value.reveal())
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        sys.stdout.flush()
        return 0
    admin = ctx.admin()
    record = admin.secret(_ref(args))
    grants = [g for g in admin.grants() if g.secret_id == record.secret_id]
    if args.json:
        data = record.to_json()
        data["grants"] = [g.to_json() for g in grants]
        print_json(data)
        return 0
    rows = [
        ("key", record.key),
        ("name", record.name),
        ("description", record.description or "-"),
        ("owner", _label(record)),
        *([("team", record.team)] if record.team else []),
        ("scheme", record.scheme or "-"),
        ("secret_id", record.secret_id),
        ("created", when(record.created)),
        ("updated", when(record.updated)),
        ("last used", when(record.last_used)),
        ("uses", str(record.use_count)),
    ]
    for k, v in rows:
        sys.stdout.write(f"{k + ':':13} {cell(v, 1000)}\n")
    for g in grants:
        sys.stdout.write(f"{'grant:':13} {g.agent} ({g.scope.value}, {g.grant_id})\n")
    return 0


def cmd_update(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Change metadata and/or value."""
    from keybroker.cli.value_input import read_value
    from keybroker.core.errors import UsageError

    if args.name is None and args.description is None and not args.value:
        raise UsageError("nothing to update", hint="give --name, --description and/or --value")
    admin = ctx.admin(need_persistent_vault=args.value)
    record = admin.secret(_ref(args))  # exits 2/3 before asking for a value
    value = read_value(record.key) if args.value else None
    updated = admin.update_secret(_ref(args), name=args.name, description=args.description, value=value)
    where = " in the running instance" if ctx.api() is not None else ""
    info(f"updated {updated.key} ({_whose(updated)}){where}")
    return 0


def cmd_rm(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Delete value, record and grants (a person at a terminal is asked first)."""
    from keybroker.cli.confirm import at_terminal, confirm

    admin = ctx.admin()
    if not args.yes and at_terminal():
        found = admin.secret(_ref(args))  # exits 2/3 before asking
        confirm(f"Delete the secret {found.key} ({_whose(found)}, {found.secret_id}) and its value? [y/N] ")
    record = admin.remove_secret(_ref(args))
    info(f"removed {record.key} ({_whose(record)}, {record.secret_id})")
    return 0


def cmd_history(args: argparse.Namespace, ctx: CommandContext) -> int:
    """The versions of a secret's value (a team vault keeps them; never a value)."""
    history = ctx.admin().secret_history(_ref(args))
    if args.json:
        print_json(history.to_json())
        return 0
    record = history.secret
    info(f"{record.key} {_label(record)} {record.secret_id}: {len(history.versions)} version(s) kept")
    table(
        ["version", "created", "state"],
        [
            [
                str(v.version),
                when(v.created),
                "destroyed" if v.destroyed else "deleted" if v.deleted else "current" if v.current else "",
            ]
            for v in history.versions
        ],
    )
    return 0


def cmd_restore(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Make an earlier version the current value."""
    record = ctx.admin(need_persistent_vault=True).restore_secret(_ref(args), args.version)
    info(f"restored version {args.version} of {record.key} ({_label(record)}) as its current value")
    return 0
