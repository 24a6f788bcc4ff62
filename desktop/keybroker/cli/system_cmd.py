"""`keybroker status | doctor | token | purge`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from keybroker import __version__
from keybroker.cli.output import info, print_json, when

if TYPE_CHECKING:  # the core loads in the command that runs (`status` reads one file: no vault, no catalog)
    from keybroker.cli.context import CommandContext
    from keybroker.wiring.services import Services


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "status": "whether an instance runs, its pid, port and URL, and whether its bridge is paused",
    "doctor": "vault backend and state, dirs, port, instance, leftovers, audit, versions",
    "token": "print the per-install API token",
    "purge": "remove every Keybroker entry from the vault and the catalog",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the housekeeping commands."""
    p = sub.add_parser("status", help=COMMANDS["status"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("doctor", help=COMMANDS["doctor"])
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--fix", action="store_true", help="remove values left in the vault without a catalog record"
    )
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("token", help=COMMANDS["token"])
    p.add_argument("--rotate", action="store_true", help="replace it; the old one stops working")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("purge", help=COMMANDS["purge"])
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_purge)


def cmd_status(args: argparse.Namespace, ctx: CommandContext) -> int:
    """From instance.json."""
    from keybroker.system.instance import read_instance

    inst = read_instance(ctx.paths)
    if args.json:
        print_json({"running": inst is not None, **(inst.to_json() if inst else {})})
        return 0
    if inst is None:
        sys.stdout.write("not running\n")
        return 0
    sys.stdout.write(f"{inst.describe()}; since {when(inst.started)}\n")
    return 0


