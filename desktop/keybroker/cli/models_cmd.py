# SPDX-License-Identifier: Apache-2.0
"""`keybroker models ...` (issue 14): model providers, answers for agents' model demands, usage.

`add NAME --base URL` (the key from stdin, or `--no-key` for a local server; `--preset` fills the
URL), `list [--json]`, `rm NAME`, `refresh NAME`, `test NAME [--model M]` (one tiny call), `allow
SLUG --model PROVIDER/MODEL [--demand NAME] [--handover]` (an *always* answer, through the gateway
unless `--handover`), `grants`, `revoke ID`, `usage [--agent S] [--by-day]`, `budget SLUG N|none`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from keybroker.cli.output import info, print_json, table, when

if TYPE_CHECKING:
    from keybroker.cli.context import CommandContext
    from keybroker.core.llm.admin import ModelAdmin


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {"models": "model providers for agents' LLM and embedding demands (a local gateway)"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `models`."""
    p = sub.add_parser("models", help=COMMANDS["models"])
    ss = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = ss.add_parser("add", help="add or replace a provider (its key from stdin)")
    s.add_argument("name")
    s.add_argument("--base", metavar="URL", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
    s.add_argument("--preset", default="", help="openai, openrouter, ollama, lmstudio, vllm, groq, ...")
    s.add_argument("--no-key", action="store_true", help="a local server that needs no key")
    s.add_argument(
        "--allow-handover", action="store_true", help="agents may be handed the real key if you say so"
    )
    s.set_defaults(func=cmd_add)
    s = ss.add_parser("list", help="providers and their models")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    for name, text, func in (
        ("rm", "remove a provider, its key and its grants", cmd_rm),
        ("refresh", "read a provider's models again (GET /models)", cmd_refresh),
    ):
        s = ss.add_parser(name, help=text)
        s.add_argument("name")
        s.set_defaults(func=func)
    s = ss.add_parser("test", help="one tiny call to a provider")
    s.add_argument("name")
    s.add_argument("--model", help="the model to try (default: the first listed)")
    s.set_defaults(func=cmd_test)
    s = ss.add_parser("allow", help="always answer an agent's model demand with a model")
    s.add_argument("slug")
    s.add_argument("--model", required=True, metavar="PROVIDER/MODEL")
    s.add_argument("--demand", metavar="NAME", help="which demand (default: the card's only one)")
    s.add_argument("--handover", action="store_true", help="hand the real key over instead of the gateway")
    s.set_defaults(func=cmd_allow)
    s = ss.add_parser("grants", help="stored answers to model demands")
    s.add_argument("--agent", metavar="SLUG")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_grants)
    s = ss.add_parser("revoke", help="end a model grant (its gateway tokens end at once)")
    s.add_argument("grant_id")
    s.set_defaults(func=cmd_revoke)
    s = ss.add_parser("usage", help="requests and tokens per agent and model")
    s.add_argument("--agent", metavar="SLUG")
    s.add_argument("--by-day", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_usage)
    s = ss.add_parser("budget", help="cap an agent's model requests per day ('none': no cap)")
    s.add_argument("slug")
    s.add_argument("requests", metavar="N|none")
    s.set_defaults(func=cmd_budget)


def model_admin(ctx: CommandContext, *, need_persistent_vault: bool = False) -> ModelAdmin:
    """The running instance's, else one over the data home here."""
    api = ctx.api()
    if api is not None:
        from keybroker.cli.remote_models import RemoteModelAdmin

        return RemoteModelAdmin(api)
    from keybroker.core.a2a.model_provider import HttpModelProvider
    from keybroker.core.llm.admin import LocalModelAdmin

    svc = ctx.services(need_persistent_vault=need_persistent_vault)
    return LocalModelAdmin(
        catalog=svc.catalog, vault=svc.vault, audit=svc.audit, client=HttpModelProvider(), caller=ctx.caller
    )


