"""`keybroker audit [--json] [--agent S] [--since T]` and `keybroker audit verify`."""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import TYPE_CHECKING

from keybroker.cli.output import info, print_json, table, when

if TYPE_CHECKING:
    from keybroker.cli.context import CommandContext

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: float | None = None) -> float:
    """`30m`, `2h`, `7d`, an ISO date or date-time (local time), or epoch seconds."""
    now = time.time() if now is None else now
    text = text.strip()
    m = _RELATIVE.match(text)
    if m:
        return now - int(m.group(1)) * _UNIT[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        from keybroker.core.errors import InvalidInputError

        raise InvalidInputError(
            f"cannot read --since {text!r}", hint="use e.g. 30m, 2h, 7d, 2026-11-01 or 2026-11-01T09:00"
        ) from None


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "audit": "the audit log of every release and change",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `audit` (list) and `audit verify`."""
    p = sub.add_parser("audit", help=COMMANDS["audit"])
    p.add_argument("what", nargs="?", choices=["verify"], help="`verify` checks the hash chain")
    p.add_argument("--verify", action="store_true", help="same as `audit verify`")
    p.add_argument("--agent", metavar="SLUG")
    p.add_argument("--since", metavar="WHEN", help="30m, 2h, 7d, or an ISO date")
    p.add_argument("--search", metavar="TEXT", help="only events mentioning TEXT")
    p.add_argument("--limit", type=int, metavar="N", help="only the newest N events")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace, ctx: CommandContext) -> int:
    """List events, or verify the chain."""
    admin = ctx.admin()
    if args.what == "verify" or args.verify:
        report = admin.verify_audit()
        if args.json:
            print_json(report.to_json())
        for w in report.warnings:
            info(f"warning: {w}")
        if not report.ok:
            from keybroker.core.errors import AuditChainBroken

            for p in report.problems:
                info(f"broken: {p}")
            raise AuditChainBroken(f"the audit chain does not verify ({len(report.problems)} problem(s))")
        if not args.json:
            sys.stdout.write(f"ok: {report.count} events, head {report.head[:16]}\n")
        return 0
    since = parse_since(args.since) if args.since else None
    events = admin.audit_events(agent=args.agent, since=since, search=args.search, limit=args.limit)
    if args.json:
        print_json([e.to_json() for e in events])
        return 0
    if not events:
        info("no audit events match")
        return 0
    table(
        ["#", "when", "decision", "agent", "key", "scope", "caller", "detail"],
        [
            [
                str(e.seq),
                when(e.ts),
                e.decision.value,
                e.agent or "",
                e.key or "",
                e.scope or "",
                e.caller or "",
                e.detail or "",
            ]
            for e in events
        ],
    )
    return 0