def _versions() -> dict[str, str]:
    import importlib.metadata
    import platform

    out = {"keybroker": __version__, "python": platform.python_version()}
    for dist in ("a2a-sdk", "keyring", "httpx", "PySide6-Essentials", "qasync", "uvicorn", "SecretStorage"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def cmd_doctor(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Everything a bug report needs, no values; exit 4 (vault), 7 (audit chain) or 1 (leftovers)."""
    from keybroker.core.errors import KeybrokerError
    from keybroker.system.instance import configured_port, read_instance
    from keybroker.system.vault_choice import open_chosen_vault

    paths = ctx.paths
    report: dict[str, Any] = {
        "paths": {
            "data": str(paths.data_dir),
            "config": str(paths.config_dir),
            "logs": str(paths.log_dir),
            "runtime": str(paths.runtime_dir),
            "catalog": str(paths.catalog_db),
        },
        "port": configured_port(ctx.environ, paths),
        "versions": _versions(),
    }
    inst = read_instance(paths)
    report["instance"] = inst.to_json() if inst else None
    healthy = True
    problem = 0
    try:
        vault = open_chosen_vault(ctx.environ, paths)
    except KeybrokerError as exc:
        healthy = False
        report["vault"] = {"backend": None, "state": "unavailable", "message": str(exc), "hint": exc.hint}
    else:
        try:
            st = vault.probe()
            report["vault"] = {
                "backend": st.backend,
                "state": st.state,
                "message": st.message,
                "session_only": vault.is_memory,
            }
            healthy = st.state == "ok"
        finally:
            vault.close()
    if healthy:
        svc = ctx.services()
        report["agents"] = [
            {"slug": a.slug, "url": a.url, "protocol_versions": list(a.protocol_versions)}
            for a in svc.catalog.list_agents()
        ]
        report["secrets"] = len(svc.catalog.list_secrets())
        report["repairs"] = svc.repairs
        problem = _check_leftovers(report, svc, fix=args.fix, caller=ctx.caller)
        verdict = svc.audit.verify()
        report["audit"] = {"ok": verdict.ok, "events": verdict.count, "problems": list(verdict.problems)}
        problem = problem if verdict.ok else 7
    if args.json:
        print_json(report)
    else:
        v = report["vault"]
        w = sys.stdout.write
        w(f"vault:     {v['state']}: {v.get('backend') or '-'}\n")
        if v.get("message") and v["message"] != f"OS vault: {v.get('backend')}":  # not the line above again
            w(f"           {v['message']}\n")
        if v.get("hint"):
            w(f"           fix: {v['hint']}\n")
        for k, p in report["paths"].items():
            w(f"{k + ':':10} {p}\n")
        w(f"port:      {report['port']}\n")
        w(f"instance:  {inst.describe() if inst else 'not running'}\n")
        if healthy:
            w(f"agents:    {len(report['agents'])}\n")
            for a in report["agents"]:
                w(f"           {a['slug']}: {a['url']} (A2A {', '.join(a['protocol_versions'])})\n")
            w(f"secrets:   {report['secrets']}\n")
            _print_leftovers(report["leftovers"])
            audit = report["audit"]
            w(f"audit:     {'ok' if audit['ok'] else 'BROKEN'} ({audit['events']} events)\n")
            for line in audit["problems"]:
                w(f"           {line}\n")
        w("versions:  " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + "\n")
    return problem if healthy else 4


def _check_leftovers(report: dict[str, Any], svc: Services, *, fix: bool, caller: str | None) -> int:
    """Values in the vault no catalog row accounts for (core/secrets/leftovers.py); 1 when some stay."""
    from keybroker.core.secrets.leftovers import find_leftovers, remove_leftovers
    from keybroker.system.api_token import TOKEN_ACCOUNT

    found = find_leftovers(svc.catalog, svc.vault, keep=(TOKEN_ACCOUNT,))
    report["leftovers"] = {**found.to_json(), "removed": 0}
    if fix and found.accounts:
        report["leftovers"]["removed"] = remove_leftovers(
            svc.catalog, svc.vault, svc.audit, found, keep=(TOKEN_ACCOUNT,), caller=caller
        )
        return 0
    return 1 if found.accounts else 0


def _print_leftovers(found: dict[str, Any]) -> None:
    w = sys.stdout.write
    if not found["searched"]:
        w("leftovers: not checked: this vault cannot be searched, only the catalog knows what it holds\n")
    elif found["removed"]:
        w(f"leftovers: removed {found['removed']} value(s) left in the vault without a catalog record\n")
    elif found["values"]:
        w(f"leftovers: {found['values']} value(s) in the vault without a catalog record\n")
        for account in found["accounts"]:
            w(f"           {account}\n")
        w("           fix: `keybroker doctor --fix` removes them\n")
    else:
        w("leftovers: none\n")


def cmd_token(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Print (or rotate) the API token."""
    from keybroker.system import api_token

    if args.rotate:
        ctx.refuse_while_running("cannot rotate the API token")
    svc = ctx.services(need_persistent_vault=True)
    if args.rotate:
        token = api_token.rotate(svc.vault, svc.paths.token_file)
        info("rotated: the previous token no longer works")
    else:
        token = api_token.load_or_create(svc.vault, svc.paths.token_file)
    sys.stdout.write(token.reveal() + "\n")
    return 0


def cmd_purge(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Remove every value and record."""
    from keybroker.core.errors import UsageError

    ctx.refuse_while_running("cannot purge")
    svc = ctx.services()
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("purge deletes every Keybroker secret", hint="confirm with --yes")
        answer = input(
            "Delete every Keybroker secret, grant and agent, and the audit log? Type 'purge' to confirm: "
        )
        if answer.strip() != "purge":
            info("nothing deleted")
            return 5
    from keybroker.core.secrets.purge import purge_everything
    from keybroker.system.api_token import TOKEN_ACCOUNT

    result = purge_everything(svc, also=(TOKEN_ACCOUNT,), caller=ctx.caller)
    svc.paths.token_file.unlink(missing_ok=True)
    found = f" and {result.entries} further vault entries" if result.entries else ""
    info(f"purged {result.secrets} secret(s){found}, every grant and agent, and the audit log")
    if not result.searched:
        info("this vault cannot be searched: entries no catalog record named may remain in it")
    return 0
