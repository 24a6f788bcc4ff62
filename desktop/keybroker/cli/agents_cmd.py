"""`keybroker agents ...`: add, list, show, port, refresh, push-secrets, rm."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from keybroker.cli.output import cell, info, plural, print_json, table, when

if TYPE_CHECKING:  # the core loads in the command that runs, not while the parser is built
    from keybroker.cli.context import CommandContext
    from keybroker.core.agents.status import AgentStatus


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "agents": "agents behind the bridge",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `agents` and its subcommands."""
    p = sub.add_parser("agents", help=COMMANDS["agents"])
    ss = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = ss.add_parser("add", help="fetch an agent's card and add it")
    s.add_argument("url", help="the agent's base URL or its agent-card.json URL")
    s.add_argument("--slug", help="the name in bridged URLs (default: from the card's name)")
    s.add_argument("--require-token", action="store_true", help="callers must present the API token")
    s.add_argument(
        "--port",
        type=int,
        metavar="N",
        help="also serve the agent at the root of its own loopback port N (for clients that only look "
        "for /.well-known/agent-card.json at a host's root); the bridged URL is then http://127.0.0.1:N/",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_add)

    s = ss.add_parser("list", help="list agents")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = ss.add_parser("show", help="an agent's card details, demands and whether they are satisfied")
    s.add_argument("slug")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = ss.add_parser(
        "port",
        help="serve an agent at the root of a loopback port of its own, or stop (--off)",
        description=(
            "With N: the bridge also serves the agent at http://127.0.0.1:N/ (the agent is the root; "
            "Host, Origin, token and masking rules apply as on the bridge's port), and shows that as "
            "its bridged URL. With --off: only under /agents/<slug>/ again. Without either: prints "
            "the agent's own port, or nothing."
        ),
    )
    s.add_argument("slug")
    s.add_argument("port", nargs="?", type=int, metavar="N")
    s.add_argument("--off", action="store_true", help="remove the agent's own port")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_port)

    s = ss.add_parser("refresh", help="re-read an agent's card and notice changes")
    s.add_argument("slug")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_refresh)

    s = ss.add_parser(
        "push-secrets",
        help="send an agent the secrets it may have, through its own Agent Protocol secrets API",
        description=(
            "Sends (POST <agent URL>/ap/v1/agent/secrets) every secret the agent owns or holds an "
            "'always' grant for, lists what the agent then reports, and deletes there the keys an "
            "earlier push sent that were revoked here since. Each push is audited."
        ),
    )
    s.add_argument("slug")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_push_secrets)

    s = ss.add_parser("rm", help="remove an agent and its grants (asks first on a terminal)")
    s.add_argument("slug")
    s.add_argument("--purge", action="store_true", help="also delete the secrets it owns")
    s.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    s.set_defaults(func=cmd_rm)


