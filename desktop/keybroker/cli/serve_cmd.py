"""`keybroker serve`: the bridge without the tray, asking on the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the runtime and the core load when `serve` runs, not while the parser is built
    from keybroker.cli.context import CommandContext


#: The commands this module registers, with their one-line help (cli/main.py lists them).
COMMANDS = {
    "serve": "run the bridge without the tray app",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `serve`."""
    p = sub.add_parser("serve", help=COMMANDS["serve"])
    p.add_argument(
        "--headless", action="store_true", help="ask on the terminal (the only mode without a tray)"
    )
    p.add_argument("--port", help="port to listen on (0 picks a free one); default 7411 or KEYBROKER_PORT")
    p.add_argument(
        "--deny-unknown", action="store_true", help="decline every demand without a grant, unasked"
    )
    p.add_argument(
        "--prompt-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds before a prompt counts as declined",
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, ctx: CommandContext) -> int:
    """Serve until SIGINT/SIGTERM."""
    from keybroker.core.errors import InvalidInputError, UsageError
    from keybroker.system.instance import bridge_port, parse_port, read_instance

    paths = ctx.paths
    running = read_instance(paths)
    if running is not None:
        raise UsageError(
            f"Keybroker is already {running.describe()}",
            hint="stop it first, or use `keybroker status`",
        )
    port = (
        parse_port(args.port, allow_zero=True)
        if args.port is not None
        else bridge_port(ctx.environ, paths, strict=True)
    )
    if not 1 <= args.prompt_timeout <= 3600:
        raise InvalidInputError("--prompt-timeout must be between 1 and 3600 seconds")
    from keybroker.system.event_loop import run

    return run(_serve(ctx, port, args), ctx.environ)  # uvloop where installed (system/event_loop.py)


async def _serve(ctx: CommandContext, port: int, args: argparse.Namespace) -> int:
    import asyncio
    import contextlib
    import signal

    from keybroker.cli.sign_in_terminal import StderrSignIn
    from keybroker.cli.terminal_prompter import TerminalPrompter
    from keybroker.system.heap import settle
    from keybroker.wiring.runtime import Runtime, RuntimeOptions

    runtime = Runtime(
        RuntimeOptions(
            port=port, prompt_timeout=args.prompt_timeout, deny_unknown=args.deny_unknown, environ=ctx.environ
        ),
        TerminalPrompter(deny_unknown=args.deny_unknown),
        sign_in_prompter=StderrSignIn(),  # device codes to stderr; refusals say `auth login` (issue 13)
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        info = await runtime.start()
        assert runtime.services is not None
        vault = runtime.services.vault
        settle()  # start-up's objects out of later collections (system/heap.py)
        sys.stderr.write(f"listening on {info.url}\n")
        if vault.is_memory:
            sys.stderr.write("warning: KEYBROKER_VAULT=memory: values are lost when this process exits\n")
        sys.stderr.flush()
        await stop.wait()
        sys.stderr.write("stopping\n")
        return 0
    finally:
        await runtime.stop()
