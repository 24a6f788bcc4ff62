"""The `keybroker` command line: parse, dispatch, map errors to the exit codes of INTERFACES.md."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence

from keybroker import __version__
from keybroker.cli import agents_cmd, audit_cmd, grants_cmd, secrets_cmd, send_cmd, serve_cmd, system_cmd
from keybroker.cli.context import CommandContext
from keybroker.core.errors import KeybrokerError
from keybroker.core.paths import Paths

log = logging.getLogger("keybroker")

EXIT_INTERNAL = 1


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="keybroker",
        description="A local secrets broker for AI agents. Without a command, starts the tray app.",
    )
    parser.add_argument("--version", action="version", version=f"keybroker {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="print the version, the vault backend and the Qt platform found, then exit (0 when all work)",
    )
    parser.add_argument(
        "--autostart",
        action="store_true",
        help="start quietly, as at login (no window on a desktop without a tray); autostart entries use it",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    secrets_cmd.add_parser(sub)
    agents_cmd.add_parser(sub)
    grants_cmd.add_parser(sub)
    audit_cmd.add_parser(sub)
    system_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)
    send_cmd.add_parser(sub)
    return parser


class _RepeatFilter(logging.Filter):
    """Lets each distinct warning through once: a2a-sdk warns on every request for some cards."""

    def __init__(self, limit: int = 256) -> None:
        super().__init__()
        self._seen: set[tuple[str, str]] = set()
        self._limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("keybroker"):
            return True
        key = (record.name, str(record.msg))
        if key in self._seen:
            return False
        if len(self._seen) < self._limit:
            self._seen.add(key)
        return True


def setup_logging(paths: Paths, *, verbose: bool) -> None:
    """A rotated log file for everything (libraries at WARNING); stderr only with --verbose.

    Never a value is logged: our code logs names and ids; a2a-sdk's debug logging (which shows raw
    request bodies) and qasync's (which logs the whole environment) stay off even if the root logger
    is turned up."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    logging.getLogger("keybroker").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("a2a", "qasync"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    repeat = _RepeatFilter()
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            paths.log_dir / "keybroker.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
        handler.addFilter(repeat)
        root.addHandler(handler)
    except OSError:
        # A read-only or full disk must not stop a command; stderr still tells the user.
        root.addHandler(logging.NullHandler())
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        stream.addFilter(repeat)
        root.addHandler(stream)


def report(exc: KeybrokerError) -> None:
    """`keybroker: message` and the fix, on stderr."""
    sys.stderr.write(f"keybroker: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    ctx = CommandContext(environ=dict(os.environ))
    setup_logging(Paths.from_env(ctx.environ), verbose=args.verbose)
    if args.command is not None and (args.self_test or args.autostart):
        parser.error(f"{'--self-test' if args.self_test else '--autostart'} takes no command")
    if args.self_test:
        from keybroker.cli.self_test import run_self_test

        return run_self_test(ctx.environ, sys.stdout)
    if args.command is None:
        from keybroker.app import AUTOSTART_ENV
        from keybroker.app_launcher import launch_app

        environ = dict(ctx.environ)
        if args.autostart:
            environ[AUTOSTART_ENV] = "1"  # what the app reads for a quiet start
        return launch_app(environ)
    try:
        return int(args.func(args, ctx))
    except KeybrokerError as exc:
        log.info("command %s failed: %s (exit %d)", args.command, type(exc).__name__, exc.exit_code)
        report(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("keybroker: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        log.exception("internal error in %s", args.command)
        sys.stderr.write(
            "keybroker: internal error; details are in the log "
            f"({Paths.from_env(ctx.environ).log_dir / 'keybroker.log'})\n"
        )
        return EXIT_INTERNAL
    finally:
        ctx.close()
