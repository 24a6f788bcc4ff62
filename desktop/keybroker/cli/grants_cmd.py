"""`keybroker grants ...` and `keybroker lock`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from keybroker.cli.output import info, left, plural, print_json, table, when

if TYPE_CHECKING:
    from keybroker.cli.context import CommandContext


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "grants": "live grants: which agent may receive which secret",
    "lock": "end every grant short of 'always' and drop cached values",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `grants` and `lock`."""
    p = sub.add_parser("grants", help=COMMANDS["grants"])
    ss = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = ss.add_parser("list", help="list live grants")
    s.add_argument("--agent", metavar="SLUG")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = ss.add_parser("revoke", help="end a grant")
    s.add_argument("grant_id")
    s.set_defaults(func=cmd_revoke)

    p = sub.add_parser("lock", help=COMMANDS["lock"])
    p.set_defaults(func=cmd_lock)


def cmd_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Live grants."""
    import time

    admin = ctx.admin()
    grants = admin.grants(args.agent)
    keys = {r.secret_id: r for r in admin.secrets()}
    if args.json:
        out = []
        for g in grants:
            d = g.to_json()
            rec = keys.get(g.secret_id)
            d["key"] = rec.key if rec else None
            d["owner"] = rec.owner if rec else None
            out.append(d)
        print_json(out)
        return 0
    if not grants:
        info("no live grants")
        return 0
    now = time.time()
    rows = []
    for g in grants:
        rec = keys.get(g.secret_id)
        lasts = {
            "minutes": f"{left(g.expires - now)} left" if g.expires else "",
            "task": f"task {g.task_id}",
            "conversation": f"conversation {g.context_id}",
        }.get(g.scope.value, "")
        rows.append(
            [
                g.grant_id,
                g.agent,
                rec.key if rec else g.secret_id,
                (rec.owner or (f"(team {rec.team})" if rec.team else "(shared)")) if rec else "?",
                g.scope.value,
                lasts,
                when(g.created),
            ]
        )
    table(["grant", "agent", "key", "owner", "scope", "lasts", "given"], rows)
    return 0


def cmd_revoke(args: argparse.Namespace, ctx: CommandContext) -> int:
    """End one grant."""
    grant = ctx.admin().revoke_grant(args.grant_id)
    info(f"revoked {grant.grant_id} ({grant.agent}, {grant.scope.value})")
    return 0


def cmd_lock(args: argparse.Namespace, ctx: CommandContext) -> int:
    """End grants short of always (and, in a running instance, drop its cached values)."""
    count = len(ctx.admin().lock())
    ended = f"ended {plural(count, 'grant')}" if count else "no grant to end"
    info(f"locked: {ended}; 'always' grants stay")
    return 0