def cmd_add(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Add a provider; its models are read at once (a failure is reported, the provider kept)."""
    from keybroker.cli.value_input import read_value
    from keybroker.core.errors import UsageError

    if not args.base and not args.preset:
        raise UsageError("give the base URL with --base URL, or a --preset", hint="e.g. --preset openai")
    key = None if args.no_key else read_value(f"the {args.name} key")
    admin = model_admin(ctx, need_persistent_vault=key is not None)
    added = admin.add_provider(args.name, args.base, key, preset=args.preset, handover=args.allow_handover)
    models = added.provider.models
    info(f"provider {added.provider.name} at {added.provider.base_url}: {len(models)} models")
    if added.problem:
        info(f"its models could not be listed: {added.problem}")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Providers (never a key)."""
    providers = model_admin(ctx).providers()
    if args.json:
        print_json([p.to_json() for p in providers])
        return 0
    if not providers:
        info("no model providers; add one with `keybroker models add NAME --base URL`")
        return 0
    rows = [
        [
            p.name,
            p.base_url,
            "yes" if p.has_key else "no",
            "allowed" if p.handover else "gateway only",
            ", ".join(p.models[:6]) + (f" (+{len(p.models) - 6})" if len(p.models) > 6 else ""),
            p.status or "ok",
        ]
        for p in providers
    ]
    table(["provider", "base URL", "key", "handover", "models", "status"], rows)
    return 0


def cmd_rm(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Remove a provider."""
    removed = model_admin(ctx).remove_provider(args.name)
    info(f"removed provider {removed.name}, its key and its grants")
    return 0


def cmd_refresh(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Read the models again."""
    provider = model_admin(ctx).refresh_provider(args.name)
    info(f"provider {provider.name}: {len(provider.models)} models")
    return 0


def cmd_test(args: argparse.Namespace, ctx: CommandContext) -> int:
    """One tiny call; exit 0 when the provider answered 2xx."""
    result = model_admin(ctx).test_provider(args.name, args.model)
    print(f"{result['provider']}/{result['model']}: HTTP {result['status']} in {result['seconds']:.2f} s")
    if result.get("reply"):
        print(f"reply: {result['reply']}")
    return 0


def cmd_allow(args: argparse.Namespace, ctx: CommandContext) -> int:
    """An *always* answer for the agent's demand."""
    from keybroker.core.llm.admin import split_model

    provider, model = split_model(args.model)
    grant = model_admin(ctx).allow(args.slug, provider, model, demand=args.demand, handover=args.handover)
    how = "the provider's key handed over" if grant.handover else "through the gateway"
    info(
        f"{grant.agent}'s {grant.demand} -> {grant.provider}/{grant.model}, always, {how} ({grant.grant_id})"
    )
    return 0


def cmd_grants(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Stored model grants."""
    grants = model_admin(ctx).model_grants(args.agent)
    if args.json:
        print_json([g.to_json() for g in grants])
        return 0
    if not grants:
        info("no model grants")
        return 0
    rows = [
        [
            g.grant_id,
            g.agent,
            g.demand,
            f"{g.provider}/{g.model}",
            g.scope.value,
            "handover" if g.handover else "gateway",
            when(g.created),
        ]
        for g in grants
    ]
    table(["grant", "agent", "demand", "model", "scope", "how", "given"], rows)
    return 0


def cmd_revoke(args: argparse.Namespace, ctx: CommandContext) -> int:
    """End a model grant."""
    grant = model_admin(ctx).revoke_model_grant(args.grant_id)
    info(f"revoked {grant.grant_id} ({grant.agent}'s {grant.demand})")
    return 0


def cmd_usage(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Requests and tokens per agent and model."""
    rows = model_admin(ctx).usage(args.agent, by_day=args.by_day)
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        info("no model use yet")
        return 0
    headers = ["agent", "model", "requests", "errors", "prompt", "completion", "total"]
    cells = [
        [
            r.agent,
            f"{r.provider}/{r.model}",
            str(r.requests),
            str(r.errors),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            str(r.total_tokens),
        ]
        + ([r.day] if args.by_day else [])
        for r in rows
    ]
    table(headers + (["day"] if args.by_day else []), cells)
    return 0


def cmd_budget(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Cap an agent's model requests per day."""
    from keybroker.core.errors import InvalidInputError

    text = str(args.requests).strip().lower()
    if text == "none":
        per_day = None
    elif text.isdigit():
        per_day = int(text)
    else:
        raise InvalidInputError(f"{args.requests!r} is not a number of requests", hint="e.g. 500, or none")
    cap = model_admin(ctx).set_budget(args.slug, per_day)
    info(f"{args.slug}: " + (f"at most {cap} model requests a day" if cap is not None else "no cap"))
    return 0
