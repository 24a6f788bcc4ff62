"""`keybroker auth ...`: sign-ins for agents' OAuth 2 / OpenID Connect schemes and client certificates.

client, login, list, logout, cert (INTERFACES.md, issue 13). While an instance runs, client, login,
logout and cert go through its management API (`/api/v1/auth/...`), as every change does, and this
process never opens the vault: a `login` is then run by the instance, which opens the browser or shows
the device code itself (its tray dialog, or `serve`'s stderr), and the command waits for its end.
With no instance, each runs here over the data home's catalog and the OS vault: `login` opens the
system browser with Python's `webbrowser` (`$BROWSER` is honoured) and catches the redirect on a
loopback port here; the URL and a device code also go to stderr. Never a token is printed: `list`
shows the flow, issuer, scopes, expiry and whether a refresh token is held.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keybroker.cli.output import cell, info, print_json, table, when

TOKEN_KINDS = ("oauth2", "openIdConnect")

if TYPE_CHECKING:
    from keybroker.cli.api_client import ApiClient
    from keybroker.cli.context import CommandContext
    from keybroker.core.auth.signins import SignIns
    from keybroker.core.models import AgentRecord

COMMANDS = {
    "auth": "sign in to agents' OAuth 2 / OpenID Connect schemes, set clients and client certificates",
}
FLOW_CHOICES = ("code", "device", "client")
#: How long a forwarded `login` waits: the instance's sign-in timeout (300 s) and some network.
LOGIN_WAIT_SECONDS = 360.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `auth` and its subcommands."""
    p = sub.add_parser("auth", help=COMMANDS["auth"])
    sa = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    s = sa.add_parser("client", help="set the OAuth client a scheme uses (its secret from stdin)")
    _agent_scheme(s)
    s.add_argument("--client-id", required=True, metavar="ID")
    s.add_argument("--public", action="store_true", help="a public client: no secret is read")
    s.add_argument(
        "--redirect-uri", metavar="URI", help="the loopback redirect the client is registered with"
    )
    s.set_defaults(func=cmd_client)

    s = sa.add_parser("login", help="sign in now and keep the tokens in the vault")
    _agent_scheme(s)
    s.add_argument("--flow", choices=FLOW_CHOICES, help="default: the best the card and server offer")
    s.set_defaults(func=cmd_login)

    s = sa.add_parser("list", help="every sign-in and certificate (never a token)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = sa.add_parser("logout", help="revoke the tokens where the server offers it, then forget them")
    _agent_scheme(s)
    s.set_defaults(func=cmd_logout)

    s = sa.add_parser("cert", help="import a client certificate for a mutual TLS scheme")
    _agent_scheme(s)
    s.add_argument("--cert", type=Path, metavar="FILE", help="the certificate (PEM, the chain may follow)")
    keys = s.add_mutually_exclusive_group()
    keys.add_argument("--key", type=Path, metavar="FILE", help="its private key (PEM)")
    keys.add_argument("--p12", type=Path, metavar="FILE", help="a PKCS#12 file with key and certificate")
    s.add_argument("--ca", type=Path, metavar="FILE", help="pin the agent's CA (PEM) for this agent")
    s.add_argument("--password-stdin", action="store_true", help="the key's or PKCS#12 password, on stdin")
    s.set_defaults(func=cmd_cert)


def _agent_scheme(p: argparse.ArgumentParser) -> None:
    p.add_argument("agent", metavar="S", help="the agent's slug")
    p.add_argument("--scheme", metavar="NAME", help="the card's scheme (default: the agent's only one)")


def _sign_ins(ctx: CommandContext) -> SignIns:
    from keybroker.cli.sign_in_terminal import StderrSignIn, open_browser
    from keybroker.core.auth.signins import SignIns

    services = ctx.services(need_persistent_vault=True)
    return SignIns(
        services.catalog, services.vault, services.audit, prompter=StderrSignIn(), open_browser=open_browser
    )


def _scheme(slug: str, schemes: Sequence[tuple[str, str]], given: str | None, kinds: tuple[str, ...]) -> str:
    from keybroker.core.errors import UsageError

    names = [name for name, kind in schemes if kind in kinds]
    if given is not None:
        return given  # SignIns says what is wrong with it
    if len(names) == 1:
        return names[0]
    what = "no" if not names else f"{len(names)} ({', '.join(names)})"
    raise UsageError(
        f"agent {slug!r} has {what} {' or '.join(kinds)} scheme(s)",
        hint="name one with --scheme" if names else "its card declares none",
    )


def _target(ctx: CommandContext, args: argparse.Namespace, *kinds: str) -> tuple[AgentRecord, str]:
    agent = ctx.services(need_persistent_vault=True).catalog.get_agent(args.agent)
    schemes = [(s.name, s.kind) for s in agent.schemes]
    return agent, _scheme(agent.slug, schemes, args.scheme, kinds or TOKEN_KINDS)


def _remote_target(api: ApiClient, args: argparse.Namespace, *kinds: str) -> str:
    """The scheme, from the running instance's view of the agent (an unknown slug: exit 3)."""
    shown = api.agent_show(args.agent)
    schemes = [(str(s["name"]), str(s["kind"])) for s in shown.get("schemes", [])]
    return _scheme(args.agent, schemes, args.scheme, kinds or TOKEN_KINDS)


def cmd_client(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Set the client (a confidential one's secret is read like `secrets set` reads a value)."""
    import asyncio

    from keybroker.cli.value_input import read_value

    api = ctx.api()
    if api is not None:
        scheme = _remote_target(api, args)
        secret = None if args.public else read_value(f"the client secret of {args.client_id}")
        api.auth_client(args.agent, scheme, args.client_id, secret, redirect_uri=args.redirect_uri)
        slug, where = args.agent, " in the running instance"
    else:
        agent, scheme = _target(ctx, args)
        secret = None if args.public else read_value(f"the client secret of {args.client_id}")
        signins = _sign_ins(ctx)
        asyncio.run(
            signins.set_client(
                agent, scheme, args.client_id, secret, redirect_uri=args.redirect_uri, caller=ctx.caller
            )
        )
        slug, where = agent.slug, ""
    kind = "public" if secret is None else "confidential"
    info(f"{kind} client {args.client_id} set for {slug} scheme {scheme}{where}")
    return 0


def cmd_login(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Run a flow now (by the running instance when one runs: it shows the browser or the code)."""
    import asyncio

    api = ctx.api()
    if api is not None:
        scheme = _remote_target(api, args)
        info(
            "the running instance signs in: finish the sign-in in the browser it opens, or type the "
            "code it shows (an instance with no browser prints the address on its own terminal)"
        )
        row = api.auth_login(args.agent, scheme, args.flow, timeout=LOGIN_WAIT_SECONDS)
        slug, subject, flow = args.agent, row.get("subject"), row.get("flow")
    else:
        agent, scheme = _target(ctx, args)
        record = asyncio.run(_sign_ins(ctx).login(agent, scheme, args.flow, caller=ctx.caller))
        slug, subject, flow = agent.slug, record.subject, record.flow
    who = f" as {subject}" if subject else ""
    info(f"signed in{who} to {slug} scheme {scheme} ({flow} flow)")
    return 0


def cmd_logout(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Revoke and forget."""
    import asyncio

    api = ctx.api()
    if api is not None:
        scheme = _remote_target(api, args)
        problem = api.auth_logout(args.agent, scheme).get("not_revoked")
    else:
        agent, scheme = _target(ctx, args)
        problem = asyncio.run(_sign_ins(ctx).logout(agent, scheme, caller=ctx.caller))
    if problem is None:
        info(f"signed out of {args.agent} scheme {scheme}: the tokens were revoked and forgotten")
    else:
        info(f"signed out of {args.agent} scheme {scheme}: the tokens were forgotten ({problem})")
    return 0


def _certificate_body(
    cert: bytes | None, key: bytes | None, p12: bytes | None, password: bytes | None, ca: bytes | None
) -> dict[str, Any]:
    """`PUT .../certificate`'s body: PEM as text, PKCS#12 as base64 (the instance reads and checks it)."""
    import base64

    from keybroker.core.errors import InvalidInputError

    def text(data: bytes | None, what: str) -> str | None:
        if data is None:
            return None
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidInputError(f"the {what} is not PEM text") from None

    body = {
        "cert_pem": text(cert, "certificate file"),
        "key_pem": text(key, "key file"),
        "p12_base64": base64.b64encode(p12).decode() if p12 is not None else None,
        "password": _utf8_password(password),
        "ca_pem": text(ca, "CA file"),
    }
    return {name: value for name, value in body.items() if value is not None}


def _utf8_password(password: bytes | None) -> str | None:
    """The PKCS#12 password as the API carries it (JSON text): refused, never altered, when not UTF-8."""
    from keybroker.core.errors import InvalidInputError

    if password is None:
        return None
    try:
        return password.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            "the PKCS#12 password is not UTF-8 text, which a running instance cannot be given",
            hint="stop the instance and run `keybroker auth cert` again, or change the file's password",
        ) from None


def cmd_cert(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Import a client certificate; the private key goes to the vault only."""
    import asyncio
    import sys

    from keybroker.core.admin.sign_ins import read_optional_file
    from keybroker.core.auth.client_cert import read_certificate
    from keybroker.core.errors import UsageError

    if args.cert is None and args.p12 is None:
        raise UsageError("give --cert FILE (with --key FILE, or the key in the same file) or --p12 FILE")
    password = sys.stdin.buffer.read().rstrip(b"\r\n") if args.password_stdin else None
    read = read_optional_file
    files = read(args.cert), read(args.key), read(args.p12), read(args.ca)
    api = ctx.api()
    if api is not None:
        scheme = _remote_target(api, args, "mutualTLS")
        body = _certificate_body(files[0], files[1], files[2], password, files[3])
        subject = api.auth_certificate(args.agent, scheme, body).get("certificate")
        pinned = "; CA pinned" if args.ca is not None else ""
        info(f"certificate {subject} set for {args.agent} scheme {scheme}{pinned} in the running instance")
        return 0
    material = read_certificate(files[0], key=files[1], p12=files[2], password=password, ca=files[3])
    agent, scheme = _target(ctx, args, "mutualTLS")
    record = asyncio.run(_sign_ins(ctx).import_certificate(agent, scheme, material, caller=ctx.caller))
    pinned = "; CA pinned" if material.ca_pem else ""
    info(f"certificate {record.cert_subject} set for {agent.slug} scheme {scheme}{pinned}")
    return 0


def cmd_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Every sign-in row."""
    from keybroker.core.catalog.signins import SignInBook

    rows = SignInBook(ctx.services().catalog).list()
    if args.json:
        print_json([r.to_json() for r in rows])
        return 0
    if not rows:
        info("no sign-ins yet; `keybroker auth login S` signs in to an agent's OAuth 2 scheme")
        return 0
    table(
        ["agent", "scheme", "flow", "issuer", "scopes", "expires", "refresh", "signed in as"],
        [
            [
                r.agent,
                r.scheme,
                r.flow or ("certificate" if r.cert_subject else ""),
                cell(r.issuer or ""),
                cell(r.scopes),
                when(r.expires if r.signed_in_now else r.cert_not_after),
                "yes" if r.refresh_held else "no",
                cell(r.subject or r.cert_subject or ("(not signed in)" if not r.signed_in_now else "")),
            ]
            for r in rows
        ],
    )
    return 0
