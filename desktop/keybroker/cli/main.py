"""The `keybroker` command line: parse, dispatch, map errors to the exit codes of INTERFACES.md.

Start-up time is a target (DESIGN §7: `secrets show --reveal` in 150 ms for the whole process), so
nothing heavy is imported before the arguments are parsed: `--version` and `--help` never load the core,
only the chosen command's subtree of the parser is built in full, and each command imports what it
needs inside its function (tests/cli/test_cli_imports.py checks what a command loads).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keybroker import __version__

if TYPE_CHECKING:
    import logging

    from keybroker.core.errors import KeybrokerError
    from keybroker.system.paths import Paths

EXIT_INTERNAL = 1

#: The modules that register the commands, in `--help` order. Each has `COMMANDS` (name -> help) and
#: `add_parser(sub)`; importing one is cheap (argparse and the CLI's output helpers only).
COMMAND_MODULES = (
    "keybroker.cli.secrets_cmd",
    "keybroker.cli.agents_cmd",
    "keybroker.cli.auth_cmd",
    "keybroker.cli.grants_cmd",
    "keybroker.cli.models_cmd",  # issue 14
    "keybroker.cli.audit_cmd",
    "keybroker.cli.system_cmd",
    "keybroker.cli.vault_cmd",
    "keybroker.cli.serve_cmd",
    "keybroker.cli.send_cmd",
)


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command word in `argv` (the first argument not starting with `-`: no global option takes a
    value), or None."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def build_parser(command: str | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The command tree: every command in full, or (`full=False`) only `command`'s subtree in full and
    the others as one-line entries, which is all `--help` and the choice check need (~5 ms less)."""
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
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        commands: dict[str, str] = module.COMMANDS
        if full or command in commands:
            module.add_parser(sub)
        else:
            for word, text in commands.items():
                sub.add_parser(word, help=text, add_help=False)
    return parser


class _RepeatFilter:
    """Lets each distinct warning through once: a2a-sdk warns on every request for some cards.

    A plain object with `filter` (what `logging.Filterer` accepts), so this module does not import
    logging before the arguments are parsed."""

    def __init__(self, limit: int = 256) -> None:
        self._seen: set[tuple[str, str]] = set()
        self._limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        """True to let `record` through."""
        if record.name.startswith("keybroker"):
            return True
        key = (record.name, str(record.msg))
        if key in self._seen:
            return False
        if len(self._seen) < self._limit:
            self._seen.add(key)
        return True


def setup_logging(paths: Paths, *, verbose: bool) -> None:
    """A rotated log file for everything (libraries at WARNING); stderr only with --verbose. A line
    repeated in a flood is logged a few times a minute, then counted (log_rate.py).

    Never a value is logged: our code logs names and ids; libraries' records lose their arguments and
    tracebacks (log_privacy.py); a2a-sdk's debug logging (which shows raw request bodies) and qasync's
    (which logs the whole environment) stay off even if the root logger is turned up."""
    import logging

    from keybroker.cli.log_file import RotatingLogFile
    from keybroker.cli.log_privacy import LibraryRecordFilter
    from keybroker.cli.log_rate import RepeatLimit, report_at_close

    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    logging.getLogger("keybroker").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("a2a", "qasync"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    private = LibraryRecordFilter()  # first: what the other filters and the handlers see is already cut
    repeat = _RepeatFilter()
    limit = RepeatLimit()  # a flood of one line: a few, then a count (log_rate.py)
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler: logging.Handler = RotatingLogFile(
            paths.log_dir / "keybroker.log", max_bytes=1_000_000, backups=3
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
        handler.addFilter(private)
        handler.addFilter(repeat)
        handler.addFilter(limit)
        root.addHandler(handler)
        root.addHandler(report_at_close(limit, handler))
    except OSError:
        # A read-only or full disk must not stop a command; stderr still tells the user.
        root.addHandler(logging.NullHandler())
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        stream.addFilter(private)
        stream.addFilter(repeat)
        stream.addFilter(limit)
        root.addHandler(stream)


def report(exc: KeybrokerError) -> None:
    """`keybroker: message` and the fix, on stderr."""
    sys.stderr.write(f"keybroker: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"  hint: {exc.hint}\n")


def parse(args_list: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed arguments (`--version`, `--help` and usage errors exit here)."""
    command = chosen_command(args_list)
    parser = build_parser(command, full=False)
    args = parser.parse_args(args_list)
    if args.command is not None and args.command != command:  # pragma: no cover - a safety net only
        parser = build_parser()
        args = parser.parse_args(args_list)
    return parser, args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, args = parse(args_list)
    import logging

    from keybroker.cli.context import CommandContext
    from keybroker.core.errors import KeybrokerError
    from keybroker.system.paths import Paths

    log = logging.getLogger("keybroker")
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