def cmd_add(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Fetch and record."""
    admin = ctx.admin()
    agent = admin.add_agent(args.url, slug=args.slug, require_token=args.require_token, bridge_port=args.port)
    if args.json:
        print_json(agent.to_json())
        return 0
    sys.stdout.write(f"{agent.slug}\t{agent.bridged_url}\n")
    versions = ", ".join(agent.protocol_versions) or "unknown"
    info(f"added {agent.name!r} (A2A {versions} at {agent.url})")
    if agent.demands:
        info("it demands: " + ", ".join(f"{x.key} ({x.name})" for x in agent.demands))
    return 0


def cmd_port(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Set, remove or print an agent's own port."""
    from keybroker.core.errors import UsageError

    if args.off and args.port is not None:
        raise UsageError("give a port or --off, not both")
    admin = ctx.admin()
    if args.off or args.port is not None:
        agent = admin.set_agent_port(args.slug, None if args.off else args.port)
    else:
        agent = admin.agent(args.slug)
    if args.json:
        print_json({"slug": agent.slug, "bridge_port": agent.bridge_port, "bridged_url": agent.bridged_url})
        return 0
    if agent.bridge_port is not None:
        sys.stdout.write(f"{agent.bridge_port}\t{agent.bridged_url}\n")
    elif args.off:
        info(f"{agent.slug} has no port of its own; its bridged URL is {agent.bridged_url}")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    """All agents."""
    agents = ctx.admin().agents()
    if args.json:
        print_json([a.to_json() for a in agents])
        return 0
    if not agents:
        info("no agents yet; add one with `keybroker agents add URL`")
        return 0
    table(
        ["slug", "name", "versions", "demands", "url", "bridged url"],
        [
            [a.slug, a.name, ",".join(a.protocol_versions), str(len(a.demands)), a.url, a.bridged_url]
            for a in agents
        ],
    )
    return 0


def _print_details(agent: AgentStatus) -> None:
    w = sys.stdout.write
    d = agent.to_json()
    for k in (
        "slug",
        "name",
        "description",
        "url",
        "card_url",
        "bridged_url",
        "protocol_versions",
        "streaming",
        "require_token",
        "bridge_port",
        "fingerprint",
        "added",
        "last_seen",
    ):
        v = d[k]
        if isinstance(v, list):
            v = ", ".join(map(str, v)) or "-"
        if k in ("added", "last_seen"):
            v = when(v if isinstance(v, float) else None)
        w(f"{k.replace('_', ' ') + ':':19} {cell(v, 1000) if v not in ('', None) else '-'}\n")
    w("secret demands:" + (" none\n" if not agent.demands else "\n"))
    for dem in agent.demands:
        w(f"  {cell(dem.key)}: {cell(dem.name)}  [{dem.status}]\n")
        if dem.description:
            w(f"      {cell(dem.description, 1000)}\n")
    w("security schemes:" + (" none\n" if not agent.schemes else "\n"))
    for s in agent.schemes:
        w(f"  {cell(s.name)}: {cell(s.summary)}  [{s.status}]\n")
    if agent.security:
        needs = " OR ".join(" AND ".join(cell(name) for name in req) or "(none)" for req in agent.security)
        w(f"security needs:     {needs}\n")


def cmd_show(args: argparse.Namespace, ctx: CommandContext) -> int:
    """One agent in detail."""
    agent = ctx.admin().agent(args.slug)
    if args.json:
        print_json(agent.to_json())
    else:
        _print_details(agent)
    return 0


def cmd_refresh(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Re-read the card."""
    result = ctx.admin().refresh_agent(args.slug)
    if args.json:
        data = result.agent.to_json()
        data["changed"] = result.changed
        data["previous_fingerprint"] = result.previous_fingerprint
        print_json(data)
        return 0
    if result.changed:
        info(
            f"the card of {args.slug} changed ({result.previous_fingerprint[:12]} -> "
            f"{result.agent.fingerprint[:12]}): its grants will ask again before the next release"
        )
    else:
        info(f"the card of {args.slug} is unchanged")
    return 0


def cmd_push_secrets(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Push the agent's secrets to its own AP secrets API (core/a2a/ap_push.py)."""
    from keybroker.core.a2a.ap_push import push_secrets

    svc = ctx.services(need_persistent_vault=True)
    report = push_secrets(svc, args.slug, caller=ctx.caller)
    if args.json:
        print_json(report.to_json())
        return 0
    info(f"pushed {plural(len(report.pushed), 'secret')} to {report.url}: {', '.join(report.pushed) or '-'}")
    if report.deleted:
        info(f"deleted there (revoked here): {', '.join(report.deleted)}")
    for key, why in report.skipped:
        info(f"not pushed: {key}: {why}")
    for key in report.remote:  # keys the agent listed: its own text
        sys.stdout.write(cell(key) + "\n")
    return 0


def cmd_rm(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Forget an agent (and with --purge its own secrets); a person at a terminal is asked first."""
    from keybroker.cli.confirm import at_terminal, confirm

    admin = ctx.admin()
    if not args.yes and at_terminal():
        agent = admin.agent(args.slug)  # an unknown slug exits 3 before asking
        owned = len(admin.secrets(agent.slug))
        if not owned:
            what = " and its grants"
        elif args.purge:
            what = f", its grants and the {plural(owned, 'secret')} it owns"
        else:
            what = (
                f" and its grants (the {plural(owned, 'secret')} it owns {'stays' if owned == 1 else 'stay'})"
            )
        confirm(f"Remove the agent {agent.slug}{what}? [y/N] ")
    removal = admin.remove_agent(args.slug, purge=args.purge)
    info(f"removed agent {removal.slug}")
    if removal.kept:
        info(
            f"kept {plural(len(removal.kept), 'secret')} it owns; "
            f"`keybroker agents rm {removal.slug} --purge` deletes them"
        )
    elif removal.deleted:
        info(f"deleted {plural(len(removal.deleted), 'secret')} it owned")
    return 0
